//! The resident memory of one instance's process group, read for `max_memory`
//! every second per limited instance — so without the pass over all of `/proc`
//! that `status` makes (`proc_stat::group_usage`): with a thousand limited
//! instances on a busy host, that would be a thousand passes over every process
//! a second.
//!
//! Instead the group is found from its leader (the instance's child, whose pid is
//! the group's id) down: `/proc/PID/task/TID/children` lists the children each
//! thread made, so the walk reads the `stat` and the `children` of the group's
//! processes and of their descendants only. Each `stat` has the process group and
//! the resident pages; what counts is every live descendant still in the group
//! (one that moved to a group or session of its own is not stopped with the
//! instance either, so its memory is not the instance's).
//!
//! What the walk cannot see: a member of the group whose parent exited before it
//! (re-parented to init or a subreaper, it is no descendant of the leader any
//! more). A daemonising child that stays in the group is missed that way;
//! `status` counts it. The kernel's `children` file exists when it is built
//! with `CONFIG_PROC_CHILDREN` (every major distribution's kernel is); without it,
//! the group is found by the pass over `/proc` after all.

use std::io;

use super::proc_stat;

/// Most processes one reading visits: a fork bomb inside a group costs a check
/// no more than this many small reads (what lies beyond is not counted).
pub const MAX_VISITED: usize = 4096;

/// Resident bytes of the live members of the group `pgid` that descend from its
/// leader `pgid` (itself included); 0 when the leader is gone.
pub fn group_rss(pgid: i32) -> u64 {
    let page_size = proc_stat::page_size();
    let mut pending = vec![pgid];
    let mut visited = 0;
    let mut rss_bytes: u64 = 0;
    while let Some(pid) = pending.pop() {
        visited += 1;
        let Some(stat) = proc_stat::read_stat(pid) else {
            continue;
        };
        if stat.pgrp == pgid && !matches!(stat.state, 'Z' | 'X') {
            rss_bytes = rss_bytes.saturating_add(stat.rss_pages.saturating_mul(page_size));
        }
        let room = MAX_VISITED.saturating_sub(visited + pending.len());
        match children(pid, stat.threads, room, &mut pending) {
            Ok(()) => {}
            // No `children` files in this kernel: the whole pass, once.
            Err(e) if pid == pgid && e.kind() == io::ErrorKind::NotFound && alive(pid) => {
                return proc_stat::group_usage(&[pgid])
                    .get(&pgid)
                    .map_or(0, |usage| usage.rss_bytes);
            }
            // The process ended meanwhile: its children (if any lived on) went
            // to a reaper outside the walk.
            Err(_) => {}
        }
    }
    rss_bytes
}

/// Adds to `out` (at most `room` of) the children of `pid`, which has `threads`
/// threads: one thread's file for a single-threaded process, else every thread's.
fn children(pid: i32, threads: u64, room: usize, out: &mut Vec<i32>) -> io::Result<()> {
    if threads <= 1 {
        return read_children(&format!("/proc/{pid}/task/{pid}/children"), room, out);
    }
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
        let path = task.path().join("children");
        let left = room.saturating_sub(out.len());
        // A thread that ended during the walk just has no file any more.
        let _ = read_children(&path.to_string_lossy(), left, out);
    }
    Ok(())
}

/// The pids of one `children` file (space-separated), at most `room` of them.
fn read_children(path: &str, room: usize, out: &mut Vec<i32>) -> io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    out.extend(
        text.split_whitespace()
            .filter_map(|pid| pid.parse::<i32>().ok())
            .take(room),
    );
    Ok(())
}

/// Whether `pid` still exists (its `/proc` directory does).
fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    use super::*;

    /// A shell in a group of its own whose grandchild (a second shell's child)
    /// holds `mib` MiB: it fills a variable of that size, then sleeps.
    fn group_with_grandchild(mib: usize) -> std::process::Child {
        let script = format!(
            "sh -c 'x=$(head -c {} /dev/zero | tr \"\\\\0\" a); echo ready; sleep 60' & wait",
            mib << 20
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap()
    }

    #[test]
    fn a_grandchild_in_the_group_counts() {
        use std::io::BufRead;
        let mut child = group_with_grandchild(64);
        let pgid = child.id() as i32;
        let mut line = String::new();
        let out = child.stdout.take().unwrap();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        let rss = group_rss(pgid);
        let leader_alone = proc_stat::read_stat(pgid).unwrap().rss_pages * proc_stat::page_size();
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = child.wait();
        assert!(rss >= 64 << 20, "group rss {rss}");
        assert!(leader_alone < 16 << 20, "leader alone {leader_alone}");
    }

    #[test]
    fn a_group_whose_leader_is_gone_holds_nothing() {
        assert_eq!(group_rss(i32::MAX), 0);
    }
}
