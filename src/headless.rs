//! Losing the daemon's terminal loses nothing (an SSH connection drops, a tmux
//! session is killed): the processes keep running and the daemon goes on headless,
//! controllable with `taskmasterctl`.
//!
//! When a terminal goes away the kernel hangs it up: every open descriptor of it
//! fails from then on (reads end, `tcgetattr` and writes give EIO), and SIGHUP is
//! sent — by the kernel to the session leader, and by a login shell to its jobs as
//! it exits. SIGHUP is also the reload request (`kill -HUP`), so on SIGHUP the
//! daemon asks its own terminal: a terminal it had at start that now fails with EIO
//! has hung up, and that SIGHUP is the hang-up, not a reload. The first such SIGHUP
//! is taken as the hang-up; any later SIGHUP is a reload again (the terminal stays
//! dead, so "is it hung up" alone would ignore every reload from then on). A second
//! SIGHUP of the same hang-up (kernel and login shell both) may therefore reload an
//! unchanged file, which changes nothing.
//!
//! End of input on a hung-up terminal is the same loss, not `quit` (unlike end of
//! input on a pipe, which means shutdown): the shell ends, the daemon does not.
//! Once lost, the standard descriptors are pointed at /dev/null so that nothing
//! writes into the dead terminal (a write there fails, and `eprintln!` would panic).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use log::warn;
use nix::errno::Errno;

/// The daemon's terminal and whether it was lost: one per daemon, made at start
/// and shared by the signal thread (SIGHUP) and the stdin front end (end of input).
#[derive(Default)]
pub struct Headless {
    /// A copy of the terminal the daemon had at start (its first standard
    /// descriptor that was one), kept to ask it whether it hung up after fds 0–2
    /// moved away.
    terminal: Option<OwnedFd>,
    /// The loss was handled (logged, descriptors moved): it is said once.
    lost: AtomicBool,
    /// A SIGHUP was taken as the hang-up; later ones are reloads.
    hangup_claimed: AtomicBool,
}

impl Headless {
    /// Remembers the daemon's terminal, if it has one; called at start.
    pub fn remember_terminal() -> Headless {
        let mut terminal = None;
        for fd in 0..=2 {
            // SAFETY: 0–2 are open for the life of the process (`ensure_std_fds_open`).
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            if nix::sys::termios::tcgetattr(borrowed).is_ok() {
                terminal = borrowed.try_clone_to_owned().ok();
                break;
            }
        }
        Headless {
            terminal,
            ..Headless::default()
        }
    }

    /// The terminal the daemon had at start has hung up.
    fn hung_up(&self) -> bool {
        self.terminal
            .as_ref()
            .is_some_and(|t| nix::sys::termios::tcgetattr(t.as_fd()) == Err(Errno::EIO))
    }

    /// The daemon's terminal is gone (whether or not the loss was handled yet).
    pub fn terminal_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst) || self.hung_up()
    }

    /// On SIGHUP: true when it is the hang-up of the daemon's terminal (then handled
    /// here, and no reload), false for a reload request.
    pub fn sighup_is_hangup(&self, socket: &Path) -> bool {
        if !self.hung_up() || self.hangup_claimed.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.go_headless(socket, "SIGHUP");
        true
    }

    /// Handles the loss once: says it in the event log and moves fds 0–2 to
    /// /dev/null. `how` is what revealed it (SIGHUP, or the shell's read failing).
    pub fn go_headless(&self, socket: &Path, how: &str) {
        if self.lost.swap(true, Ordering::SeqCst) {
            return;
        }
        warn!(
            "the terminal was lost ({how}: it hung up); taskmaster goes on headless, its \
             processes keep running; control it with `taskmasterctl -s {}`",
            socket.display()
        );
        if let Ok(null) = nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) {
            let _ = nix::unistd::dup2_stdin(&null);
            let _ = nix::unistd::dup2_stdout(&null);
            let _ = nix::unistd::dup2_stderr(&null);
        }
    }
}
