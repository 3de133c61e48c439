//! Process descriptors: how the daemon waits for a child's exit and tells a
//! process from a later one that got the same pid.

use std::os::fd::{BorrowedFd, OwnedFd};

use nix::errno::Errno;
use rustix::process::{Pid, PidfdFlags};

/// `pidfd_open(2)`: a descriptor that becomes readable when `pid` exits and that
/// names that process only, never a later one with a recycled pid. The result is
/// close-on-exec by definition.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // The kernel answers EINVAL for a pid that is not positive; so do we, before
    // rustix's `Pid`, which accepts no negative number (a pid read back from the
    // children journal may be anything).
    let pid = match pid {
        1.. => Pid::from_raw(pid).ok_or(Errno::EINVAL)?,
        _ => return Err(Errno::EINVAL),
    };
    rustix::process::pidfd_open(pid, PidfdFlags::empty())
        .map_err(|e| Errno::from_raw(e.raw_os_error()))
}

/// Whether the process behind `pidfd` has exited (its pidfd is readable), without
/// blocking. An error counts as "not known to have exited".
pub fn pidfd_exited(pidfd: BorrowedFd<'_>) -> bool {
    let mut poll = [nix::poll::PollFd::new(pidfd, nix::poll::PollFlags::POLLIN)];
    matches!(nix::poll::poll(&mut poll, nix::poll::PollTimeout::ZERO), Ok(n) if n > 0)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use nix::errno::Errno;

    #[test]
    fn a_pid_that_is_not_positive_is_refused_as_the_kernel_would() {
        assert_eq!(super::pidfd_open(0).err(), Some(Errno::EINVAL));
        assert_eq!(super::pidfd_open(-1).err(), Some(Errno::EINVAL));
    }

    #[test]
    fn the_pidfd_of_a_child_reads_as_exited_once_it_exits() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pidfd = super::pidfd_open(child.id() as i32).unwrap();
        assert!(!super::pidfd_exited(pidfd.as_fd()), "running");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(super::pidfd_exited(pidfd.as_fd()), "exited");
    }
}
