//! Process groups: every child is a session leader, so signalling a child means
//! signalling its group, and a stop waits until no member is left alive.

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Sends `sig` to the process group led by `pgid` (our children are session
/// leaders, so their pid is their group). A group already gone is not an error.
pub fn signal_group(pgid: i32, sig: Signal) -> Result<(), Errno> {
    match killpg(Pid::from_raw(pgid), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The live members of a process group. `killpg(pgid, 0)` alone is not enough:
/// members that already died but wait, as zombies, for init to reap them still
/// count for the kernel. So when it says yes, `/proc` is asked which members are
/// more than zombies (a scan that only a stop with survivors pays for).
pub fn group_members(pgid: i32) -> Vec<i32> {
    if killpg(Pid::from_raw(pgid), None).is_err() {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            crate::sys::proc_stat::read_stat(pid).is_some_and(|s| s.pgrp == pgid && !s.exited())
        })
        .collect()
}

/// Whether any process of the group is still alive (not a zombie).
pub fn group_alive(pgid: i32) -> bool {
    !group_members(pgid).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_whose_name_is_not_utf8_is_a_member() {
        let sleep = crate::testutil::OddlyNamedSleep::start();
        assert_eq!(group_members(sleep.pid()), vec![sleep.pid()]);
        assert!(group_alive(sleep.pid()));
    }
}
