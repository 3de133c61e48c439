//! Thin wrappers over the few system calls nix lacks (pidfd), and the process-wide
//! hygiene the daemon applies once at start.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::libc;
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Stack size for every thread the daemon starts: watchers and pumps do little but
/// block, and thousands of them must fit in a small RSS (docs/ARCHITECTURE.md, Threads).
pub const THREAD_STACK: usize = 128 * 1024;

/// A close-on-exec pipe, `(read, write)`.
pub fn pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC)
}

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
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether the process behind `pidfd` has exited (its pidfd is readable), without
/// blocking. An error counts as "not known to have exited".
pub fn pidfd_exited(pidfd: std::os::fd::BorrowedFd<'_>) -> bool {
    let mut poll = [nix::poll::PollFd::new(pidfd, nix::poll::PollFlags::POLLIN)];
    matches!(nix::poll::poll(&mut poll, nix::poll::PollTimeout::ZERO), Ok(n) if n > 0)
}

/// Sends `sig` to the process group led by `pgid` (our children are session
/// leaders, so their pid is their group). A group already gone is not an error.
pub fn signal_group(pgid: i32, sig: nix::sys::signal::Signal) -> Result<(), Errno> {
    match nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The live members of a process group. `killpg(pgid, 0)` alone is not enough:
/// members that already died but wait, as zombies, for init to reap them still
/// count for the kernel. So when it says yes, `/proc` is asked which members are
/// more than zombies (a scan that only a stop with survivors pays for).
pub fn group_members(pgid: i32) -> Vec<i32> {
    if nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_err() {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // `pid (comm) state ppid pgrp ...`; comm may contain anything, so parse
            // from its closing parenthesis.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
            pgrp == Some(pgid) && state != Some("Z") && state != Some("X")
        })
        .collect()
}

/// Whether any process of the group is still alive (not a zombie).
pub fn group_alive(pgid: i32) -> bool {
    !group_members(pgid).is_empty()
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
pub fn ensure_std_fds_open() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only probes the descriptor.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                if null.as_raw_fd() != fd {
                    // SAFETY: dup2 onto a free low descriptor.
                    unsafe { libc::dup2(null.as_raw_fd(), fd) };
                } else {
                    std::mem::forget(null);
                }
            }
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit: each instance needs several
/// descriptors (pidfd, wake fd, three pipes, log files). Returns the new soft limit.
pub fn raise_nofile_limit() -> Option<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).ok()?;
    }
    Some(hard)
}

/// A signal by name, with or without `SIG`, any case (`TERM`, `SIGUSR1`, `int`), or
/// by number. Shared by the config's `stopsignal` and the `signal` command.
pub fn parse_signal(text: &str) -> Option<nix::sys::signal::Signal> {
    use std::str::FromStr;
    let text = text.trim();
    if let Ok(n) = text.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).ok();
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if bare.is_empty() {
        return None;
    }
    nix::sys::signal::Signal::from_str(&format!("SIG{bare}")).ok()
}

/// Signal names for completion and messages, without the `SIG` prefix.
pub fn signal_names() -> Vec<&'static str> {
    nix::sys::signal::Signal::iterator()
        .map(|s| s.as_str().trim_start_matches("SIG"))
        .collect()
}

/// `t` broken down in local time (`localtime_r`).
pub fn local_time(t: std::time::SystemTime) -> libc::tm {
    let secs = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own; both pointers are valid.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    }
}

/// The last second [`timestamp`] broke down, and its `YYYY-MM-DD HH:MM:SS`.
static LAST_SECOND: parking_lot::Mutex<Option<(u64, String)>> = parking_lot::Mutex::new(None);

/// `YYYY-MM-DD HH:MM:SS.mmm` in local time, as the event log writes it.
///
/// `localtime_r` takes glibc's time-zone lock; a thousand watchers logging at once
/// queued on it. Lines come in bursts within the same second, so the broken-down
/// second is kept and only the milliseconds are formatted anew.
pub fn timestamp(t: std::time::SystemTime) -> String {
    let since_epoch = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, ms) = (since_epoch.as_secs(), since_epoch.subsec_millis());
    let mut last = LAST_SECOND.lock();
    match &*last {
        Some((s, text)) if *s == secs => format!("{text}.{ms:03}"),
        _ => {
            let tm = local_time(t);
            let text = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                tm.tm_year + 1900,
                tm.tm_mon + 1,
                tm.tm_mday,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec,
            );
            let stamp = format!("{text}.{ms:03}");
            *last = Some((secs, text));
            stamp
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn timestamps_within_a_second_share_it_and_a_new_second_is_broken_down_anew() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let a = super::timestamp(t);
        let b = super::timestamp(t + Duration::from_millis(500));
        let c = super::timestamp(t + Duration::from_millis(1_000));
        assert_eq!(a.len(), 23, "{a}");
        assert!(a.ends_with(".123") && b.ends_with(".623") && c.ends_with(".123"));
        assert_eq!(a[..19], b[..19], "same second");
        assert_ne!(a[..19], c[..19], "next second");
        assert!(super::timestamp(SystemTime::now()).starts_with("20"));
    }
}
