//! Starting: backoff and FATAL, and the starttime boundary. How close to their time
//! deadlines fire is measured by `bench/run` (the `deadline` rows), not here.

use super::{shutdown, stamps};
use crate::common::*;
use nix::sys::signal::Signal;

// ---- 4. backoff, FATAL -----------------------------------------------------------------

#[test]
fn quick_exiter_backs_off_1s_2s_then_fatal() {
    let mut d = Daemon::start(
        "lc-fatal",
        "programs:
  quick:
    cmd: TESTPROG stamp DIR/quick then exit 1
    starttime: 0.5
    startretries: 2
  once:
    cmd: TESTPROG stamp DIR/once then exit 1
    starttime: 0.5
    startretries: 0
",
    );
    // startretries 0: FATAL after the first failed spawn.
    let o = d.wait_state("once", "FATAL", secs(5.0));
    assert_eq!(
        o["description"], "Exited too quickly (process log may have details)",
        "{o}"
    );
    assert_eq!(stamps(&d.path("once")).len(), 1);

    let i = d.wait_state("quick", "FATAL", secs(10.0));
    assert_eq!(
        i["description"], "Exited too quickly (process log may have details)",
        "{i}"
    );
    assert_eq!(i["restarts"], 2, "{i}");
    let s = stamps(&d.path("quick"));
    assert_eq!(s.len(), 3, "startretries 2 means 3 spawns: {s:?}");
    let (g1, g2) = (s[1].0 - s[0].0, s[2].0 - s[1].0);
    assert!(
        (g1 - 1.0).abs() <= 0.15,
        "first backoff gap {g1:.3} s, expected 1 s ± 150 ms"
    );
    assert!(
        (g2 - 2.0).abs() <= 0.15,
        "second backoff gap {g2:.3} s, expected 2 s ± 150 ms"
    );
    let log = d.log();
    assert!(log.contains("gave up: quick"), "{log}");
    assert!(log.contains("gave up: once"), "{log}");
    // Still one spawn for `once`, three seconds later.
    assert_eq!(stamps(&d.path("once")).len(), 1);
    shutdown(d);
}

// ---- 5. the starttime boundary ---------------------------------------------------------

#[test]
fn starttime_boundary_decides_backoff_or_exited() {
    let mut d = Daemon::start(
        "lc-boundary",
        "programs:
  early:
    cmd: TESTPROG exit 0 0.3
    starttime: 0.6
    startretries: 1
  late:
    cmd: TESTPROG stamp DIR/late then exit 0 0.6
    starttime: 0.2
",
    );
    // Dies before starttime: a failed start, even with an expected code.
    let b = d.wait_state("early", "BACKOFF", secs(5.0));
    assert_eq!(
        b["description"], "Exited too quickly (process log may have details)",
        "{b}"
    );
    d.wait_state("early", "FATAL", secs(5.0));

    // Dies after starttime: it was RUNNING, so it is an ordinary exit.
    let e = d.wait_state("late", "EXITED", secs(5.0));
    assert_eq!(e["exitcode"], 0, "{e}");
    let log = d.log();
    assert!(log.contains("success: late entered RUNNING"), "{log}");
    assert!(
        log.contains("exited: late (exit status 0; expected)"),
        "{log}"
    );
    assert!(!log.contains("backoff: late"), "{log}");
    assert!(!log.contains("success: early entered RUNNING"), "{log}");
    assert!(log.contains("backoff: early"), "{log}");
    assert_eq!(stamps(&d.path("late")).len(), 1);
    shutdown(d);
}

/// The daemon is frozen from before the starttime deadline until after the child has
/// exited (past starttime): when it wakes, the exit and the overdue deadline are both
/// pending. The child lived starttime, so the start succeeded and the exit is an
/// ordinary (expected) one, not "Exited too quickly".
#[test]
fn child_that_lived_starttime_succeeded_however_late_the_daemon_wakes() {
    let mut d = Daemon::start(
        "lc-late-wake",
        "programs:
  late:
    cmd: TESTPROG exit 0 2.5
    starttime: 2
    autorestart: unexpected
",
    );
    let pid = d.pid_of("late");
    d.signal(Signal::SIGSTOP as i32);
    let log = d.log();
    assert!(
        !log.contains("success: late entered RUNNING"),
        "the daemon was frozen only after the starttime deadline:\n{log}"
    );
    wait_for("the child to exit (zombie)", secs(10.0), || {
        zombie(pid).then_some(())
    });
    d.signal(Signal::SIGCONT as i32);
    let e = d.wait_state("late", "EXITED", secs(5.0));
    assert_eq!(e["exitcode"], 0, "{e}");
    let log = d.log();
    assert!(log.contains("success: late entered RUNNING"), "{log}");
    assert!(
        log.contains("exited: late (exit status 0; expected)"),
        "{log}"
    );
    assert!(!log.contains("backoff: late"), "{log}");
    shutdown(d);
}
