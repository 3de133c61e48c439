//! A command never hangs (issue 14): `start`, `stop` and `restart` of the same
//! instance from several clients at once each get a reply — completed, or
//! superseded by a later command — however they interleave.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::support::*;
use crate::common::*;

/// One request on its own connection; the reply, or a panic if none comes
/// within the connection's read timeout.
fn ask(socket: &Path, command: &str, names: &[&str]) -> serde_json::Value {
    let args: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let raw = format!(
        "{{\"command\": \"{command}\", \"args\": [{}]}}\n",
        args.join(", ")
    );
    let (mut stream, mut reader) = connect(socket);
    stream.write_all(raw.as_bytes()).expect("send request");
    read_reply(&mut reader)
}

#[test]
fn racing_start_stop_and_restart_of_one_instance_all_get_replies() {
    let yaml = "programs:
  x:
    cmd: TESTPROG sleep
    starttime: 0
    stoptime: 2
  y:
    cmd: TESTPROG sleep
    starttime: 0.05
    stoptime: 2
";
    let mut d = Daemon::start("never-hangs", yaml);
    d.wait_state("x", "RUNNING", secs(10.0));
    let socket: PathBuf = d.socket();
    let clients: Vec<_> = (0..3)
        .map(|c| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                for round in 0..40 {
                    // One name, or both in one command (stopped in batches).
                    let names: &[&str] = match (round + c) % 3 {
                        0 => &["x"],
                        1 => &["y"],
                        _ => &["x", "y"],
                    };
                    ask(&socket, "start", names);
                    let stopper = {
                        let socket = socket.clone();
                        std::thread::spawn(move || ask(&socket, "stop", names))
                    };
                    let verb = if round % 3 == 0 { "restart" } else { "start" };
                    let reply = ask(&socket, verb, names);
                    let stop = stopper.join().expect("the stop's reply");
                    assert!(reply["output"].is_string(), "{reply}");
                    assert!(stop["output"].is_string(), "{stop}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("every request got a reply");
    }
    // Settled: the daemon answers and shuts down.
    assert_eq!(d.status().len(), 2);
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// A start still waiting for `starttime` when another client stops the instance
/// is answered at once, and says why it did not come up.
#[test]
fn a_start_overtaken_by_another_clients_stop_says_so() {
    let yaml = "programs:
  slow:
    cmd: TESTPROG sleep
    autostart: false
    starttime: 60
";
    let d = Daemon::start("start-cancelled", yaml);
    let socket = d.socket();
    wait_for("the control socket", secs(10.0), || {
        std::os::unix::net::UnixStream::connect(&socket).ok()
    });
    let starter = {
        let socket = socket.clone();
        std::thread::spawn(move || ask(&socket, "start", &["slow"]))
    };
    wait_for("slow STARTING", secs(10.0), || {
        (instance(&socket, "slow")["state"] == "STARTING").then_some(())
    });
    let stop = ask(&socket, "stop", &["slow"]);
    assert_eq!(stop["output"], "slow: stopped", "{stop}");
    let start = starter.join().expect("the start's reply");
    assert_eq!(
        start["output"], "slow: ERROR (start cancelled by a later stop)",
        "{start}"
    );
}
