//! The spawn helper (README: Processes; docs/ARCHITECTURE.md, Spawning): a small
//! `taskmaster --spawn-helper` process clones the children, which stay the daemon's
//! own; it never stops a start, never lingers as a zombie, and never outlives the
//! daemon.

use crate::common::*;
use crate::control::support::{ctl_ok, request, wait_running};

const TWO_SLEEPERS: &str = "programs:
  s:
    cmd: TESTPROG sleep
    numprocs: 2
    starttime: 0
";

/// The daemon's live children running `taskmaster --spawn-helper`.
fn helpers_of(daemon: i32) -> Vec<i32> {
    children_of(daemon)
        .into_iter()
        .filter(|&p| alive(p) && is_spawn_helper(p))
        .collect()
}

/// Field 4 of /proc/PID/stat.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn the_helper(d: &Daemon) -> i32 {
    let pid = d.pid();
    wait_for(
        "the spawn helper",
        secs(10.0),
        || match helpers_of(pid)[..] {
            [one] => Some(one),
            _ => None,
        },
    )
}

#[test]
fn children_are_the_daemons_own_and_the_helper_holds_few_descriptors() {
    let d = Daemon::start("spawner-parent", TWO_SLEEPERS);
    let pids = wait_running(&d.socket(), &["s:0", "s:1"], secs(20.0));
    let helper = the_helper(&d);
    for (name, pid) in &pids {
        assert_eq!(
            parent_of(*pid),
            Some(d.pid()),
            "{name} (pid {pid}) is the daemon's child, not the helper's ({helper})"
        );
    }
    // 0–2 on /dev/null and one socket per worker: nothing of the daemon's table.
    let (ours, theirs) = (fd_count(helper), fd_count(d.pid()));
    assert!(
        ours <= 3 + 8 && ours < theirs,
        "the helper holds {ours} descriptors (the daemon {theirs})"
    );
}

#[test]
fn a_killed_helper_is_reaped_and_replaced_and_starts_go_on() {
    let d = Daemon::start("spawner-kill", TWO_SLEEPERS);
    wait_running(&d.socket(), &["s:0", "s:1"], secs(20.0));
    let first = the_helper(&d);
    // SAFETY: kill(2) on a process of our daemon's.
    assert_eq!(unsafe { libc_kill(first, 9) }, 0);
    // Starts go on at once, helper or not.
    let before = wait_running(&d.socket(), &["s:0"], secs(20.0));
    ctl_ok(&d.socket(), &["restart", "s:0"], 0);
    let after = wait_running(&d.socket(), &["s:0"], secs(20.0));
    assert_ne!(before["s:0"], after["s:0"], "s:0 restarted");
    // The dead helper is reaped (no zombie) and another takes its place.
    wait_for("the killed helper reaped", secs(10.0), || {
        (!zombie(first) && parent_of(first) != Some(d.pid())).then_some(())
    });
    d.wait_log("the helper's end logged", secs(10.0), |log| {
        log.contains(&format!("spawn helper (pid {first}) killed by SIGKILL"))
    });
    let second = wait_for("a new helper", secs(10.0), || {
        helpers_of(d.pid()).into_iter().find(|&p| p != first)
    });
    ctl_ok(&d.socket(), &["restart", "s:1"], 0);
    let s1 = wait_running(&d.socket(), &["s:1"], secs(20.0))["s:1"];
    assert_eq!(
        parent_of(s1),
        Some(d.pid()),
        "spawned by the new helper {second}"
    );
}

#[test]
fn a_stalled_helper_is_killed_and_its_start_done_by_the_daemon_once() {
    let d = Daemon::start("spawner-stalled", TWO_SLEEPERS);
    wait_running(&d.socket(), &["s:0", "s:1"], secs(20.0));
    let stalled = the_helper(&d);
    // SAFETY: kill(2) on a process of our daemon's.
    assert_eq!(unsafe { libc_kill(stalled, 19) }, 0); // SIGSTOP
    let before = wait_running(&d.socket(), &["s:0"], secs(20.0))["s:0"];
    // Answered once the helper's reply is overdue (10 s): the daemon spawned it.
    ctl_ok(&d.socket(), &["restart", "s:0"], 0);
    let after = wait_running(&d.socket(), &["s:0", "s:1"], secs(20.0));
    assert_ne!(after["s:0"], before, "s:0 restarted");
    // The stalled helper was killed, so the request it held never becomes a second,
    // unwatched s:0; it is reaped and replaced.
    wait_for("the stalled helper killed and reaped", secs(10.0), || {
        (!zombie(stalled) && parent_of(stalled) != Some(d.pid())).then_some(())
    });
    d.wait_log("the stall logged", secs(10.0), |log| {
        log.contains("spawn helper did not answer in time: killing it")
    });
    wait_for("a new helper", secs(10.0), || {
        helpers_of(d.pid()).into_iter().find(|&p| p != stalled)
    });
    let mut programs = program_children_of(d.pid());
    programs.sort();
    let mut shown: Vec<i32> = after.values().copied().collect();
    shown.sort();
    assert_eq!(programs, shown, "no child but the two instances'");
}

#[test]
fn the_helper_is_gone_once_shutdown_is_answered() {
    let d = Daemon::start("spawner-shutdown", TWO_SLEEPERS);
    wait_running(&d.socket(), &["s:0", "s:1"], secs(20.0));
    let helper = the_helper(&d);
    // The reply is the daemon's last act, before it exits.
    let reply = request(&d.socket(), b"{\"command\":\"shutdown\"}\n");
    assert_eq!(reply["ok"], true, "{reply}");
    assert!(!alive(helper), "the helper {helper} outlived the shutdown");
}

#[test]
fn the_helper_dies_with_a_killed_daemon() {
    let mut d = Daemon::start("spawner-daemon-killed", TWO_SLEEPERS);
    let pids = wait_running(&d.socket(), &["s:0", "s:1"], secs(20.0));
    let helper = the_helper(&d);
    d.signal(9);
    d.wait_exit(secs(10.0));
    wait_for("the helper gone", secs(10.0), || {
        (!alive(helper)).then_some(())
    });
    // The children, left behind by a SIGKILL, are this test's to clean up.
    for pid in pids.values() {
        // SAFETY: kill(2) on the process groups of children our daemon started.
        unsafe { libc_kill(-pid, 9) };
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
