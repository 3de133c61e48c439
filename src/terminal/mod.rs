//! The user's terminal, the client's side: modes that are always restored, Ctrl-C
//! watching for commands that stream (`tail -f`) until the user interrupts them,
//! and the attach client (`attach.rs`). Used by `taskmasterctl` and the daemon's own
//! shell; it speaks to the daemon only through `control::protocol` and
//! `control::client`, and the command layer (`control`) imports nothing from here.

pub mod attach;

use std::os::fd::{AsFd, BorrowedFd, RawFd};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};

/// A terminal mode change undone on drop, whatever ends the scope.
pub struct TerminalMode {
    fd: RawFd,
    saved: Termios,
}

impl TerminalMode {
    fn change(fd: RawFd, edit: impl FnOnce(&mut Termios)) -> Option<TerminalMode> {
        // SAFETY: fd stays open for the life of the process (0, or the tty's fd).
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let saved = tcgetattr(borrowed).ok()?;
        let mut changed = saved.clone();
        edit(&mut changed);
        tcsetattr(borrowed, SetArg::TCSANOW, &changed).ok()?;
        Some(TerminalMode { fd, saved })
    }

    /// Changes nothing now, restores the current modes on drop: a last line of
    /// defence for a thread that may leave the terminal in raw mode.
    pub fn save(fd: RawFd) -> Option<TerminalMode> {
        Self::change(fd, |_| {})
    }

    /// Ctrl-C, Ctrl-\ and Ctrl-Z typed on this terminal no longer send signals.
    /// `None` when `fd` is not a terminal.
    pub fn without_signals(fd: RawFd) -> Option<TerminalMode> {
        Self::change(fd, |t| t.local_flags.remove(LocalFlags::ISIG))
    }

    /// Keys arrive one by one, unechoed, and none sends a signal; output
    /// processing (`\n` → `\r\n`) stays on.
    pub fn keys(fd: RawFd) -> Option<TerminalMode> {
        Self::change(fd, |t| {
            t.local_flags
                .remove(LocalFlags::ISIG | LocalFlags::ICANON | LocalFlags::ECHO);
        })
    }
}

impl Drop for TerminalMode {
    fn drop(&mut self) {
        // SAFETY: see `change`.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = tcsetattr(fd, SetArg::TCSANOW, &self.saved);
    }
}

/// What [`read_keys_unless`] got.
pub enum Keys {
    /// `n` bytes were read into the buffer.
    Read(usize),
    /// The stop descriptor became readable.
    Stopped,
    /// End of input or a read error.
    End,
}

/// Blocks until keys arrive on stdin (and reads them) or `stop` becomes readable.
pub fn read_keys_unless(stop: &impl AsFd, buf: &mut [u8]) -> Keys {
    let stdin = std::io::stdin();
    loop {
        let mut fds = [
            PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        if nix::poll::poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return Keys::Stopped;
        }
        return match nix::unistd::read(stdin.as_fd(), buf) {
            Ok(0) | Err(_) => Keys::End,
            Ok(n) => Keys::Read(n),
        };
    }
}

/// Runs `work` while a thread watches stdin (a terminal) for Ctrl-C, calling
/// `interrupt` when it is typed. The terminal modes are restored afterwards.
pub fn until_ctrl_c<T>(interrupt: impl FnOnce() + Send + 'static, work: impl FnOnce() -> T) -> T {
    let mode = TerminalMode::keys(0);
    let Ok((stop_r, stop_w)) = crate::sys::fds::pipe() else {
        return work();
    };
    let watcher = std::thread::Builder::new()
        .name("ctrl-c".into())
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(move || {
            let mut buf = [0u8; 64];
            loop {
                match read_keys_unless(&stop_r, &mut buf) {
                    Keys::Stopped => return,
                    Keys::Read(n) if !buf[..n].contains(&0x03) => {}
                    // Ctrl-C, or the terminal went away.
                    Keys::Read(_) | Keys::End => {
                        interrupt();
                        return;
                    }
                }
            }
        });
    let result = work();
    let _ = nix::unistd::write(&stop_w, b"x");
    if let Ok(handle) = watcher {
        let _ = handle.join();
    }
    drop(mode);
    result
}

/// Like [`until_ctrl_c`], for a command that waits (a long `stop`): the keys typed
/// meanwhile other than Ctrl-C are kept and returned, for the shell to take as
/// typed ahead. After a Ctrl-C they are dropped (Ctrl-C clears the line).
pub fn until_ctrl_c_keeping_keys<T>(
    interrupt: impl FnOnce() + Send + 'static,
    work: impl FnOnce() -> T,
) -> (T, Vec<u8>) {
    let mode = TerminalMode::keys(0);
    let Ok((stop_r, stop_w)) = crate::sys::fds::pipe() else {
        return (work(), Vec::new());
    };
    let watcher = std::thread::Builder::new()
        .name("ctrl-c".into())
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 256];
            loop {
                match read_keys_unless(&stop_r, &mut buf) {
                    Keys::Stopped => return kept,
                    Keys::Read(n) if !buf[..n].contains(&0x03) => {
                        // Bounded: a paste larger than this while waiting is cut.
                        if kept.len() < 4096 {
                            kept.extend_from_slice(&buf[..n]);
                        }
                    }
                    Keys::Read(_) | Keys::End => {
                        interrupt();
                        return Vec::new();
                    }
                }
            }
        });
    let result = work();
    let _ = nix::unistd::write(&stop_w, b"x");
    let kept = watcher
        .ok()
        .and_then(|handle| handle.join().ok())
        .unwrap_or_default();
    drop(mode);
    (result, kept)
}
