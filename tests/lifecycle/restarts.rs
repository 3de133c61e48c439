//! Restarts: a crash while RUNNING, and the autorestart policies.

use super::{shutdown, sigkill, stamps, state};
use crate::common::*;

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

// ---- a crash loop in the event log --------------------------------------------------------

/// Counts of the crash-loop lines of `name` in the event log: (written, summarised)
/// per kind, as [spawned, entered RUNNING, exited].
fn loop_lines(log: &str, name: &str) -> ([u64; 3], [u64; 3]) {
    let (mut written, mut counted) = ([0; 3], [0; 3]);
    for line in log.lines() {
        if line.contains(&format!("spawned: '{name}' with pid")) {
            written[0] += 1;
        } else if line.contains(&format!("success: {name} entered RUNNING")) {
            written[1] += 1;
        } else if line.contains(&format!("exited: {name} (")) {
            written[2] += 1;
        } else if let Some(rest) = line
            .split_once(&format!(" {name}: "))
            .and_then(|(_, r)| r.strip_suffix(" in the last second"))
        {
            for part in rest.split(", ") {
                let (n, what) = part
                    .split_once(" more ")
                    .unwrap_or_else(|| panic!("bad summary part {part:?} in {line:?}"));
                let n: u64 = n.parse().expect("summary count");
                let kind = match what {
                    "spawns" | "spawn" => 0,
                    "entered RUNNING" => 1,
                    w if w.starts_with("exit") => 2,
                    _ => panic!("unknown summary part {part:?}"),
                };
                counted[kind] += n;
            }
        }
    }
    (written, counted)
}

#[test]
fn a_crash_loop_is_counted_in_the_event_log_not_written_line_by_line() {
    let mut d = Daemon::start(
        "lc-loop",
        "programs:\n  loopy:\n    cmd: TESTPROG exit 1\n    starttime: 0\n    autorestart: always\n    restart_throttle: false\n",
    );
    wait_for("2000 restarts", secs(120.0), || {
        (d.instance("loopy")["restarts"].as_u64().unwrap_or(0) >= 2000).then_some(())
    });
    d.command_expect("stop loopy", "loopy: stopped", secs(10.0));
    let restarts = d.instance("loopy")["restarts"].as_u64().expect("restarts");
    let log = d.log();
    // The stop's own lines are never held back, and come after the summary.
    let summary_at = log.rfind(" more ").expect("a summary line");
    let stop_at = log.find("stopping: loopy").expect("the stop line");
    assert!(summary_at < stop_at, "the summary comes before the stop");
    assert!(log.contains("stopped: loopy"), "{log}");

    let (written, counted) = loop_lines(&log, "loopy");
    // Every spawn (the first one too) and every exit but the stopped one is accounted
    // for, written or counted.
    let spawns = restarts + 1;
    assert_eq!(
        written[0] + counted[0],
        spawns,
        "spawns: {written:?} {counted:?}"
    );
    assert_eq!(
        written[1] + counted[1],
        spawns,
        "RUNNING: {written:?} {counted:?}"
    );
    assert_eq!(
        written[2] + counted[2],
        restarts,
        "exits: {written:?} {counted:?}"
    );
    // At most 3 lines of each kind and one summary a second: counted by the second
    // of each line's stamp, a second of the clock may hold the end of one of the
    // limiter's seconds and the start of the next. (A bound on the lines against
    // the restarts would depend on how fast this machine restarts.)
    let mut per_second: std::collections::BTreeMap<&str, [u64; 4]> = Default::default();
    for line in log.lines().filter(|l| l.contains("loopy")) {
        let (written, _) = loop_lines(line, "loopy");
        let summary = line.ends_with(" in the last second");
        let second = line.get(..19).expect("a stamped line");
        let counts = per_second.entry(second).or_default();
        for kind in 0..3 {
            counts[kind] += written[kind];
        }
        counts[3] += u64::from(summary);
    }
    for (second, counts) in &per_second {
        assert!(
            counts[..3].iter().all(|&n| n <= 6) && counts[3] <= 2,
            "at {second}: {counts:?} lines (spawned, RUNNING, exited, summaries)"
        );
    }
    assert!(counted.iter().sum::<u64>() > 0, "nothing was counted");
    shutdown(d);
}
