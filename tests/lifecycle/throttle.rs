//! `restart_throttle`: a crash loop's restarts slow down to one per `max`, and a
//! `stop` during the wait is answered at once with STOPPED.

use super::*;

/// `spawned` lines of `name` in the event log so far.
fn spawns_logged(d: &Daemon, name: &str) -> usize {
    let needle = format!("spawned: '{name}' with pid");
    d.log().lines().filter(|l| l.contains(&needle)).count()
}

#[test]
fn a_crash_loop_is_throttled_and_a_stop_during_the_wait_is_immediate() {
    let mut d = Daemon::start(
        "lc-throttle",
        "programs:
  loopy:
    cmd: TESTPROG exit 1
    starttime: 0
    autorestart: always
    restart_throttle: {after: 3, initial: 0.1, max: 1}
  ticker:
    cmd: TESTPROG exit 0 1.5
    starttime: 0
    autorestart: always
",
    );
    d.wait_log("the line saying throttling began", secs(10.0), |log| {
        log.contains(
            "loopy: restarting too often (4 exits in a row within 1 s of their spawn): \
             next restart in 0.1 s, each later one waiting twice as long, up to 1 s",
        )
    });
    // The cap: 0.1, 0.2, 0.4, 0.8, then 1 s between restarts.
    wait_for("loopy waiting 1 s to restart", secs(20.0), || {
        let i = d.instance("loopy");
        let why = i["description"].as_str().unwrap_or_default().to_string();
        (state(&i) == "BACKOFF" && why.starts_with("restarting too often: next restart in 1 s"))
            .then_some(())
    });
    // Between two reads at least two of ticker's 1.5 s lives apart, loopy restarts
    // about once a second: a handful, where an unthrottled loop makes thousands.
    let before = d.instance("loopy")["restarts"].as_u64().expect("restarts");
    let ticks = spawns_logged(&d, "ticker");
    wait_for("two more spawns of ticker", secs(20.0), || {
        (spawns_logged(&d, "ticker") >= ticks + 2).then_some(())
    });
    let after = d.instance("loopy")["restarts"].as_u64().expect("restarts");
    assert!(
        after >= before && after - before <= 10,
        "loopy restarted {} times in two of ticker's lives",
        after - before
    );

    // A stop while it waits: STOPPED, and no restart after it.
    d.wait_state("loopy", "BACKOFF", secs(10.0));
    d.command_expect("stop loopy", "loopy: stopped", secs(10.0));
    let i = d.instance("loopy");
    assert_eq!(state(&i), "STOPPED", "{i}");
    let restarts = i["restarts"].as_u64().expect("restarts");
    assert!(restarts >= after, "restarts keep counting: {i}");
    let spawned = spawns_logged(&d, "loopy");
    let ticks = spawns_logged(&d, "ticker");
    wait_for("one more spawn of ticker", secs(20.0), || {
        (spawns_logged(&d, "ticker") > ticks).then_some(())
    });
    assert_eq!(
        spawns_logged(&d, "loopy"),
        spawned,
        "no restart after the stop"
    );
    assert_eq!(state(&d.instance("loopy")), "STOPPED");
    shutdown(d);
}
