//! File descriptors: the pipes the daemon makes, and the process-wide hygiene it
//! applies once at start so that children inherit nothing but their 0–2.

use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// A close-on-exec pipe, `(read, write)`.
pub fn pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC)
}

/// Children must inherit nothing but 0–2 (README: Security). Everything taskmaster opens is
/// close-on-exec already; this covers what it was *given* by whoever started it.
pub fn mark_inherited_fds_cloexec() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: fcntl on a possibly-closed fd (the read_dir one) fails harmlessly.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}

/// If taskmaster was started with 0, 1 or 2 closed, a pipe made later could land
/// there and be clobbered by the spawn's `dup2`s: park `/dev/null` on them.
///
/// `open` returns the lowest free number, so opening `/dev/null` until the result
/// is above 2 fills exactly the closed ones (called at start, with one thread).
pub fn ensure_std_fds_open() {
    let open_null = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
    };
    while let Ok(null) = open_null() {
        if null.as_raw_fd() > 2 {
            break;
        }
        // It stands in for a standard stream from now on: never closed.
        let _ = null.into_raw_fd();
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit: a running instance holds three
/// descriptors (its child's pidfd and the read ends of its stdout and stderr; a pty
/// child's master instead of the two), plus its log files. Returns the new soft
/// limit.
pub fn raise_nofile_limit() -> Option<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).ok()?;
    }
    Some(hard)
}

/// Descriptors the process has open now (`/proc/self/fd`), if it can tell.
pub fn open_count() -> Option<u64> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    // The directory's own descriptor is listed too: one more than held.
    Some((dir.count() as u64).saturating_sub(1))
}
