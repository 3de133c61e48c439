//! `top`'s request: one snapshot of every instance — state, pid, uptime, CPU,
//! memory, restarts, last line of output — and of the daemon itself, typed
//! ([`TopSnapshot`]) in `data`, as plain text in `output`. The live view
//! (`crate::top`) asks for one each second while it is open, and only then; one
//! request covers every instance: one pass over `/proc` (the resources sampler,
//! as `status`) and at most [`LAST_BYTES`] read per instance for its last line.

use std::sync::Arc;

use super::protocol::{TopDaemon, TopInstance, TopSnapshot, TOP_LINE_MAX};
use super::Reply;
use crate::output::printable;
use crate::supervisor::Supervisor;
use crate::sys::proc_stat;

/// The end of an instance's output read to find its last line: a line longer
/// than this shows its end (the part the program printed last).
const LAST_BYTES: usize = 4096;

pub fn top(sup: &Arc<Supervisor>, args: &[String]) -> Reply {
    if !args.is_empty() {
        return Reply::usage("Error: top accepts no arguments");
    }
    let snapshot = snapshot(sup);
    let text = crate::top::model::snapshot_text(&snapshot);
    Reply {
        data: super::protocol::raw_data(&snapshot),
        ..Reply::ok(text)
    }
}

/// Every instance, in the registry's order, and the daemon.
pub fn snapshot(sup: &Arc<Supervisor>) -> TopSnapshot {
    let rows: Vec<_> = sup
        .instances()
        .into_iter()
        .map(|i| (i.status(), i))
        .collect();
    let pgids: Vec<i32> = rows.iter().filter_map(|(s, _)| s.pid).collect();
    let usage = sup.resources().usage(&pgids);
    let instances = rows
        .iter()
        .map(|(s, i)| {
            let used = s.pid.and_then(|pid| usage.get(&pid));
            TopInstance {
                name: i.name(),
                state: s.state.name().to_string(),
                pid: s.pid,
                uptime_s: s.uptime().map(|d| d.as_secs_f64()),
                cpu_percent: used.map(|u| u.cpu_percent),
                memory_bytes: used.map(|u| u.memory_bytes),
                restarts: s.restarts,
                health: s.health.map(|h| h.name().to_string()),
                last_line: printable::last_line(&i.output.newest(LAST_BYTES), TOP_LINE_MAX),
            }
        })
        .collect();
    TopSnapshot {
        daemon: daemon(),
        instances,
    }
}

/// The daemon's own line: its `/proc/PID/stat` and its spawn helper's, two small
/// reads. The helper does the daemon's part of every start, so its CPU time and
/// memory are counted as the daemon's (as `bench/run` counts them).
fn daemon() -> TopDaemon {
    let pid = std::process::id();
    let own = proc_stat::read_stat(pid as i32);
    let helper = crate::watch::spawner::helper_pid().and_then(proc_stat::read_stat);
    let with_helper =
        |of: fn(&proc_stat::ProcStat) -> u64| own.map(|s| of(&s) + helper.as_ref().map_or(0, of));
    let ticks = proc_stat::ticks_per_second() as f64;
    TopDaemon {
        pid,
        uptime_s: super::daemon_status::uptime().as_secs_f64(),
        cpu_seconds: with_helper(|s| s.cpu_ticks).map(|t| t as f64 / ticks),
        memory_bytes: with_helper(|s| s.rss_pages).map(|p| p * proc_stat::page_size()),
    }
}
