//! Backoff control (issue 8) on a real daemon: `startretries: infinite` never gives
//! up, and the event log says so. The delays `backoff: {initial, max, factor}`
//! decides are checked in-process, in the engine's tests
//! (`src/supervisor/engine_tests.rs`), from the machine's own reports rather than
//! from wall-clock gaps.

use crate::common::*;

/// Spawn times written by `stamp` (one line per spawn: `<secs> <pid>`).
fn spawn_times(path: &std::path::Path) -> Vec<f64> {
    read(path)
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn infinite_retries_keep_trying() {
    let mut d = Daemon::start(
        "backoff-inf",
        "programs:\n  q:\n    cmd: TESTPROG stamp DIR/q.stamps then exit 1\n    starttime: 0.5\n    startretries: infinite\n    backoff: {initial: 0.05, factor: 1, max: 0.05}\n",
    );
    let stamps = d.path("q.stamps");
    // Far beyond the default 3 retries, and still backing off, never FATAL.
    wait_for("20 spawns", secs(20.0), || {
        (spawn_times(&stamps).len() >= 20).then_some(())
    });
    let q = d.instance("q");
    assert!(q["state"] == "BACKOFF" || q["state"] == "STARTING", "{q}");
    assert!(d.log().contains("(no limit)"));
    assert_eq!(d.finish(secs(20.0)), 0);
}
