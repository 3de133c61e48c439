//! What /proc says of the processes the run deals with: state, parent, process
//! group and start time (a pid reused by a later process is told apart by it), the
//! daemon's children, and every process carrying the run's marker variable.

use crate::common::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc {
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    /// Start time in clock ticks since boot: tells a process from a later one that
    /// got the same pid.
    pub start: u64,
}

impl Proc {
    pub fn live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

pub fn proc_info(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Proc {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// The same process (pid and start time) is still there and not a zombie.
pub fn still_alive(pid: i32, start: u64) -> bool {
    proc_info(pid).is_some_and(|p| p.start == start && p.live())
}

pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .trim_end_matches('\0')
                .replace('\0', " ")
        })
        .unwrap_or_default()
}

pub fn describe_pid(pid: i32) -> String {
    match proc_info(pid) {
        Some(p) => format!(
            "pid {pid}: state {} ppid {} pgrp {} cmd {:?}",
            p.state,
            p.ppid,
            p.pgrp,
            cmdline(pid)
        ),
        None => format!("pid {pid}: gone from /proc"),
    }
}

pub fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Direct children of `parent` that run programs (not its spawn helper), with
/// their /proc facts.
pub fn children(parent: i32) -> Vec<(i32, Proc)> {
    all_pids()
        .into_iter()
        .filter(|&p| !is_spawn_helper(p))
        .filter_map(|p| Some((p, proc_info(p)?)))
        .filter(|(_, i)| i.ppid == parent)
        .collect()
}

/// Live processes whose environment carries this run's marker: every child and
/// grandchild the daemon started for this test, whoever their parent is now.
pub fn marked(token: &str) -> Vec<(i32, Proc)> {
    let needle = format!("CHAOS_MARK={token}\0");
    all_pids()
        .into_iter()
        .filter(|&p| !is_spawn_helper(p))
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .filter_map(|p| Some((p, proc_info(p)?)))
        .filter(|(_, i)| i.live())
        .collect()
}
