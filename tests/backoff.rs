//! Backoff control (issue 8): `backoff: {initial, max, factor}` spaces failed
//! starts exponentially, and `startretries: infinite` never gives up. The gaps are
//! measured from the timestamps the children write themselves.

use crate::common::*;

/// Spawn times written by `stamp` (one line per spawn: `<secs> <pid>`).
fn spawn_times(path: &std::path::Path) -> Vec<f64> {
    read(path)
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn exponential_backoff_intervals_are_measured() {
    let mut d = Daemon::start(
        "backoff",
        "programs:\n  q:\n    cmd: TESTPROG stamp DIR/q.stamps then exit 1\n    starttime: 0.5\n    startretries: 4\n    backoff: {initial: 0.2, factor: 2, max: 0.6}\n",
    );
    d.wait_state("q", "FATAL", secs(20.0));
    let t = spawn_times(&d.path("q.stamps"));
    assert_eq!(t.len(), 5, "1 start + 4 retries: {t:?}");
    // Retry n waits min(0.2 × 2^(n-1), 0.6) after the failure, which comes within a
    // few ms of the spawn (the child exits at once).
    for (gap, expected) in t.windows(2).map(|w| w[1] - w[0]).zip([0.2, 0.4, 0.6, 0.6]) {
        assert!(
            (expected..expected + 0.15).contains(&gap),
            "gap {gap:.3}s, expected {expected}s (+ up to 150 ms): {t:?}"
        );
    }
    assert_eq!(d.finish(secs(20.0)), 0);
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
