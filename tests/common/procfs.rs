//! What /proc says of processes: alive or a zombie, parents and process groups,
//! the daemon's spawn helper, descriptor and thread counts, this process's umask.

use std::time::Duration;

use super::{secs, wait_for};

/// Is `pid` a live process (not a zombie)?
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_string));
            !matches!(state.as_deref(), Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// Is `pid` a zombie?
pub fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rfind(')')
                .is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Live processes (not zombies) whose process group is one of `pgids`, from /proc.
pub fn live_in_groups(pgids: &[i32]) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().take(3).collect();
        let pgrp = fields.get(2).and_then(|g| g.parse::<i32>().ok());
        let live = !matches!(fields.first(), Some(&"Z") | Some(&"X"));
        if live && pgrp.is_some_and(|g| pgids.contains(&g)) {
            out.push(p);
        }
    }
    out
}

/// Direct children of `pid`, from /proc.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1)?.parse::<i32>().ok());
            if ppid == Some(pid) {
                out.push(p);
            }
        }
    }
    out
}

/// Whether `pid` runs `taskmaster --spawn-helper`: the daemon's child that clones
/// the programs' processes, beside them among its children.
pub fn is_spawn_helper(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .any(|arg| arg == b"--spawn-helper")
}

/// The daemon's children that run programs: all but its spawn helper.
pub fn program_children_of(daemon: i32) -> Vec<i32> {
    children_of(daemon)
        .into_iter()
        .filter(|&p| !is_spawn_helper(p))
        .collect()
}

/// This process's umask, read without changing it (umask(2) would race other tests).
pub fn current_umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("Umask line in /proc/self/status");
    u32::from_str_radix(line.trim(), 8).expect("octal umask")
}

/// How many descriptors `pid` holds.
pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// How many threads `pid` runs.
pub fn thread_count(pid: i32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok())
        .unwrap_or(0)
}

/// The daemon's (descriptors, threads), once 5 readings 100 ms apart agree.
pub fn quiet_counts(pid: i32) -> (usize, usize) {
    let mut last = (fd_count(pid), thread_count(pid));
    let mut same = 0;
    wait_for(
        "the daemon's fd and thread counts to settle",
        secs(20.0),
        || {
            std::thread::sleep(Duration::from_millis(100));
            let now = (fd_count(pid), thread_count(pid));
            same = if now == last { same + 1 } else { 0 };
            last = now;
            (same >= 4).then_some(now)
        },
    )
}
