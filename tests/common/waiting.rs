//! The waits of the tests: every one is a condition polled until a deadline, so no
//! test synchronises with a bare sleep.

use std::path::Path;
use std::time::{Duration, Instant};

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
    poll_until(timeout, Duration::from_millis(10), f)
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// The one deadline loop of the tests: calls `f` until it returns `Some`, sleeping
/// `every` between calls; `None` once `timeout` has passed without it. [`wait_for`]
/// panics with a plain message; a caller that reports what it saw last (kept by `f`)
/// uses this and panics with its own.
pub fn poll_until<T>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Asserts that `f` stays true for `how_long` (checked every 20 ms).
pub fn assert_stays(what: &str, how_long: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + how_long;
    loop {
        assert!(f(), "{what} did not hold for {how_long:?}");
        if Instant::now() >= end {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `path` exists and its content satisfies `pred`; returns the content.
pub fn wait_file(path: &Path, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
    wait_for(&format!("content of {}", path.display()), timeout, || {
        let text = std::fs::read_to_string(path).ok()?;
        pred(&text).then_some(text)
    })
}
