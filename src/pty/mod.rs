//! Pseudo-terminals for `pty: true` programs (README: Attach; docs/ARCHITECTURE.md): the daemon's
//! side, which opens a pty for a child and sizes it. The user's terminal (raw
//! mode, the attach client) is `crate::terminal`'s.
//!
//! Both ends are opened close-on-exec from the start, so a spawn racing in another
//! watcher thread can never inherit them; the spawn path installs the slave on the
//! child's 0–2 and the exec helper makes it the controlling terminal (the child is
//! already a session leader through posix_spawn's `POSIX_SPAWN_SETSID`). The daemon
//! drops its copy of the slave right after the spawn, or the master would never
//! report the end of the stream.

pub mod viewers;

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::stat::Mode;

/// A new pseudo-terminal: `(master, slave)`.
pub fn open_pty() -> Result<(OwnedFd, OwnedFd), Errno> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname_r(&master)?;
    let slave = open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let master = OwnedFd::from(master);
    set_window_size(&master, 24, 80)?;
    Ok((master, slave))
}

/// `TIOCSWINSZ`: the size the program sees (and gets SIGWINCH for).
pub fn set_window_size(fd: &impl AsFd, rows: u16, cols: u16) -> Result<(), Errno> {
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(fd, size).map_err(|e| Errno::from_raw(e.raw_os_error()))
}

/// `TIOCSCTTY` on fd 0: called by the exec helper, a session leader with the slave
/// on its standard streams.
pub fn make_controlling_terminal() -> Result<(), Errno> {
    rustix::process::ioctl_tiocsctty(std::io::stdin())
        .map_err(|e| Errno::from_raw(e.raw_os_error()))
}
