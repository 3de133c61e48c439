//! Stopping: the stop signal, the stoptime deadline, the process group, exits while
//! STOPPING, and group members that die on their own.

use serde_json::Value;

use super::{command_lines, shutdown, stamps, state, timed_command, wait_file_contains, wait_pids};
use crate::common::*;

// ---- 6. stopsignal ---------------------------------------------------------------------

#[test]
fn stopsignal_usr1_is_sent_on_stop() {
    let mut d = Daemon::start(
        "lc-usr1",
        "programs:
  t:
    cmd: TESTPROG trap USR1
    starttime: 0.1
    stopsignal: USR1
    stoptime: 60
    stdout: DIR/t.out
",
    );
    d.wait_state("t", "RUNNING", secs(10.0));
    let out = d.path("t.out");
    wait_file_contains(&out, "ready");
    // Stopped well before the stoptime deadline, by USR1 (exit code 0 below, not
    // SIGKILL): the reply's own deadline is far shorter than stoptime.
    d.command_expect("stop t", "t: stopped", secs(30.0));
    wait_file_contains(&out, "got SIGUSR1");
    let i = d.instance("t");
    assert_eq!(state(&i), "STOPPED", "{i}");
    assert_eq!(i["exitcode"], 0, "{i}");
    assert_eq!(i["signal"], Value::Null, "{i}");
    assert!(d.log().contains("with SIGUSR1"), "{}", d.log());
    shutdown(d);
}

// ---- 7. stoptime -----------------------------------------------------------------------

#[test]
fn stoptime_passed_means_sigkill_on_time() {
    let mut d = Daemon::start(
        "lc-stoptime",
        "programs:
  stubborn:
    cmd: TESTPROG ignore-term
    starttime: 0.1
    stoptime: 0.5
    stdout: DIR/stubborn.out
",
    );
    d.wait_state("stubborn", "RUNNING", secs(10.0));
    wait_file_contains(&d.path("stubborn.out"), "ready");
    let took = timed_command(&mut d, "stop stubborn", "stubborn: stopped", secs(10.0));
    // Never before the deadline; how soon after it is measured by bench/run.
    assert!(
        took >= secs(0.5),
        "stop took {took:?}, less than stoptime 0.5 s"
    );
    let i = d.instance("stubborn");
    assert_eq!(state(&i), "STOPPED", "{i}");
    assert_eq!(i["signal"], "SIGKILL", "{i}");
    assert_eq!(i["exitcode"], Value::Null, "{i}");
    assert!(d.log().contains("killing"), "{}", d.log());
    shutdown(d);
}

// ---- 8. the process group goes with the stop -------------------------------------------

#[test]
fn stop_leaves_no_grandchild() {
    let mut d = Daemon::start(
        "lc-fork",
        "programs:
  forker:
    cmd: TESTPROG fork 3 DIR/forker.pids
    starttime: 0.1
    stoptime: 2
  ignorer:
    cmd: TESTPROG fork-ignore 3 DIR/ignorer.pids
    starttime: 0.1
    stoptime: 0.5
",
    );
    d.wait_state("forker", "RUNNING", secs(10.0));
    d.wait_state("ignorer", "RUNNING", secs(10.0));
    let forker = wait_pids(&d.path("forker.pids"), 4);
    let ignorer = wait_pids(&d.path("ignorer.pids"), 4);
    assert!(
        forker.iter().chain(&ignorer).all(|&p| alive(p)),
        "all alive before the stop"
    );

    d.command_expect("stop forker", "forker: stopped", secs(10.0));
    wait_for("forker's grandchildren to die", secs(1.0), || {
        forker.iter().all(|&p| !alive(p)).then_some(())
    });

    // The grandchildren ignore SIGTERM: they must be SIGKILLed at the stoptime deadline.
    d.command_expect("stop ignorer", "ignorer: stopped", secs(10.0));
    wait_for(
        "ignorer's grandchildren to be SIGKILLed at the stoptime deadline",
        secs(10.0),
        || ignorer.iter().all(|&p| !alive(p)).then_some(()),
    );
    assert!(d.log().contains("ignorer"), "{}", d.log());
    assert_eq!(state(&d.instance("ignorer")), "STOPPED");
    shutdown(d);
}

// ---- 12. exits while STOPPING -------------------------------------------------------------

#[test]
fn exit_while_stopping_is_never_restarted() {
    let mut d = Daemon::start(
        "lc-stopping",
        "programs:
  soft:
    cmd: TESTPROG stamp DIR/soft
    starttime: 0.1
    autorestart: always
  hard:
    cmd: TESTPROG stamp DIR/hard then ignore-term
    starttime: 0.1
    stoptime: 0.3
    autorestart: always
",
    );
    d.wait_state("soft", "RUNNING", secs(10.0));
    d.wait_state("hard", "RUNNING", secs(10.0));
    wait_for("hard's stamp", secs(5.0), || {
        (!stamps(&d.path("hard")).is_empty()).then_some(())
    });
    command_lines(
        &mut d,
        "stop soft hard",
        &["soft: stopped", "hard: stopped"],
        secs(10.0),
    );
    let (soft, hard) = (d.path("soft"), d.path("hard"));
    assert_stays(
        "soft and hard STOPPED with one spawn each",
        secs(0.8),
        || {
            let st = d.status();
            let stopped = |n: &str| st.iter().any(|i| i["name"] == n && state(i) == "STOPPED");
            stamps(&soft).len() == 1
                && stamps(&hard).len() == 1
                && stopped("soft")
                && stopped("hard")
        },
    );
    assert_eq!(d.instance("hard")["signal"], "SIGKILL");
    shutdown(d);
}

// ---- process-group leftovers that die on their own ---------------------------------------

/// A group member outlives the leader's stop but exits by itself well before the
/// stoptime deadline: nothing is left, so a shutdown must not wait out the stoptime.
#[test]
fn shutdown_does_not_wait_for_a_stop_deadline_once_the_group_is_gone() {
    let mut d = Daemon::start(
        "lc-leftover",
        "programs:
  lead:
    cmd: >-
      sh -c \"trap '' TERM; TESTPROG stamp DIR/member then exit 0 0.6 &
      trap - TERM; exec TESTPROG sleep\"
    starttime: 0.1
    stoptime: 120
",
    );
    d.wait_state("lead", "RUNNING", secs(10.0));
    let member = wait_for("the member's stamp", secs(5.0), || {
        stamps(&d.path("member")).first().map(|s| s.1)
    });
    // With a stoptime of two minutes, both deadlines below (30 s) say that neither
    // the stop nor the shutdown waited for it.
    d.command_expect("stop lead", "lead: stopped", secs(30.0));
    // The member ignores SIGTERM and exits by itself 0.6 s after it started.
    wait_for("the member to exit by itself", secs(10.0), || {
        (!alive(member)).then_some(())
    });
    assert_eq!(
        d.finish(secs(30.0)),
        0,
        "with no process left, the shutdown must not wait for lead's stoptime deadline"
    );
}
