//! Process lifecycle (README: Process states) and its event log (README: Output and the event log), observed on a real daemon:
//! autorestart policies, backoff and FATAL, the starttime and stoptime deadlines, stop
//! signals, process-group cleanup, spawn errors and the start/stop/restart replies.
//!
//! No test sleeps blindly: each waits for a condition with a deadline, or asserts that a
//! condition holds for a stretch of time (`assert_stays`).

mod commands;
mod groups;
mod restarts;
mod startup;
mod stopping;
mod throttle;

use crate::common::*;

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

// ---- helpers --------------------------------------------------------------------------

/// The `<unix time> <pid>` lines a `stamp FILE` child appended.
pub fn stamps(path: &Path) -> Vec<(f64, i32)> {
    read(path)
        .lines()
        .map(|l| {
            let (t, pid) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("bad stamp line {l:?}"));
            (
                t.parse().expect("stamp time"),
                pid.parse().expect("stamp pid"),
            )
        })
        .collect()
}

/// Sends `line` and waits until every one of `expected` has been printed after it (in
/// any order); returns how long that took.
pub fn command_lines(d: &mut Daemon, line: &str, expected: &[&str], timeout: Duration) -> Duration {
    let mark = d.mark();
    let t0 = Instant::now();
    d.send(line);
    wait_for(
        &format!("replies {expected:?} to {line:?}"),
        timeout,
        || {
            let lines = d.lines.lock().unwrap();
            expected
                .iter()
                .all(|e| lines[mark..].iter().any(|l| l == e))
                .then_some(())
        },
    );
    t0.elapsed()
}

/// Sends `line`, waits for the reply `expected`; returns how long it took.
pub fn timed_command(d: &mut Daemon, line: &str, expected: &str, timeout: Duration) -> Duration {
    let t0 = Instant::now();
    d.command_expect(line, expected, timeout);
    t0.elapsed()
}

pub fn state(i: &Value) -> &str {
    i["state"].as_str().unwrap_or("?")
}

pub fn sigkill(pid: i32) {
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill -9");
}

/// Pids listed in a `fork N PIDFILE` child's pid file, once it has `n` of them.
pub fn wait_pids(path: &Path, n: usize) -> Vec<i32> {
    wait_for(
        &format!("{n} pids in {}", path.display()),
        secs(10.0),
        || {
            let pids: Vec<i32> = read(path)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            (pids.len() == n).then_some(pids)
        },
    )
}

pub fn wait_file_contains(path: &Path, text: &str) {
    wait_for(
        &format!("{text:?} in {}", path.display()),
        secs(10.0),
        || read(path).contains(text).then_some(()),
    );
}

pub fn shutdown(mut d: Daemon) {
    assert_eq!(d.finish(secs(20.0)), 0, "taskmaster exit code at shutdown");
}
