//! CPU and memory of each instance, as `status` shows them — sampled from `/proc`
//! only when asked, at most once a second.
//!
//! CPU % is a rate, so it needs two looks: the share of one CPU the instance's
//! group used between the previous sample and this one. An instance seen for the
//! first time gets its average since its process started instead (as `ps` shows),
//! so the first `status` already has a number. A sample younger than a second is
//! reused, which keeps a script that polls `status` in a loop from paying a pass
//! over `/proc` each time and gives the rate a span long enough to mean something.
//!
//! The remembered samples are those of the groups asked about last time only, so
//! the state is bounded by the number of instances.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::sys::proc_stat::{self, GroupUsage};

/// A sample younger than this is reused.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// What one instance's process group uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Share of one CPU, in percent (200 = two CPUs busy).
    pub cpu_percent: f64,
    /// CPU time of the group's live processes and of the children they reaped.
    pub cpu_seconds: f64,
    /// Resident memory of the whole group.
    pub memory_bytes: u64,
    pub threads: u64,
    pub processes: u64,
}

#[derive(Default)]
struct Sample {
    taken: Option<Instant>,
    /// By process group: its usage then and the rate computed then.
    groups: HashMap<i32, (GroupUsage, f64)>,
}

/// The daemon's one sampler (in `Supervisor`).
#[derive(Default)]
pub struct Resources {
    last: Mutex<Sample>,
}

impl Resources {
    /// The usage of the groups led by `pgids` (each instance's child leads its
    /// group); a group with no live process is absent.
    pub fn usage(&self, pgids: &[i32]) -> HashMap<i32, Usage> {
        let ticks = proc_stat::ticks_per_second() as f64;
        let mut last = self.last.lock();
        let now = Instant::now();
        let fresh = last
            .taken
            .is_some_and(|t| now.duration_since(t) < MIN_INTERVAL)
            && pgids.iter().all(|p| last.groups.contains_key(p));
        if !fresh {
            let since = last.taken.map(|t| now.duration_since(t).as_secs_f64());
            let boot = proc_stat::seconds_since_boot();
            let groups = proc_stat::group_usage(pgids)
                .into_iter()
                .map(|(pgid, usage)| {
                    let previous = last.groups.get(&pgid).map(|(u, _)| u.cpu_ticks);
                    let percent = match (previous, since) {
                        (Some(before), Some(secs)) if secs > 0.0 => {
                            usage.cpu_ticks.saturating_sub(before) as f64 / ticks / secs * 100.0
                        }
                        _ => lifetime_percent(pgid, usage.cpu_ticks, ticks, boot),
                    };
                    (pgid, (usage, percent))
                })
                .collect();
            *last = Sample {
                taken: Some(now),
                groups,
            };
        }
        pgids
            .iter()
            .filter_map(|pgid| {
                let (usage, percent) = last.groups.get(pgid)?;
                Some((
                    *pgid,
                    Usage {
                        cpu_percent: (percent * 10.0).round() / 10.0,
                        cpu_seconds: usage.cpu_ticks as f64 / ticks,
                        memory_bytes: usage.rss_bytes,
                        threads: usage.threads,
                        processes: usage.processes,
                    },
                ))
            })
            .collect()
    }
}

/// The group's CPU time over the leader's lifetime: the rate when there is no
/// earlier sample to compare with.
fn lifetime_percent(leader: i32, cpu_ticks: u64, ticks: f64, boot: Option<f64>) -> f64 {
    let started = proc_stat::read_stat(leader).map(|s| s.start_ticks as f64 / ticks);
    match (started, boot) {
        (Some(started), Some(now)) if now - started > 0.0 => {
            cpu_ticks as f64 / ticks / (now - started) * 100.0
        }
        _ => 0.0,
    }
}

/// `12.3 MiB`-style, for the status line.
pub fn format_bytes(bytes: u64) -> String {
    let mut out = String::new();
    write_bytes(&mut out, bytes);
    out
}

/// `format_bytes`, appended to `out` (a table of many rows builds one String).
pub fn write_bytes(out: &mut String, bytes: u64) {
    use std::fmt::Write as _;
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let _ = match unit {
        0 => write!(out, "{bytes} B"),
        _ => write!(out, "{value:.1} {}", UNITS[unit]),
    };
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(12 * 1024 * 1024 + 300 * 1024), "12.3 MiB");
        assert_eq!(format_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn a_busy_child_shows_cpu_and_memory_and_a_gone_one_nothing() {
        // A child of our own in a group of its own, spinning.
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("while :; do :; done")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        let resources = Resources::default();
        let deadline = Instant::now() + Duration::from_secs(30);
        // Once it has run for a few ticks, its rate shows (the first look is its
        // lifetime average, the later ones the rate between looks).
        let usage = loop {
            let usage = resources.usage(&[pgid]);
            let found = usage.get(&pgid).copied().unwrap();
            if found.cpu_seconds > 0.0 && found.cpu_percent > 0.0 {
                break found;
            }
            assert!(Instant::now() < deadline, "no CPU seen: {found:?}");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(usage.memory_bytes > 0);
        assert_eq!(usage.processes, 1);
        assert!(usage.threads >= 1);
        child.kill().unwrap();
        child.wait().unwrap();
        // A sample may be reused for a second; after that the group is gone.
        while !resources.usage(&[pgid]).is_empty() {
            assert!(Instant::now() < deadline, "a reaped group still has usage");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
