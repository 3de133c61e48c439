//! `taskmasterctl shutdown` returns when the daemon has finished: every process
//! stopped, the socket gone, so `taskmasterctl shutdown; taskmaster …` works at
//! once. The daemon's terminal says who asked and what it waits for.

use super::support::*;
use crate::common::*;

const SLOW_TO_STOP_YAML: &str = "programs:
  stubborn:
    cmd: TESTPROG ignore-term
    starttime: 0
    stoptime: 2
  pool:
    cmd: TESTPROG sleep
    numprocs: 2
    starttime: 0
";

#[test]
fn taskmasterctl_shutdown_returns_when_the_daemon_has_finished() {
    let mut d = Daemon::start("ctl-shutdown-wait", SLOW_TO_STOP_YAML);
    let sock = d.socket();
    let names = ["stubborn", "pool:0", "pool:1"];
    let pids = wait_running(&sock, &names, secs(10.0));
    wait_for("stubborn to ignore SIGTERM", secs(10.0), || {
        ctl_ok(&sock, &["tail", "stubborn"], 0)
            .contains("ready")
            .then_some(())
    });

    let (ctl_pid, out) = ctl_with_pid(&sock, &["shutdown"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "Shut down\n");
    // Nothing of the old daemon is left in the way, at once.
    assert!(
        !sock.exists(),
        "the socket file is gone when the reply comes"
    );
    for (name, pid) in &pids {
        assert!(
            !alive(*pid),
            "{name} (pid {pid}) is gone when the reply comes"
        );
    }
    let mut next = Bare::on(&d.config, Some(&sock));
    let new_pids = wait_running(&sock, &names, secs(10.0));
    assert_ne!(new_pids["stubborn"], pids["stubborn"]);
    assert_eq!(d.wait_exit(secs(10.0)), 0);

    // The old daemon's terminal said who asked and what it waited for, briefly.
    let lines = d.lines.lock().unwrap().clone();
    let uid = nix::unistd::geteuid().as_raw();
    let asked = format!(
        "taskmaster: shutdown begun, requested by taskmasterctl (uid {uid}, pid {ctl_pid})"
    );
    assert!(lines.contains(&asked), "{lines:#?}");
    let waiting: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("taskmaster: waiting for "))
        .collect();
    assert!(waiting.iter().any(|l| l.contains("stubborn")), "{lines:#?}");
    assert!(waiting.len() <= 3, "no more than its changes: {lines:#?}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("taskmaster: shutdown finished"),
        "{lines:#?}"
    );

    // The new daemon, asked twice: both clients get their answer at the end.
    let second = std::thread::spawn({
        let sock = sock.clone();
        move || ctl(&sock, &["shutdown"])
    });
    let out = ctl(&sock, &["shutdown"]);
    let other = second.join().expect("second client");
    for out in [out, other] {
        // The later one may find the socket already gone.
        assert!(
            (out.code == 0 && out.stdout == "Shut down\n") || out.code == 3,
            "{out:?}"
        );
    }
    assert!(!sock.exists());
    assert_eq!(next.wait_exit(secs(10.0)).0, 0);
    for pid in new_pids.values() {
        assert!(!alive(*pid));
    }
}
