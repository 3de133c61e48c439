//! Restarts: a crash while RUNNING, and the autorestart policies.

use crate::common::*;
use crate::{shutdown, sigkill, stamps, state};

// ---- 1. crash while RUNNING -----------------------------------------------------------

#[test]
fn kill_9_of_running_child_is_restarted_with_new_pid() {
    let mut d = Daemon::start(
        "lc-kill9",
        "programs:\n  k:\n    cmd: TESTPROG sleep\n    starttime: 0.1\n",
    );
    let old = d.wait_state("k", "RUNNING", secs(10.0))["pid"]
        .as_i64()
        .expect("pid") as i32;
    assert_eq!(d.instance("k")["restarts"], 0);
    sigkill(old);
    let i = wait_for("k RUNNING with a new pid", secs(10.0), || {
        let i = d.instance("k");
        (state(&i) == "RUNNING" && i["pid"].as_i64().is_some_and(|p| p as i32 != old)).then_some(i)
    });
    assert_eq!(i["restarts"], 1, "{i}");
    assert!(
        d.log()
            .contains("exited: k (terminated by SIGKILL; not expected)"),
        "{}",
        d.log()
    );
    wait_for("the killed child to be reaped", secs(1.0), || {
        (!zombie(old)).then_some(())
    });
    shutdown(d);
}

// ---- 2. autorestart unexpected ---------------------------------------------------------

#[test]
fn expected_exit_is_not_restarted_but_unexpected_is() {
    let mut d = Daemon::start(
        "lc-expected",
        "programs:
  good:
    cmd: TESTPROG stamp DIR/good then exit 2 0.3
    exitcodes: [0, 2]
    starttime: 0.1
    autorestart: unexpected
  bad:
    cmd: TESTPROG stamp DIR/bad then exit 3 0.3
    exitcodes: [0, 2]
    starttime: 0.1
    autorestart: unexpected
",
    );
    let i = d.wait_state("good", "EXITED", secs(10.0));
    assert_eq!(i["exitcode"], 2, "{i}");
    assert!(
        d.log().contains("exited: good (exit status 2; expected)"),
        "{}",
        d.log()
    );

    // The unexpected one comes back: a second spawn, counted as a restart.
    wait_for("bad to be spawned twice", secs(10.0), || {
        (stamps(&d.path("bad")).len() >= 2).then_some(())
    });
    assert!(
        d.log()
            .contains("exited: bad (exit status 3; not expected)"),
        "{}",
        d.log()
    );
    wait_restarts(&mut d, "bad", 1);

    // The expected one stays down.
    let good = d.path("good");
    assert_stays("good EXITED with one spawn", secs(0.8), || {
        stamps(&good).len() == 1 && state(&d.instance("good")) == "EXITED"
    });
    assert_eq!(d.instance("good")["restarts"], 0);
    shutdown(d);
}

// ---- 3. autorestart never / always ----------------------------------------------------

#[test]
fn autorestart_never_stays_exited_and_always_restarts_expected_exit() {
    let mut d = Daemon::start(
        "lc-never-always",
        "programs:
  never:
    cmd: TESTPROG stamp DIR/never then exit 1 0.3
    starttime: 0.1
    autorestart: never
  always:
    cmd: TESTPROG stamp DIR/always then exit 0 0.3
    starttime: 0.1
    autorestart: always
",
    );
    let i = d.wait_state("never", "EXITED", secs(10.0));
    assert_eq!(i["exitcode"], 1, "{i}");

    let always = d.path("always");
    wait_for("always to be spawned 3 times", secs(10.0), || {
        (stamps(&always).len() >= 3).then_some(())
    });
    wait_restarts(&mut d, "always", 2);
    assert!(
        d.log().contains("exited: always (exit status 0; expected)"),
        "{}",
        d.log()
    );

    let never = d.path("never");
    assert_stays("never EXITED with one spawn", secs(0.5), || {
        stamps(&never).len() == 1 && state(&d.instance("never")) == "EXITED"
    });
    shutdown(d);
}

/// Waits until `name` shows at least `n` restarts. A child stamps during its spawn,
/// microseconds before the watcher publishes it: reading once could race that.
fn wait_restarts(d: &mut Daemon, name: &str, n: u64) {
    wait_for(
        &format!("{name}'s restarts to reach {n}"),
        secs(10.0),
        || (d.instance(name)["restarts"].as_u64().unwrap_or(0) >= n).then_some(()),
    );
}
