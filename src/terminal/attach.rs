//! The terminal side of `attach` (README: Attach), shared by `taskmasterctl` and the
//! daemon's own shell (which attaches through its own socket, so there is one
//! implementation of the session).
//!
//! pty instances: the terminal goes raw and every key goes to the program, with
//! the window size sent on attach and on every SIGWINCH. Pipe instances: keys are
//! edited locally into lines (echo, backspace) and each line goes to the program's
//! stdin; Ctrl-C clears the line and interrupts the program (SIGINT to its group),
//! Ctrl-D on an empty line asks for its stdin to be closed (the daemon says why it
//! stays open). In both, the detach key ends the session and the program keeps running.
//! The terminal is restored however the session ends — detach, the program's exit,
//! the daemon going away, or SIGTERM/SIGHUP to the client.

use std::io::{BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};
use parking_lot::Mutex;
use signal_hook::consts::{SIGHUP, SIGTERM, SIGWINCH};

use super::{read_keys_unless, Keys};
use crate::control::protocol::{
    input_frames, winsize_frame, AttachInfo, Response, FRAME_CLOSE_STDIN, FRAME_INTERRUPT,
};

/// How the session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum AttachEnd {
    /// The user pressed the detach key.
    Detached,
    /// The daemon ended it (the program exited, or taskmaster shut down).
    Closed,
}

pub struct AttachOptions {
    pub pty: bool,
    pub detach_key: u8,
    /// Restore the terminal and exit on SIGTERM/SIGHUP (taskmasterctl). The daemon's
    /// shell leaves those signals to the daemon, which restores the terminal itself.
    pub exit_on_signals: bool,
}

/// The terminal modes to put back, reachable from the signal thread.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

fn restore_terminal() {
    if let Some(saved) = SAVED.lock().take() {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &saved);
    }
}

/// Sends one frame; the writer is shared by the keyboard loop and SIGWINCH.
fn send(writer: &Mutex<UnixStream>, frame: &[u8]) -> bool {
    writer.lock().write_all(frame).is_ok()
}

/// The user's terminal size (`TIOCGWINSZ` on stdin), if it is a terminal with rows.
fn window_size() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdin()).ok()?;
    (ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

fn current_winsize_frame() -> Option<[u8; 5]> {
    let (rows, cols) = window_size()?;
    Some(winsize_frame(rows, cols))
}

/// Runs the session on a connection whose attach reply was read; `reader` holds
/// whatever the daemon sent after it.
pub fn run(
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    opts: &AttachOptions,
) -> std::io::Result<AttachEnd> {
    // The handlers first: a SIGTERM that comes once the terminal is raw must find
    // them in place, or the client dies with the terminal left raw.
    let signals = signal_hook::iterator::Signals::new(if opts.exit_on_signals {
        &[SIGWINCH, SIGTERM, SIGHUP][..]
    } else {
        &[SIGWINCH][..]
    })?;
    let stdin = std::io::stdin();
    if let Ok(saved) = tcgetattr(stdin.as_fd()) {
        let mut mode = saved.clone();
        if opts.pty {
            cfmakeraw(&mut mode);
        } else {
            mode.local_flags
                .remove(LocalFlags::ISIG | LocalFlags::ICANON | LocalFlags::ECHO);
        }
        *SAVED.lock() = Some(saved);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &mode);
    }
    let result = session(reader, writer, signals, opts);
    restore_terminal();
    result
}

fn session(
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    mut signals: signal_hook::iterator::Signals,
    opts: &AttachOptions,
) -> std::io::Result<AttachEnd> {
    let closer = writer.try_clone()?;
    let writer = Arc::new(Mutex::new(writer));
    let (done_r, done_w) = crate::sys::fds::pipe().map_err(std::io::Error::from)?;

    // Daemon → terminal, until the daemon closes the connection.
    let output = std::thread::Builder::new()
        .name("attach-output".into())
        .spawn(move || {
            let mut reader = reader;
            let mut out = std::io::stdout();
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    break;
                }
            }
            let _ = nix::unistd::write(&done_w, b"x");
        })?;

    let signal_handle = signals.handle();
    let winch_writer = writer.clone();
    let pty = opts.pty;
    std::thread::Builder::new()
        .name("attach-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGWINCH {
                    if let (true, Some(frame)) = (pty, current_winsize_frame()) {
                        send(&winch_writer, &frame);
                    }
                } else {
                    restore_terminal();
                    crate::control::client::complain(
                        "\r\ntaskmasterctl: terminated while attached; terminal restored",
                    );
                    std::process::exit(1);
                }
            }
        })?;
    if let (true, Some(frame)) = (opts.pty, current_winsize_frame()) {
        send(&writer, &frame);
    }

    let end = keyboard(&writer, &done_r, opts);
    let _ = closer.shutdown(std::net::Shutdown::Both);
    let _ = output.join();
    signal_handle.close();
    Ok(end)
}

/// Terminal → daemon until the detach key or the end of the session.
fn keyboard(
    writer: &Mutex<UnixStream>,
    done: &std::os::fd::OwnedFd,
    opts: &AttachOptions,
) -> AttachEnd {
    let mut line: Vec<u8> = Vec::new();
    let mut echo = std::io::stdout();
    let mut buf = [0u8; 4096];
    loop {
        let n = match read_keys_unless(done, &mut buf) {
            Keys::Stopped => return AttachEnd::Closed,
            Keys::End => return AttachEnd::Detached,
            Keys::Read(n) => n,
        };
        let keys = &buf[..n];
        let (keys, detach) = match keys.iter().position(|&b| b == opts.detach_key) {
            Some(i) => (&keys[..i], true),
            None => (keys, false),
        };
        if opts.pty {
            if !keys.is_empty() && !send(writer, &input_frames(keys)) {
                return AttachEnd::Closed;
            }
        } else {
            for &key in keys {
                match key {
                    b'\r' | b'\n' => {
                        let _ = echo.write_all(b"\n");
                        line.push(b'\n');
                        if !send(writer, &input_frames(&line)) {
                            return AttachEnd::Closed;
                        }
                        line.clear();
                    }
                    0x7f | 0x08 if line.pop().is_some() => {
                        let _ = echo.write_all(b"\x08 \x08");
                    }
                    // Ctrl-C: the line typed so far is dropped and the program
                    // interrupted, as a terminal would do it.
                    0x03 => {
                        line.clear();
                        let _ = echo.write_all(b"^C\n");
                        if !send(writer, &[FRAME_INTERRUPT]) {
                            return AttachEnd::Closed;
                        }
                    }
                    // Ctrl-D: a partial line goes as it is; on an empty line, a
                    // request to close the program's stdin, which the daemon
                    // answers (the program holds it open: `control::attach`).
                    0x04 if !line.is_empty() => {
                        if !send(writer, &input_frames(&line)) {
                            return AttachEnd::Closed;
                        }
                        line.clear();
                    }
                    0x04 => {
                        let _ = echo.write_all(b"^D\n");
                        if !send(writer, &[FRAME_CLOSE_STDIN]) {
                            return AttachEnd::Closed;
                        }
                    }
                    k if k >= 0x20 || k == b'\t' => {
                        line.push(k);
                        let _ = echo.write_all(&[k]);
                    }
                    _ => {}
                }
            }
            let _ = echo.flush();
        }
        if detach {
            return AttachEnd::Detached;
        }
    }
}

/// Prints the attach reply, runs the session, then says how it ended: what every
/// front end (taskmasterctl, the daemon's own shell) does with an attach reply.
pub fn attach_and_report(
    client: crate::control::client::Client,
    reply: &Response,
    exit_on_signals: bool,
) {
    crate::control::client::say(&reply.output);
    let said = attach_after_reply(client, reply, exit_on_signals);
    if !said.is_empty() {
        crate::control::client::say(&said);
    }
}

/// Runs an attach session after `reply` (an attach reply read by `client`) and
/// says how it ended, for the shell to print.
pub fn attach_after_reply(
    client: crate::control::client::Client,
    reply: &Response,
    exit_on_signals: bool,
) -> String {
    let info = AttachInfo::from_data(reply.data.as_deref());
    let opts = AttachOptions {
        pty: info.pty,
        detach_key: info.detach_key,
        exit_on_signals,
    };
    let name = info.name;
    let (reader, writer, _carrier) = client.into_parts();
    match run(reader, writer, &opts) {
        Ok(AttachEnd::Detached) => format!("\r\ndetached from {name}; it keeps running"),
        Ok(AttachEnd::Closed) => String::new(),
        Err(e) => format!("attach: {e}"),
    }
}
