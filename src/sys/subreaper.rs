//! The daemon as its descendants' reaper (README: Running in production): the
//! kernel calls, and the `/proc` readings, that `orphans` is built on.
//!
//! As a child subreaper (`PR_SET_CHILD_SUBREAPER`), or as PID 1 of a namespace,
//! the daemon receives every descendant whose parent exits before it. The kernel
//! hands such an orphan to the first live thread of the process, which is the
//! main thread (it lives as long as the daemon does), so the daemon's adopted
//! processes are all listed in one file: `/proc/PID/task/PID/children` of the
//! main thread. The instances' children the spawn helper clones with
//! `CLONE_PARENT` are listed there too; the others (in-process spawns, alert
//! commands) are children of the thread that spawned them.
//!
//! SIGCHLD is blocked in every thread (the main thread blocks it before any other
//! exists, as it does the wake signal) and taken only by `sigwait` in the reaper's
//! thread: so its default disposition stays (a child is never reaped behind its
//! watcher's back, as SIG_IGN would do), it never interrupts another thread's
//! system call, and as PID 1 it is not discarded (the kernel drops a signal that
//! init has no handler for, unless it is blocked).

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Most pids one listing returns: a fork bomb among the adopted costs a listing
/// no more than this.
pub const MAX_LISTED: usize = 4096;

/// Makes this process the reaper of its orphaned descendants.
pub fn become_subreaper() -> Result<(), Errno> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Blocks SIGCHLD in the calling thread (and so in every thread it creates).
pub fn block_child_signal() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
}

/// Waits until a SIGCHLD is pending (some child exited or stopped), and takes it.
/// Several exits while nobody waited are one signal: the caller looks at every
/// child after each.
pub fn wait_child_signal() -> Result<(), Errno> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    set.wait().map(drop)
}

/// The children of this process's main thread: its adopted processes, the spawn
/// helper and the children the helper cloned for it (zombies included).
pub fn main_thread_children() -> Vec<i32> {
    let pid = std::process::id();
    children_file(&format!("/proc/{pid}/task/{pid}/children"))
}

/// The children of `pid`, every thread's.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path().join("children");
        out.extend(children_file(&path.to_string_lossy()));
        if out.len() >= MAX_LISTED {
            out.truncate(MAX_LISTED);
            break;
        }
    }
    out
}

fn children_file(path: &str) -> Vec<i32> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .take(MAX_LISTED)
                .collect()
        })
        .unwrap_or_default()
}

/// Reaps `pid`, a child of this process, if it has exited; never waits. Returns
/// whether it was reaped.
pub fn reap_if_exited(pid: i32) -> bool {
    matches!(
        waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)),
        Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..))
    )
}

/// What the reaper needs of `/proc/PID/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lineage {
    pub ppid: i32,
    pub session: i32,
    /// Exited, waiting to be reaped.
    pub zombie: bool,
}

/// Parses a `/proc/PID/stat` line; the command name may hold anything, so the
/// fields are counted from its last `)`.
pub fn parse_lineage(line: impl AsRef<[u8]>) -> Option<Lineage> {
    let mut fields = super::proc_stat::after_name(line.as_ref())?.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let _pgrp = fields.next()?;
    let session = fields.next()?.parse().ok()?;
    Some(Lineage {
        ppid,
        session,
        zombie: matches!(state, "Z" | "X"),
    })
}

pub fn lineage(pid: i32) -> Option<Lineage> {
    parse_lineage(std::fs::read(format!("/proc/{pid}/stat")).ok()?)
}

/// Largest environment read when looking for a variable: a process with a
/// bigger one is looked at in its first 256 KiB only.
const MAX_ENVIRON: u64 = 256 * 1024;

/// The environment `pid` was started with (what it was exec'd with: later
/// changes inside the process do not show), NUL-separated. `None` when it cannot
/// be read (another user's process, for a daemon that is not root).
pub fn environ(pid: i32) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(format!("/proc/{pid}/environ")).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_ENVIRON).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// `key`'s value in a NUL-separated environment block (the first one: that is
/// what `getenv` finds).
pub fn find_variable(block: &[u8], key: &str) -> Option<String> {
    block.split(|&b| b == 0).find_map(|entry| {
        let value = entry.strip_prefix(key.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(value).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lineage_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let line = "4242 (a (b) c) S 17 4242 4240 0 -1 4194560 0 0";
        assert_eq!(
            parse_lineage(line),
            Some(Lineage {
                ppid: 17,
                session: 4240,
                zombie: false
            })
        );
        assert!(parse_lineage("9 (x) Z 1 9 9 0").unwrap().zombie);
        assert_eq!(parse_lineage("9 (x) S"), None);
    }

    #[test]
    fn a_variable_is_found_whole_and_first() {
        let block = b"A=1\0TASK=no\0TASKMASTER_PROCESS_NAME=web:0\0TASKMASTER_PROCESS_NAME=x\0";
        assert_eq!(
            find_variable(block, "TASKMASTER_PROCESS_NAME").as_deref(),
            Some("web:0")
        );
        assert_eq!(find_variable(block, "TASK").as_deref(), Some("no"));
        assert_eq!(find_variable(block, "B"), None);
    }

    #[test]
    fn the_lineage_of_a_process_whose_name_is_not_utf8_is_read() {
        let sleep = crate::testutil::OddlyNamedSleep::start();
        let me = std::process::id() as i32;
        assert!(lineage(sleep.pid()).is_some_and(|l| l.ppid == me && !l.zombie));
    }

    #[test]
    fn our_own_environment_and_lineage_are_read() {
        let me = std::process::id() as i32;
        assert!(lineage(me).is_some_and(|l| !l.zombie));
        let env = environ(me).unwrap();
        assert_eq!(
            find_variable(&env, "PATH"),
            std::env::var("PATH").ok(),
            "as we were started"
        );
    }
}
