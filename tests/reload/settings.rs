//! Daemon settings on reload (issue 4): a new `logfile` is reopened and a new
//! `socket` rebound, while the programs keep their processes.

use std::process::{Command, Stdio};

use super::expand;
use crate::common::*;

fn ctl(socket: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_taskmasterctl"))
        .arg("-s")
        .arg(socket)
        .args(args)
        .output()
        .expect("run taskmasterctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

#[test]
fn new_logfile_and_socket_are_taken_without_touching_programs() {
    let dir = TempDir::new("reload-settings");
    let config = dir.path("taskmaster.yaml");
    let yaml = |log: &str, sock: &str| {
        expand(
            &format!("taskmaster:\n  logfile: {log}\n  socket: DIR/{sock}\nprograms:\n  s:\n    cmd: TESTPROG sleep\n    starttime: 0\n"),
            &dir.0,
        )
    };
    std::fs::write(&config, yaml("a.log", "a.sock")).expect("write config");
    // No --socket: the config's socket setting is in force (and may move).
    let mut daemon = Command::new(TASKMASTER)
        .arg("-c")
        .arg(&config)
        .arg("--no-shell")
        .stdin(Stdio::null())
        .spawn()
        .expect("start taskmaster");
    let (a_sock, b_sock) = (dir.path("a.sock"), dir.path("b.sock"));
    let pid = wait_for("s running", secs(10.0), || {
        let (code, out) = ctl(&a_sock, &["pid", "s"]);
        (code == 0 && out.parse::<i32>().is_ok_and(|p| p > 0)).then_some(out)
    });

    std::fs::write(&config, yaml("b.log", "b.sock")).expect("rewrite config");
    let (code, out) = ctl(&a_sock, &["reload"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("event log moved") && out.contains("socket moved"),
        "{out}"
    );

    // The old socket is gone, the new one answers, the program kept its process.
    wait_for("the old socket removed", secs(10.0), || {
        (!a_sock.exists()).then_some(())
    });
    assert_eq!(ctl(&b_sock, &["pid", "s"]), (0, pid));
    // Events from now on go to the new log.
    assert_eq!(ctl(&b_sock, &["stop", "s"]).0, 0);
    wait_for("the stop logged in b.log", secs(10.0), || {
        read(&dir.path("b.log"))
            .contains("stopped: s")
            .then_some(())
    });
    assert!(!read(&dir.path("a.log")).contains("stopped: s"));

    assert_eq!(ctl(&b_sock, &["shutdown"]).0, 0);
    let status = wait_for("taskmaster to exit", secs(20.0), || {
        daemon.try_wait().expect("try_wait")
    });
    assert_eq!(status.code(), Some(0));
}
