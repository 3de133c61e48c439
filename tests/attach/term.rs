//! A terminal for `taskmasterctl`: a pseudo-terminal whose slave is the client's
//! stdin/stdout/stderr and controlling terminal. The test keeps a copy of the slave
//! to read the terminal's modes.

use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::sys::termios::{cfgetispeed, cfgetospeed, tcgetattr, LocalFlags};
use nix::unistd::Pid;

use super::CTL;
use crate::common::pty::{spawn_on, Screen};
use crate::common::*;

/// Everything `tcgetattr` reports about a terminal, comparable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modes {
    iflag: u32,
    oflag: u32,
    cflag: u32,
    lflag: u32,
    line: u8,
    cc: Vec<u8>,
    ispeed: u32,
    ospeed: u32,
}

/// A pseudo-terminal whose slave is the stdin/stdout/stderr and controlling terminal
/// of a `taskmasterctl`. It derefs to its [`Screen`]: `text`, `mark`, `keys`,
/// `wait_text`.
pub struct Term {
    screen: Screen,
    pub slave: OwnedFd,
    child: Option<Child>,
}

impl Deref for Term {
    type Target = Screen;
    fn deref(&self) -> &Screen {
        &self.screen
    }
}

impl DerefMut for Term {
    fn deref_mut(&mut self) -> &mut Screen {
        &mut self.screen
    }
}

impl Term {
    /// A fresh 30x100 terminal with the kernel's default (cooked) modes.
    pub fn new() -> Term {
        let (screen, slave) = Screen::open(30, 100);
        Term {
            screen,
            slave,
            child: None,
        }
    }

    /// A new terminal running `taskmasterctl -s SOCKET attach NAME`, once the client
    /// has printed the attach reply and switched the terminal out of canonical mode.
    pub fn attach(socket: &Path, name: &str) -> Term {
        let mut t = Term::new();
        t.spawn_attach(socket, name);
        t
    }

    /// Starts `taskmasterctl -s SOCKET attach NAME` on this terminal and waits until
    /// it is attached (the reply shown, canonical mode off).
    pub fn spawn_attach(&mut self, socket: &Path, name: &str) {
        let mark = self.mark();
        self.spawn(&["-s", socket.to_str().expect("utf-8 path"), "attach", name]);
        self.wait_text(mark, &format!("attached to {name}"), secs(10.0));
        self.wait_uncooked();
    }

    /// Starts `taskmasterctl ARGS…` on the terminal, as its session leader.
    pub fn spawn(&mut self, args: &[&str]) {
        self.spawn_with(args, |_| {});
    }

    /// Like [`Term::spawn`], letting the test adjust the command first (its
    /// environment).
    pub fn spawn_with(&mut self, args: &[&str], adjust: impl FnOnce(&mut Command)) {
        assert!(
            self.child.is_none(),
            "a client already runs on this terminal"
        );
        let mut cmd = Command::new(CTL);
        cmd.args(args);
        adjust(&mut cmd);
        self.child = Some(spawn_on(cmd, &self.slave).expect("start taskmasterctl on a pty"));
    }

    /// The client has not exited (yet).
    pub fn child_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().expect("try_wait").is_none())
    }

    pub fn client_pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("a client runs").id() as i32)
    }

    /// The terminal's modes, read on the slave.
    pub fn modes(&self) -> Modes {
        let t = tcgetattr(self.slave.as_fd()).expect("tcgetattr");
        Modes {
            iflag: t.input_flags.bits() as u32,
            oflag: t.output_flags.bits() as u32,
            cflag: t.control_flags.bits() as u32,
            lflag: t.local_flags.bits() as u32,
            line: t.line_discipline,
            cc: t.control_chars.to_vec(),
            ispeed: cfgetispeed(&t) as u32,
            ospeed: cfgetospeed(&t) as u32,
        }
    }

    /// Waits until the client has taken the terminal out of canonical mode (raw for
    /// pty sessions, local line editing for pipe sessions): keys typed from then on
    /// reach the client byte by byte, and Ctrl-\ no longer raises SIGQUIT.
    pub fn wait_uncooked(&self) {
        let mut flags = LocalFlags::empty();
        let uncooked = poll_until(secs(10.0), Duration::from_millis(5), || {
            flags = tcgetattr(self.slave.as_fd())
                .expect("tcgetattr")
                .local_flags;
            (!flags.contains(LocalFlags::ICANON)).then_some(())
        });
        assert!(
            uncooked.is_some(),
            "the client never left canonical mode (lflag {flags:?}); the terminal shows:\n{:?}",
            self.text()
        );
    }

    /// Waits for the client to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("a client runs");
        let status = self.screen.wait_exit(child, "taskmasterctl", timeout);
        self.child = None;
        status
    }

    /// Resizes the terminal as a terminal emulator does: TIOCSWINSZ on the master
    /// (the kernel then signals the foreground group), and SIGWINCH to the client.
    pub fn resize(&self, rows: u16, cols: u16) {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads the winsize we own.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
        kill(self.client_pid(), Signal::SIGWINCH).expect("SIGWINCH to the client");
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Asserts the modes are those of `before`, naming the fields that differ.
pub fn assert_modes(what: &str, before: &Modes, after: &Modes) {
    assert_eq!(
        before, after,
        "{what}: the terminal modes differ from those before attach \
         (before left, after right)"
    );
}
