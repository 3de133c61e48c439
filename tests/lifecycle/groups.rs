//! Nothing outlives its program: when the main process exits on its own, the rest of
//! its process group gets the stop signal and SIGKILL at `stoptime`, as with `stop`;
//! and a stopped (SIGSTOP) process gets SIGCONT after its stop signal, so that it can
//! exit by its own handler.

use super::*;

/// The pids, one a line, that `echo $$ >> FILE` children appended.
fn pids_in(path: &Path) -> Vec<i32> {
    read(path)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Each run backgrounds a member that would sleep forever, then exits by itself:
/// restart after restart, no member of an old run may survive.
#[test]
fn members_of_a_group_whose_leader_exited_do_not_pile_up_across_restarts() {
    let mut d = Daemon::start(
        "lc-group-loop",
        "programs:
  loop:
    cmd: >-
      sh -c \"echo $$ >> DIR/leaders; TESTPROG stamp DIR/members &
      exec TESTPROG exit 1 0.3\"
    starttime: 0
    autorestart: always
    stoptime: 5
",
    );
    wait_for("four runs of loop", secs(20.0), || {
        (pids_in(&d.path("leaders")).len() >= 4).then_some(())
    });
    d.wait_log("the line on members outliving loop", secs(10.0), |log| {
        log.contains("loop: 1 process of its group outlived it (pid ")
            && log.contains("exited): SIGTERM sent")
    });
    let leaders = pids_in(&d.path("leaders"));
    let older = &leaders[..leaders.len() - 2];
    wait_for(
        "no member of an older run of loop alive",
        secs(10.0),
        || live_in_groups(older).is_empty().then_some(()),
    );
    d.command_expect("stop loop", "loop: stopped", secs(10.0));
    let leaders = pids_in(&d.path("leaders"));
    wait_for("no member of any run of loop alive", secs(10.0), || {
        live_in_groups(&leaders).is_empty().then_some(())
    });
    shutdown(d);
}

/// A member that ignores SIGTERM is SIGKILLed at `stoptime`; and one still waiting for
/// its deadline when the daemon shuts down is gone when the daemon has exited.
#[test]
fn members_that_ignore_the_stop_signal_are_killed_at_stoptime_and_by_shutdown() {
    let mut d = Daemon::start(
        "lc-group-stubborn",
        "programs:
  stubborn:
    cmd: >-
      sh -c \"echo $$ >> DIR/leaders; trap '' TERM; TESTPROG stamp DIR/members &
      trap - TERM; exec TESTPROG exit 0 0.3\"
    starttime: 0
    autorestart: never
    stoptime: 0.5
  lingering:
    cmd: >-
      sh -c \"echo $$ >> DIR/leaders2; trap '' TERM; TESTPROG stamp DIR/members2 &
      trap - TERM; exec TESTPROG exit 0 0.3\"
    starttime: 0
    autorestart: never
    stoptime: 3
",
    );
    let leader = wait_for("stubborn's leader", secs(10.0), || {
        pids_in(&d.path("leaders")).first().copied()
    });
    let member = wait_for("stubborn's member", secs(10.0), || {
        stamps(&d.path("members")).first().map(|s| s.1)
    });
    d.wait_log("stubborn's members outliving it", secs(10.0), |log| {
        log.contains(&format!(
            "stubborn: 1 process of its group outlived it (pid {leader} exited): SIGTERM sent"
        ))
    });
    d.wait_log("stubborn's group killed", secs(10.0), |log| {
        log.contains(&format!(
            "killing what is left of stubborn's process group {leader} with SIGKILL (stoptime passed)"
        ))
    });
    wait_for("stubborn's member to be killed", secs(5.0), || {
        (!alive(member)).then_some(())
    });
    assert_eq!(state(&d.instance("stubborn")), "EXITED");

    let leader2 = wait_for("lingering's leader", secs(10.0), || {
        pids_in(&d.path("leaders2")).first().copied()
    });
    d.wait_log("lingering's members outliving it", secs(10.0), |log| {
        log.contains(&format!(
            "lingering: 1 process of its group outlived it (pid {leader2} exited)"
        ))
    });
    assert_eq!(live_in_groups(&[leader2]).len(), 1, "the member lives on");
    shutdown(d);
    assert_eq!(
        live_in_groups(&[leader2]),
        Vec::<i32>::new(),
        "a member outlived the shutdown"
    );
}

/// `stop` of a process frozen by SIGSTOP: it exits by its TERM handler (SIGCONT lets it
/// run), not by the SIGKILL at `stoptime`.
#[test]
fn a_stopped_process_is_continued_after_its_stop_signal() {
    let mut d = Daemon::start(
        "lc-group-frozen",
        "programs:
  frozen:
    cmd: TESTPROG trap TERM
    stdout: DIR/frozen.out
    starttime: 0.1
    stoptime: 8
",
    );
    d.wait_state("frozen", "RUNNING", secs(10.0));
    wait_file_contains(&d.path("frozen.out"), "ready");
    let pid = d.pid_of("frozen");
    kill(Pid::from_raw(pid), Signal::SIGSTOP).expect("SIGSTOP");
    wait_for("frozen to be stopped", secs(5.0), || {
        let stat = read(Path::new(&format!("/proc/{pid}/stat")));
        let state = stat.rfind(')').map(|i| stat[i + 1..].trim_start());
        state.is_some_and(|s| s.starts_with('T')).then_some(())
    });
    d.command_expect("stop frozen", "frozen: stopped", secs(20.0));
    let i = d.instance("frozen");
    assert_eq!(i["exitcode"], 0, "exited by its handler: {i}");
    assert!(read(&d.path("frozen.out")).contains("got SIGTERM"));
    shutdown(d);
}
