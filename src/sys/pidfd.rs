//! Process descriptors: how the daemon waits for a child's exit and tells a
//! process from a later one that got the same pid.

use std::os::fd::{BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::libc;

/// `pidfd_open(2)`: a descriptor that becomes readable when `pid` exits and that
/// names that process only, never a later one with a recycled pid. The result is
/// close-on-exec by definition.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this new descriptor; we are its only owner.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as std::os::fd::RawFd) })
}

/// Whether the process behind `pidfd` has exited (its pidfd is readable), without
/// blocking. An error counts as "not known to have exited".
pub fn pidfd_exited(pidfd: BorrowedFd<'_>) -> bool {
    let mut poll = [nix::poll::PollFd::new(pidfd, nix::poll::PollFlags::POLLIN)];
    matches!(nix::poll::poll(&mut poll, nix::poll::PollTimeout::ZERO), Ok(n) if n > 0)
}
