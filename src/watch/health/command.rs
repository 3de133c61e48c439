//! A `cmd` health check: the command started like the program itself — its
//! environment, user, umask and working directory, through the same spawn path
//! (`watch::spawn`), in a session of its own — and waited for on its pidfd until
//! `timeout`. Its output is read as it comes (the last line is kept for the
//! reason of a failure; the rest is dropped), so a chatty check never blocks on
//! a full pipe.
//!
//! However it ends, its whole process group gets SIGKILL before its leader is
//! reaped: a check that hangs is killed at its timeout, and one that left
//! something running behind it leaves nothing. Only this thread reaps it, by its
//! own pid.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{killpg, Signal};
use nix::sys::time::TimeSpec;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::Running;
use crate::config::LaunchSpec;
use crate::watch::spawn::{self, ChildIo};

/// The most of a check's latest output kept, for the reason of a failure.
const OUTPUT_KEPT: usize = 1024;
/// The longest output line quoted in a reason.
const REASON_LINE_MAX: usize = 200;

/// The checker is being dropped: no more checks, and the one running is killed.
pub(super) fn kill_running(running: &Running) {
    let mut slot = running.lock();
    slot.closed = true;
    if let Some(pid) = slot.pid {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Runs `argv` as the program's check; `Err` says why it failed.
pub(super) fn run(
    launch: &LaunchSpec,
    argv: &[String],
    marker: crate::orphans::Marker<'_>,
    timeout: Duration,
    running: &Running,
) -> Result<(), String> {
    let spec = check_spec(launch, argv)?;
    let child = spawn::spawn(&spec, marker).map_err(|e| format!("check command: {e}"))?;
    let pid = Pid::from_raw(child.pid);
    {
        let mut slot = running.lock();
        slot.pid = Some(child.pid);
        if slot.closed {
            let _ = killpg(pid, Signal::SIGKILL);
        }
    }
    let mut pipes = match child.io {
        ChildIo::Pipes { stdout, stderr, .. } => vec![stdout, stderr],
        ChildIo::Pty { .. } => Vec::new(),
    };
    let mut output = Vec::new();
    let timed_out = wait(
        &child.pidfd,
        &mut pipes,
        Instant::now() + timeout,
        &mut output,
    );
    {
        // Before the reap: the group id still names this command's group.
        let mut slot = running.lock();
        let _ = killpg(pid, Signal::SIGKILL);
        slot.pid = None;
    }
    let status = loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            other => break other,
        }
    };
    // Reaped: the orphan reaper may take this pid again (see `orphans::owned`).
    crate::orphans::released(child.pid);
    let said = || {
        let line = crate::output::printable::last_line(&output, REASON_LINE_MAX);
        match line.is_empty() {
            true => String::new(),
            false => format!(": {line}"),
        }
    };
    match status {
        _ if timed_out => Err(format!(
            "check command timed out after {} s (killed)",
            timeout.as_secs_f64()
        )),
        Ok(WaitStatus::Exited(_, 0)) => Ok(()),
        Ok(WaitStatus::Exited(_, code)) => {
            Err(format!("check command exited with status {code}{}", said()))
        }
        Ok(WaitStatus::Signaled(_, signal, _)) => {
            Err(format!("check command killed by {}", signal.as_str()))
        }
        Ok(_) | Err(_) => Err("check command: its end could not be read".to_string()),
    }
}

/// The program's launch settings with the check's command line.
fn check_spec(launch: &LaunchSpec, argv: &[String]) -> Result<LaunchSpec, String> {
    let mut spec = launch.clone();
    spec.argv = argv.to_vec();
    spec.pty = false;
    spec.exec.argv = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| "check command: contains a NUL byte".to_string())?;
    Ok(spec)
}

/// Waits for the command's exit (its pidfd) until `deadline`, keeping the end
/// of what it prints in `output`. True when the deadline came first.
fn wait(
    pidfd: &OwnedFd,
    pipes: &mut Vec<OwnedFd>,
    deadline: Instant,
    output: &mut Vec<u8>,
) -> bool {
    loop {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return true;
        };
        let revents = poll(pidfd, pipes, Some(left));
        let Some((exited, ready)) = revents else {
            // ENOMEM and the like: stop waiting; the command is killed.
            return false;
        };
        take_output(pipes, &ready, output);
        if exited {
            // What it wrote just before its end, without waiting for a pipe a
            // background process of its may still hold open.
            if let Some((_, ready)) = poll(pidfd, pipes, Some(Duration::ZERO)) {
                take_output(pipes, &ready, output);
            }
            return false;
        }
    }
}

/// One `ppoll` of the pidfd and the pipes: (exited, which pipes are ready), or
/// `None` on an error other than EINTR (which reads as nothing ready).
fn poll(
    pidfd: &OwnedFd,
    pipes: &[OwnedFd],
    timeout: Option<Duration>,
) -> Option<(bool, Vec<bool>)> {
    let mut fds: Vec<PollFd> = std::iter::once(pidfd)
        .chain(pipes)
        .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
        .collect();
    match nix::poll::ppoll(&mut fds, timeout.map(TimeSpec::from_duration), None) {
        Ok(_) | Err(Errno::EINTR) => {}
        Err(_) => return None,
    }
    let ready: Vec<bool> = fds
        .iter()
        .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
        .collect();
    Some((ready[0], ready[1..].to_vec()))
}

/// Reads once from each ready pipe; a pipe at its end (or failing) is closed.
fn take_output(pipes: &mut Vec<OwnedFd>, ready: &[bool], output: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    let mut i = 0;
    pipes.retain(|pipe| {
        let is_ready = ready.get(i).copied().unwrap_or(false);
        i += 1;
        if !is_ready {
            return true;
        }
        match nix::unistd::read(pipe.as_fd(), &mut buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                output.extend_from_slice(&buf[..n]);
                if output.len() > 2 * OUTPUT_KEPT {
                    output.drain(..output.len() - OUTPUT_KEPT);
                }
                true
            }
        }
    });
}
