//! `status -l`: the daemon's own lines before the instances' table — its pid and
//! uptime, and the bounded resources it holds for others (control connections,
//! alert commands), with what the bounds turned away since it started.

use std::sync::OnceLock;
use std::time::Instant;

use serde_json::json;

use super::connections::Connections;
use super::status::format_uptime;
use crate::supervisor::Supervisor;

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Remembers when the daemon started (its uptime in `status -l`).
pub fn mark_started() {
    let _ = STARTED.get_or_init(Instant::now);
}

/// How long the daemon has run.
pub fn uptime() -> std::time::Duration {
    STARTED.get_or_init(Instant::now).elapsed()
}

fn fd_limit() -> Option<u64> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// The daemon's lines, as `status -l` prints them.
pub fn lines(sup: &Supervisor, connections: &Connections) -> Vec<String> {
    let limit = fd_limit().map_or("unknown".to_string(), |n| n.to_string());
    let open = crate::sys::fds::open_count().map_or("unknown".to_string(), |n| n.to_string());
    let c = connections.stats(sup);
    let mut conns = format!(
        "connections: {} open (max {}); since start: {} refused, {} closed idle, {} served inline",
        c.open, c.max, c.refused, c.idle_closed, c.served_inline
    );
    if let Some((error, attempts)) = &c.accept_failing {
        conns.push_str(&format!("; accept failing: {error} ({attempts} attempts)"));
    }
    let a = sup.hub().notifier().stats();
    let alerts = format!(
        "alerts: {} running (at most {}); since start: {} run, {} killed after timeout, \
         {} not run (over max_per_minute, or while {} ran)",
        a.running,
        crate::notify::MAX_RUNNING,
        a.run,
        a.killed_after_timeout,
        a.not_run,
        crate::notify::MAX_RUNNING
    );
    vec![
        format!(
            "taskmaster: pid {}, uptime {}, fd limit {limit}, {open} open",
            std::process::id(),
            format_uptime(uptime())
        ),
        conns,
        alerts,
    ]
}

/// The `"daemon"` object of `status -l --json`.
pub fn to_json(sup: &Supervisor, connections: &Connections) -> serde_json::Value {
    let c = connections.stats(sup);
    let a = sup.hub().notifier().stats();
    json!({
        "pid": std::process::id(),
        "uptime_s": (uptime().as_secs_f64() * 1000.0).round() / 1000.0,
        "fd_limit": fd_limit(),
        "fds_open": crate::sys::fds::open_count(),
        "connections": {
            "open": c.open,
            "max": c.max,
            "refused": c.refused,
            "idle_closed": c.idle_closed,
            "served_inline": c.served_inline,
            "accept_failing": c.accept_failing.map(|(error, attempts)| json!({
                "error": error,
                "attempts": attempts,
            })),
        },
        "alerts": {
            "running": a.running,
            "max_running": crate::notify::MAX_RUNNING,
            "run": a.run,
            "killed_after_timeout": a.killed_after_timeout,
            "not_run": a.not_run,
        },
    })
}
