//! The event log says who asked: start/stop/restart/reload/signal/shutdown lines
//! name the daemon's standard input, a `taskmasterctl` by uid and pid, or SIGHUP.

use super::support::*;
use crate::common::*;

#[test]
fn the_event_log_says_who_asked() {
    let mut d = Daemon::start(
        "ctl-who",
        "taskmaster:
  logfile: DIR/taskmaster.log
programs:
  trapper:
    cmd: TESTPROG trap USR1
    starttime: 0
    autorestart: never
  idle:
    cmd: TESTPROG sleep
    autostart: false
",
    );
    let sock = d.socket();
    let trapper = wait_running(&sock, &["trapper"], secs(10.0))["trapper"];
    let uid = nix::unistd::geteuid().as_raw();
    let by_ctl = |pid: u32| format!("requested by taskmasterctl (uid {uid}, pid {pid})");

    let (pid, Out { code, .. }) = ctl_with_pid(&sock, &["start", "idle"]);
    assert_eq!(code, 0);
    d.wait_log("start requested by taskmasterctl", secs(10.0), |l| {
        l.contains(&format!("start {}: idle", by_ctl(pid)))
    });
    let (pid, Out { code, .. }) = ctl_with_pid(&sock, &["signal", "USR1", "trapper"]);
    assert_eq!(code, 0);
    d.wait_log("the signal line", secs(10.0), |l| {
        l.contains(&format!(
            "signal: SIGUSR1 sent to trapper (pid {trapper}), {}",
            by_ctl(pid)
        ))
    });
    let (pid, Out { code, .. }) = ctl_with_pid(&sock, &["stop", "idle", "nosuch"]);
    assert_eq!(code, 1);
    d.wait_log("stop requested", secs(10.0), |l| {
        l.contains(&format!("stop {}: idle nosuch", by_ctl(pid)))
    });
    let (pid, _) = ctl_with_pid(&sock, &["signal", "TERM", "idle"]);
    d.wait_log("a signal not sent", secs(10.0), |l| {
        l.contains(&format!(
            "signal: SIGTERM not sent to idle (not running), {}",
            by_ctl(pid)
        ))
    });
    let (pid, Out { code, .. }) = ctl_with_pid(&sock, &["reload"]);
    assert_eq!(code, 0);
    d.wait_log("reload requested", secs(10.0), |l| {
        l.contains(&format!("reload {}", by_ctl(pid)))
    });

    // The daemon's own standard input, and SIGHUP.
    d.command_expect("restart idle", "idle: started", secs(10.0));
    d.wait_log("restart from stdin", secs(10.0), |l| {
        l.contains("restart requested by the daemon's standard input: idle")
    });
    d.signal(1);
    d.wait_log("reload by SIGHUP", secs(10.0), |l| {
        l.contains("reload requested by SIGHUP")
    });
    // Read-only commands are not logged as requests.
    ctl_ok(&sock, &["status", "idle"], 0);
    assert!(!d.log().contains("status requested"), "{}", d.log());

    let (pid, Out { code, .. }) = ctl_with_pid(&sock, &["shutdown"]);
    assert_eq!(code, 0);
    assert_eq!(d.wait_exit(secs(20.0)), 0);
    assert!(
        d.log()
            .contains(&format!("shutdown begun, {}", by_ctl(pid))),
        "{}",
        d.log()
    );
}
