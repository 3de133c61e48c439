//! Nothing escapes, nothing is left a zombie (README: Running in production): a
//! program's descendants orphaned by a double fork come back to taskmaster, are
//! shown with their instance by `status -l`, are stopped with it, and are reaped;
//! so are those of no instance, at shutdown.

use crate::common::pids::{pid_from_file, reaped, wait_reaped};
use crate::common::*;

/// The pid a `double-fork` grandchild wrote.
fn grandchild(d: &Daemon) -> i32 {
    pid_from_file(&d.path("g.pid"))
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn wait_adopted(d: &Daemon, pid: i32) {
    let daemon = d.pid();
    let last = poll_until(secs(10.0), secs(0.01), || {
        (parent_of(pid) == Some(daemon)).then_some(())
    });
    assert!(
        last.is_some(),
        "pid {pid} was not handed to taskmaster (pid {daemon}): its parent is {:?}",
        parent_of(pid)
    );
}

/// Starts `program`, `TESTPROG double-fork DIR/g.pid ARGS`, and waits until it is
/// RUNNING and its grandchild has been handed to taskmaster: the daemon and that
/// grandchild's pid.
fn adopted_grandchild(tag: &str, program: &str, args: &str, stoptime: &str) -> (Daemon, i32) {
    let yaml = format!(
        "programs:
  {program}:
    cmd: TESTPROG double-fork DIR/g.pid {args}
    starttime: 0.2
    stoptime: {stoptime}
"
    );
    let mut d = Daemon::start(tag, &yaml);
    d.wait_state(program, "RUNNING", secs(10.0));
    let g = grandchild(&d);
    wait_adopted(&d, g);
    (d, g)
}

/// `status -l --json`, parsed.
fn status_long(d: &mut Daemon) -> serde_json::Value {
    let mark = d.mark();
    d.send("status -l --json");
    let line = d.wait_line(mark, "status -l --json", secs(10.0), |l| {
        l.starts_with('{') && l.contains("\"instances\"")
    });
    serde_json::from_str(&line).expect("JSON")
}

/// Waits until taskmaster has no zombie child (one that just exited is reaped
/// as soon as its SIGCHLD is taken).
fn no_zombie_children(d: &Daemon) {
    let mut zombies = Vec::new();
    let none = poll_until(secs(5.0), secs(0.01), || {
        zombies = children_of(d.pid())
            .into_iter()
            .filter(|&p| zombie(p))
            .collect();
        zombies.is_empty().then_some(())
    });
    assert!(none.is_some(), "zombies left under taskmaster: {zombies:?}");
}

#[test]
fn a_double_forked_grandchild_is_shown_with_its_instance_and_stopped_with_it() {
    let (mut d, g) = adopted_grandchild("reaper-stop", "escaper", "stay", "5");
    let status = status_long(&mut d);
    let instance = &status["instances"][0];
    assert_eq!(instance["adopted"], serde_json::json!([g]), "{status}");
    assert_eq!(status["orphans"], serde_json::json!([]));
    let mark = d.mark();
    d.send("status -l");
    d.wait_line(mark, "the text says so", secs(10.0), |l| {
        l.starts_with("escaper") && l.ends_with(&format!(", adopted 1 (pid {g})"))
    });

    d.command_expect("stop escaper", "escaper: stopped", secs(15.0));
    wait_reaped(g, "the grandchild stopped with its instance, and reaped");
    no_zombie_children(&d);
    d.wait_log("the stop's line", secs(5.0), |l| {
        l.contains("escaper: SIGTERM to 1 adopted process (outside its process group)")
    });
    assert_eq!(d.finish(secs(15.0)), 0);
}

#[test]
fn an_adopted_grandchild_that_ignores_its_stop_signal_is_killed_at_stoptime() {
    let (mut d, g) = adopted_grandchild("reaper-kill", "stubborn", "stay ignore", "0.5");
    d.command_expect("stop stubborn", "stubborn: stopped", secs(15.0));
    wait_reaped(g, "the grandchild killed and reaped");
    d.wait_log("the kill's line", secs(5.0), |l| {
        l.contains("stubborn: SIGKILL to 1 adopted process")
    });
    no_zombie_children(&d);
    assert_eq!(d.finish(secs(15.0)), 0);
}

#[test]
fn what_a_program_leaves_when_it_exits_is_stopped_like_its_group() {
    let yaml = "programs:
  launcher:
    cmd: TESTPROG double-fork DIR/g.pid exit
    autorestart: never
    starttime: 0
    stoptime: 5
";
    let mut d = Daemon::start("reaper-exit", yaml);
    let g = grandchild(&d);
    d.wait_state("launcher", "EXITED", secs(10.0));
    wait_reaped(g, "the grandchild stopped when its launcher exited");
    no_zombie_children(&d);
    assert_eq!(d.finish(secs(15.0)), 0);
}

#[test]
fn an_orphan_of_no_instance_is_shown_as_such_and_stopped_at_shutdown() {
    let (mut d, g) = adopted_grandchild("reaper-anon", "anon", "stay anon", "5");
    // Re-exec'd with an empty environment, in a session of its own: nothing names it.
    let status = wait_for("the orphan listed", secs(10.0), || {
        let status = status_long(&mut d);
        (status["orphans"] == serde_json::json!([g])).then_some(status)
    });
    assert_eq!(status["instances"][0]["adopted"], serde_json::json!([]));
    d.command_expect("stop anon", "anon: stopped", secs(15.0));
    assert!(alive(g), "not the instance's: left alone by its stop");
    assert_eq!(d.finish(secs(20.0)), 0);
    assert!(reaped(g), "stopped and reaped at shutdown");
}

#[test]
fn fifty_short_lived_detached_grandchildren_are_all_adopted_and_reaped() {
    let yaml = "programs:
  scatter:
    cmd: TESTPROG scatter 50 DIR/adopted.txt
    starttime: 0.2
    stoptime: 5
";
    let mut d = Daemon::start("reaper-scatter", yaml);
    d.wait_state("scatter", "RUNNING", secs(10.0));
    let text = wait_file(&d.path("adopted.txt"), secs(20.0), |t| {
        t.lines().count() >= 50
    });
    let daemon = d.pid();
    for line in text.lines() {
        let (pid, parent) = line.split_once(' ').expect("PID PPID");
        assert_eq!(parent.parse::<i32>().unwrap(), daemon, "adopted: {line}");
        wait_reaped(pid.parse().unwrap(), "each grandchild reaped");
    }
    no_zombie_children(&d);
    d.command_expect("stop scatter", "scatter: stopped", secs(15.0));
    assert_eq!(d.finish(secs(15.0)), 0);
}

#[test]
fn the_orphan_reaper_never_takes_an_instances_exit_status() {
    // Children exiting 3 (an expected code) over and over, beside programs that
    // orphan a grandchild at every run: every exit must still be read by its
    // watcher (one taken by the reaper would read as lost: SIGKILL, unexpected).
    let yaml = "programs:
  quick:
    cmd: TESTPROG exit 3 0.02
    numprocs: 6
    exitcodes: [3]
    autorestart: always
    starttime: 0
    restart_throttle: false
  orphaner:
    cmd: TESTPROG double-fork DIR/g.pid exit
    numprocs: 3
    exitcodes: [0]
    autorestart: always
    starttime: 0
    stoptime: 1
    restart_throttle: false
";
    let mut d = Daemon::start("reaper-race", yaml);
    let exits = |log: &str| log.matches("exited: quick").count();
    d.wait_log("200 exits of quick", secs(60.0), |log| exits(log) >= 200);
    d.command_expect("stop all", "quick:0: stopped", secs(15.0));
    let log = d.log();
    let quick: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("exited: quick"))
        .collect();
    let wrong: Vec<&&str> = quick
        .iter()
        .filter(|l| !l.contains("(exit status 3; expected)"))
        .collect();
    assert!(wrong.is_empty(), "exit statuses lost: {wrong:?}");
    assert!(
        log.matches("adopted process").count() > 0,
        "grandchildren were orphaned meanwhile"
    );
    no_zombie_children(&d);
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// The children of the daemon's main thread, where the kernel puts what it hands
/// to the daemon.
fn main_thread_children(daemon: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{daemon}/task/{daemon}/children"))
        .expect("children")
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The instances' children are the daemon's, but not its main thread's (they are
/// the `spawner` thread's): reading the main thread's children, as the reaper does
/// at every exit and stop, lists the adopted processes, not every instance too.
#[test]
fn the_main_threads_children_are_the_adopted_ones_only() {
    let (mut d, g) = adopted_grandchild("main-children", "df", "stay", "2");
    let daemon = d.pid();
    let leader = d.instance("df")["pid"].as_i64().expect("pid") as i32;
    assert_eq!(
        parent_of(leader),
        Some(daemon),
        "the instance's child is the daemon's"
    );
    let listed = main_thread_children(daemon);
    assert!(
        listed.contains(&g),
        "the adopted grandchild {g}: {listed:?}"
    );
    assert!(
        !listed.contains(&leader),
        "the instance's child {leader} is listed with the adopted: {listed:?}"
    );
    d.finish(secs(20.0));
}
