//! What waits for a moment still to come goes on waiting across an upgrade in
//! place: a start's `starttime`, a program waiting for its dependencies, the
//! SIGKILL of a stopped group's survivors at `stoptime`.

use super::upgrade;
use crate::common::*;

#[test]
fn a_starting_instance_and_the_program_waiting_for_it_go_on() {
    let mut d = Daemon::start(
        "upgrade-waiting",
        "programs:
  slow:
    cmd: TESTPROG sleep
    starttime: 2
  after:
    cmd: TESTPROG sleep
    starttime: 0
    depends_on: slow
",
    );
    d.wait_state("slow", "STARTING", secs(10.0));
    let waiting = d.instance("after");
    assert_eq!(waiting["state"], "STOPPED", "{waiting}");
    let out = upgrade(&d.socket(), None);
    assert_eq!(out.code, 0, "{out:?}");
    d.wait_state("slow", "RUNNING", secs(20.0));
    d.wait_state("after", "RUNNING", secs(20.0));
    d.finish(secs(20.0));
}

#[test]
fn survivors_of_a_stopped_group_are_still_killed_at_stoptime() {
    let mut d = Daemon::start(
        "upgrade-leftovers",
        "programs:
  forks:
    cmd: TESTPROG fork-ignore 2 DIR/pids
    starttime: 0
    stoptime: 3
    autorestart: never
",
    );
    d.wait_state("forks", "RUNNING", secs(10.0));
    // The leader's pid, then its two children's.
    let pids: Vec<i32> = wait_file(&d.path("pids"), secs(10.0), |t| t.lines().count() == 3)
        .lines()
        .skip(1)
        .map(|l| l.trim().parse().expect("pid"))
        .collect();
    d.command_expect("stop forks", "forks: stopped", secs(20.0));
    assert!(pids.iter().all(|&p| alive(p)), "they ignore SIGTERM");
    let out = upgrade(&d.socket(), None);
    assert_eq!(out.code, 0, "{out:?}");
    wait_for("the survivors killed at stoptime", secs(20.0), || {
        pids.iter().all(|&p| !alive(p)).then_some(())
    });
    d.finish(secs(20.0));
}
