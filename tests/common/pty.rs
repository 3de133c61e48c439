//! A pseudo-terminal driver for the tests that run a program on a real terminal
//! (`attach` through `taskmasterctl`, the daemon's interactive shell): open a pty,
//! start a program on its slave as session leader with the slave as controlling
//! terminal, type into the master, and read what the terminal shows.
//!
//! What the terminal shows is matched after removing escape sequences and carriage
//! returns ([`screen_text`]). Nothing here sleeps blindly: every wait is a condition
//! polled until a deadline.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::libc;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt, Winsize};

use super::poll_until;

/// Terminal output as text: escape sequences (CSI, OSC, two-byte escapes), carriage
/// returns and other control bytes removed, newlines and tabs kept. An escape
/// sequence cut off at the end of `raw` is left out until it is complete, so the
/// result only ever grows as `raw` grows (positions in it stay valid).
pub fn screen_text(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == 0x1b {
            let Some(&kind) = raw.get(i + 1) else { break };
            match kind {
                b'[' => {
                    // Parameters and intermediates, then one final byte 0x40..=0x7e.
                    let Some(end) = raw[i + 2..].iter().position(|c| (0x40..=0x7e).contains(c))
                    else {
                        break;
                    };
                    i += 2 + end + 1;
                }
                b']' => {
                    // Until BEL or ESC \.
                    let mut j = i + 2;
                    let end = loop {
                        match raw.get(j) {
                            None => break None,
                            Some(0x07) => break Some(j + 1),
                            Some(0x1b) if raw.get(j + 1) == Some(&b'\\') => break Some(j + 2),
                            Some(_) => j += 1,
                        }
                    };
                    match end {
                        Some(e) => i = e,
                        None => break,
                    }
                }
                _ => i += 2,
            }
            continue;
        }
        if b == b'\n' || b == b'\t' || b >= 0x20 {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A new pseudo-terminal of `size`: (master, slave), both opened close-on-exec at
/// once. openpty would leave a moment without the flag, in which a spawn by another
/// test of this process (they all share it) would hand our terminal to its child,
/// which then keeps it open past our hang-up.
fn open_pty(size: &Winsize) -> (OwnedFd, OwnedFd) {
    let master =
        posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).expect("posix_openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname_r(&master).expect("ptsname_r");
    // std opens close-on-exec; O_NOCTTY: the slave must not become our terminal.
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)
        .expect("open the pty slave");
    // SAFETY: TIOCSWINSZ reads one `winsize` from a valid pointer; the fd is ours.
    let set = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, size) };
    assert_ne!(set, -1, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    (OwnedFd::from(master), OwnedFd::from(slave))
}

/// Starts `cmd` with `slave` as its stdin, stdout, stderr and controlling terminal
/// (`setsid`, then `TIOCSCTTY`), with `TERM=xterm`. `cmd` and its copies of the
/// slave are dropped once it has started.
pub fn spawn_on(mut cmd: Command, slave: &OwnedFd) -> std::io::Result<Child> {
    let stdio = || Stdio::from(slave.try_clone().expect("dup slave"));
    cmd.env("TERM", "xterm")
        .stdin(stdio())
        .stdout(stdio())
        .stderr(stdio());
    // SAFETY: setsid and ioctl are async-signal-safe; nothing here allocates.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// The master side of a pseudo-terminal and everything the terminal received so far,
/// collected by a thread of its own.
pub struct Screen {
    pub master: File,
    raw: Arc<Mutex<Vec<u8>>>,
    /// Asks the reader thread to drop its copy of the master (see [`Screen::hang_up`]).
    stop: Arc<std::sync::atomic::AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Screen {
    /// A new `rows` x `cols` pseudo-terminal with the kernel's default (cooked)
    /// modes, both sides close-on-exec; returns it and its slave.
    pub fn open(rows: u16, cols: u16) -> (Screen, OwnedFd) {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let (master, slave) = open_pty(&size);
        let master = File::from(master);
        let mut reader = master.try_clone().expect("dup master");
        let raw = Arc::new(Mutex::new(Vec::new()));
        let sink = raw.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let reader = std::thread::spawn(move || {
            use std::os::fd::AsFd;
            let mut buf = [0u8; 4096];
            // Polled with a short timeout only to notice `stop` (a hang-up test).
            while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
                let mut fds = [nix::poll::PollFd::new(
                    reader.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(50u16)) {
                    Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break,
                    Ok(_) => {}
                }
                // EIO once every slave descriptor is closed: the end.
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });
        let screen = Screen {
            master,
            raw,
            stop,
            reader: Some(reader),
        };
        (screen, slave)
    }

    /// Closes the master, as a terminal emulator or sshd does when it goes away:
    /// the kernel hangs the terminal up (SIGHUP to its session leader, EIO and end
    /// of input on the slave). Nothing can be typed or read afterwards.
    pub fn hang_up(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the screen reader ends");
        }
        let dead = File::open("/dev/null").expect("open /dev/null");
        // Dropping the old master (the last descriptor of it) is the hang-up.
        drop(std::mem::replace(&mut self.master, dead));
    }

    /// Every byte the terminal received so far, escape sequences included (for a
    /// terminal emulator to replay: full-screen views).
    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().unwrap().clone()
    }

    /// The screen text so far.
    pub fn text(&self) -> String {
        screen_text(&self.raw.lock().unwrap())
    }

    /// A position in the screen text, to look only at what comes after it.
    pub fn mark(&self) -> usize {
        self.text().len()
    }

    /// Sends `keys` in one write, as a terminal sends one key's bytes (or a paste,
    /// or keys typed ahead while the program is busy).
    pub fn keys(&mut self, keys: impl AsRef<[u8]>) {
        self.master.write_all(keys.as_ref()).expect("type keys");
        self.master.flush().expect("flush keys");
    }

    /// Waits until `needle` appears after `from`; returns the position just after it.
    pub fn wait_text(&self, from: usize, needle: &str, timeout: Duration) -> usize {
        let mut text = String::new();
        poll_until(timeout, Duration::from_millis(10), || {
            text = self.text();
            let i = text.get(from..)?.find(needle)?;
            Some(from + i + needle.len())
        })
        .unwrap_or_else(|| {
            panic!(
                "timed out after {timeout:?} waiting for {needle:?} on the terminal after \
                 position {from}; the terminal shows after it:\n{:?}",
                text.get(from..).unwrap_or("")
            )
        })
    }

    /// Waits for `child` (`who`, for the message) to exit by itself.
    pub fn wait_exit(&self, child: &mut Child, who: &str, timeout: Duration) -> ExitStatus {
        poll_until(timeout, Duration::from_millis(10), || {
            child.try_wait().expect("try_wait")
        })
        .unwrap_or_else(|| {
            panic!(
                "{who} did not exit within {timeout:?}; the terminal shows:\n{:?}",
                self.text()
            )
        })
    }
}
