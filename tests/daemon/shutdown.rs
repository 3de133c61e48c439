//! Shutdown by SIGTERM (once and twice), end of input and `shutdown`, and a thousand
//! instances started and stopped.

use std::time::{Duration, Instant};

use super::{assert_all_gone, pids};
use crate::common::*;

// ---- 7. SIGTERM ------------------------------------------------------------------------------

#[test]
fn sigterm_shuts_down_gracefully() {
    let mut d = Daemon::start(
        "sigterm",
        "programs:
  a:
    cmd: TESTPROG sleep
    numprocs: 3
    starttime: 0
  b:
    cmd: TESTPROG trap TERM
    starttime: 0
",
    );
    for name in ["a:0", "a:1", "a:2", "b"] {
        d.wait_state(name, "RUNNING", secs(10.0));
    }
    let before = pids(&mut d);
    assert_eq!(before.len(), 4, "every instance has a pid");
    d.signal(15);
    assert_eq!(d.wait_exit(secs(20.0)), 0, "graceful shutdown exits 0");
    assert_all_gone(&before);
    let log = d.log();
    assert!(log.contains("shutdown begun"), "log:\n{log}");
    assert!(log.contains("shutdown finished"), "log:\n{log}");
}

#[test]
fn second_sigterm_kills_what_is_still_stopping() {
    let mut d = Daemon::start(
        "sigterm2",
        "programs:
  stubborn:
    cmd: TESTPROG ignore-term
    starttime: 0
    stoptime: 30
    stdout: stubborn.out
",
    );
    d.wait_state("stubborn", "RUNNING", secs(10.0));
    // `ready` is printed once SIGTERM is ignored.
    wait_for("stubborn to be ready", secs(10.0), || {
        read(&d.path("stubborn.out"))
            .contains("ready")
            .then_some(())
    });
    let pid = d.pid_of("stubborn");
    let t0 = Instant::now();
    d.signal(15);
    d.wait_log("shutdown begun", secs(10.0), |l| {
        l.contains("shutdown begun")
    });
    d.wait_state("stubborn", "STOPPING", secs(10.0));
    assert!(
        alive(pid),
        "the program ignores SIGTERM and is still alive while stopping"
    );
    d.signal(15);
    let code = d.wait_exit(secs(10.0));
    let took = t0.elapsed();
    eprintln!("second SIGTERM: daemon exited with {code} after {took:?}");
    assert!(
        code >= 0,
        "the daemon exits (not killed by a signal), got {code}"
    );
    assert!(took < secs(10.0), "daemon took {took:?}, stoptime is 30 s");
    assert_all_gone(&[pid]);
}

// ---- 8. end of stdin, `shutdown` --------------------------------------------------------------

const TWO_SLEEPERS: &str = "programs:
  s:
    cmd: TESTPROG sleep
    numprocs: 2
    starttime: 0
";

#[test]
fn end_of_stdin_shuts_down() {
    let mut d = Daemon::start("eof", TWO_SLEEPERS);
    d.wait_state("s:0", "RUNNING", secs(10.0));
    d.wait_state("s:1", "RUNNING", secs(10.0));
    let before = pids(&mut d);
    assert_eq!(before.len(), 2);
    assert_eq!(d.finish(secs(20.0)), 0);
    assert_all_gone(&before);
}

#[test]
fn shutdown_command_shuts_down() {
    let mut d = Daemon::start("shutdown-cmd", TWO_SLEEPERS);
    d.wait_state("s:0", "RUNNING", secs(10.0));
    d.wait_state("s:1", "RUNNING", secs(10.0));
    let before = pids(&mut d);
    assert_eq!(before.len(), 2);
    d.send("shutdown");
    assert_eq!(d.wait_exit(secs(20.0)), 0);
    assert_all_gone(&before);
}

// ---- 9. a thousand instances ---------------------------------------------------------------

#[test]
fn a_thousand_instances_reach_running() {
    const N: usize = 1000;
    let t0 = Instant::now();
    let mut d = Daemon::start(
        "thousand",
        "programs:\n  sleep:\n    cmd: TESTPROG sleep\n    numprocs: 1000\n    starttime: 0\n",
    );
    // 30 s from before the daemon started.
    let mut running = 0;
    let all = poll_until(
        secs(30.0).saturating_sub(t0.elapsed()),
        Duration::from_millis(100),
        || {
            let status = d.status();
            assert_eq!(status.len(), N, "one status entry per instance");
            running = status.iter().filter(|i| i["state"] == "RUNNING").count();
            (running == N).then_some(())
        },
    );
    assert!(all.is_some(), "only {running} of {N} RUNNING after 30 s");
    eprintln!("{N} instances RUNNING after {:?}", t0.elapsed());
    let before = pids(&mut d);
    assert_eq!(before.len(), N);
    let t1 = Instant::now();
    assert_eq!(d.finish(secs(60.0)), 0);
    eprintln!("{N} instances shut down in {:?}", t1.elapsed());
    assert_all_gone(&before);
}
