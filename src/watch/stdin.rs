//! Attach input for a pipe child, written without a descriptor held for it.
//!
//! The child got its stdin pipe opened read-write ([`StdinPipe`]), so it never reads
//! end of input and the daemon holds no end of that pipe. To write a line, attach
//! opens the child's fd 0 again through `/proc/PID/fd/0`, write-only and
//! non-blocking (a program that does not read its input makes the write fail with
//! EAGAIN instead of blocking the session), and only if it still is that pipe: a
//! child that closed its fd 0 or put a file, a terminal or another pipe there gets
//! nothing written into it.

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::spawn::StdinPipe;

/// Why attach input was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StdinError {
    #[error("it closed its stdin")]
    Closed,
    #[error("its stdin is no longer the pipe taskmaster gave it")]
    Replaced,
    #[error("it does not read its stdin (the pipe is full)")]
    Full,
    #[error("its stdin cannot be opened: {}", .0.desc())]
    Os(Errno),
}

/// Writes `data` to the stdin of process `pid`, if its fd 0 still is `pipe`;
/// returns how many bytes went in (a nearly full pipe takes part of them).
pub fn write_stdin(pid: i32, pipe: StdinPipe, data: &[u8]) -> Result<usize, StdinError> {
    let path = format!("/proc/{pid}/fd/0");
    // Checked before opening as well as after: opening a device or a FIFO someone
    // else reads could itself have effects.
    let same = |dev: u64, ino: u64| StdinPipe { dev, ino } == pipe;
    match nix::sys::stat::stat(path.as_str()) {
        Ok(st) if same(st.st_dev, st.st_ino) => {}
        Ok(_) => return Err(StdinError::Replaced),
        // ENOENT: fd 0 closed, or the process gone (its pid may even be reused:
        // the identity check above covers that).
        Err(Errno::ENOENT) => return Err(StdinError::Closed),
        Err(e) => return Err(StdinError::Os(e)),
    }
    let fd = nix::fcntl::open(
        path.as_str(),
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::ENOENT => StdinError::Closed,
        e => StdinError::Os(e),
    })?;
    if StdinPipe::identity(fd.as_fd()) != Ok(pipe) {
        return Err(StdinError::Replaced);
    }
    loop {
        match nix::unistd::write(&fd, data) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Err(StdinError::Full),
            // No reader left: only the child held one, and it let go meanwhile.
            Err(Errno::EPIPE) => return Err(StdinError::Closed),
            Err(e) => return Err(StdinError::Os(e)),
        }
    }
}
