//! `attach NAME` (SPEC §8) through `taskmasterctl` running on a real pseudo-terminal:
//! the client's stdin/stdout/stderr is a pty slave that is also its controlling
//! terminal; the test types into the master, reads what the terminal shows, and
//! compares the terminal's modes (read on the slave, which the test keeps open)
//! before and after the session.
//!
//! What the terminal shows is matched after removing escape sequences and carriage
//! returns. Nothing here sleeps blindly: every wait is a condition polled until a
//! deadline.

mod common;
use common::*;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::libc;
use nix::pty::{openpty, Winsize};
use nix::sys::signal::{kill, Signal};
use nix::sys::termios::{
    cfgetispeed, cfgetospeed, tcgetattr, tcsetattr, LocalFlags, SetArg, SpecialCharacterIndices,
};
use nix::unistd::Pid;

const CTL: &str = env!("CARGO_BIN_EXE_taskmasterctl");
/// The default detach key, Ctrl-\.
const DETACH: &[u8] = b"\x1c";
/// Reads lines and answers each with `got: LINE`.
const ECHO_SH: &str = r#"while read l; do echo "got: $l"; done"#;
/// Runs until stopped, printing nothing.
const IDLE_SH: &str = "while :; do sleep 0.1; done";

// ---- config helpers ---------------------------------------------------------------------

/// A YAML scalar for `cmd: sh -c 'SCRIPT'` (single-quoted YAML, quotes doubled).
fn sh_cmd(script: &str) -> String {
    assert!(
        !script.contains('\''),
        "script must not contain a single quote"
    );
    format!("'sh -c ''{script}'''")
}

/// One program block under `programs:`; `extra` lines are indented by the caller's
/// convention (4 spaces, each ending in a newline).
fn program(name: &str, cmd: &str, pty: bool, extra: &str) -> String {
    format!("  {name}:\n    cmd: {cmd}\n    pty: {pty}\n    starttime: 0\n    stoptime: 2\n{extra}")
}

fn config(programs: &[String]) -> String {
    format!("programs:\n{}", programs.concat())
}

/// `taskmasterctl -s SOCKET ARGS…` without a terminal: exit code and stdout+stderr.
fn ctl(socket: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(CTL)
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run taskmasterctl");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// `taskmasterctl tail NAME`, carriage returns removed.
fn ctl_tail(socket: &Path, name: &str) -> String {
    ctl(socket, &["tail", name]).1.replace('\r', "")
}

/// Waits until `tail NAME` shows `needle`.
fn wait_tail(socket: &Path, name: &str, needle: &str) {
    let deadline = Instant::now() + secs(10.0);
    loop {
        let last = ctl_tail(socket, name);
        if last.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`tail {name}` never showed {needle:?}; it shows:\n{last}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- terminal helpers -------------------------------------------------------------------

/// Terminal output as text: escape sequences (CSI, OSC, two-byte escapes), carriage
/// returns and other control bytes removed, newlines and tabs kept. An escape
/// sequence cut off at the end is left out until complete, so positions stay valid
/// as the output grows.
fn screen_text(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == 0x1b {
            let Some(&kind) = raw.get(i + 1) else { break };
            match kind {
                b'[' => {
                    let Some(end) = raw[i + 2..].iter().position(|c| (0x40..=0x7e).contains(c))
                    else {
                        break;
                    };
                    i += 2 + end + 1;
                }
                b']' => {
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

/// Marks a descriptor close-on-exec (openpty does not), so the spawns of the other
/// tests running in parallel do not inherit our terminal.
fn cloexec(fd: &OwnedFd) {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).expect("FD_CLOEXEC");
}

/// Everything `tcgetattr` reports about a terminal, comparable.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Modes {
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
/// of a `taskmasterctl`. The test keeps a copy of the slave to read its modes.
struct Term {
    master: File,
    slave: OwnedFd,
    raw: Arc<Mutex<Vec<u8>>>,
    child: Option<Child>,
}

impl Term {
    /// A fresh 30x100 terminal with the kernel's default (cooked) modes.
    fn new() -> Term {
        let size = Winsize {
            ws_row: 30,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).expect("openpty");
        cloexec(&pty.master);
        cloexec(&pty.slave);
        let master = File::from(pty.master);
        let mut reader = master.try_clone().expect("dup master");
        let raw = Arc::new(Mutex::new(Vec::new()));
        let sink = raw.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once every slave descriptor is closed: the end.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Term {
            master,
            slave: pty.slave,
            raw,
            child: None,
        }
    }

    /// A new terminal running `taskmasterctl -s SOCKET attach NAME`, once the client
    /// has printed the attach reply and switched the terminal out of canonical mode.
    fn attach(socket: &Path, name: &str) -> Term {
        let mut t = Term::new();
        t.spawn_attach(socket, name);
        t
    }

    /// Starts `taskmasterctl -s SOCKET attach NAME` on this terminal and waits until
    /// it is attached (the reply shown, canonical mode off).
    fn spawn_attach(&mut self, socket: &Path, name: &str) {
        let mark = self.mark();
        self.spawn(&["-s", socket.to_str().expect("utf-8 path"), "attach", name]);
        self.wait_text(mark, &format!("attached to {name}"), secs(10.0));
        self.wait_uncooked();
    }

    /// Starts `taskmasterctl ARGS…` on the terminal, as its session leader.
    fn spawn(&mut self, args: &[&str]) {
        assert!(
            self.child.is_none(),
            "a client already runs on this terminal"
        );
        let stdio = || Stdio::from(self.slave.try_clone().expect("dup slave"));
        let mut cmd = Command::new(CTL);
        cmd.args(args)
            .env("TERM", "xterm")
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
        self.child = Some(cmd.spawn().expect("start taskmasterctl on a pty"));
    }

    fn client_pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("a client runs").id() as i32)
    }

    /// The terminal's modes, read on the slave.
    fn modes(&self) -> Modes {
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
    fn wait_uncooked(&self) {
        let deadline = Instant::now() + secs(10.0);
        loop {
            let t = tcgetattr(self.slave.as_fd()).expect("tcgetattr");
            if !t.local_flags.contains(LocalFlags::ICANON) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the client never left canonical mode (lflag {:?}); the terminal shows:\n{:?}",
                t.local_flags,
                self.text()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The screen text so far.
    fn text(&self) -> String {
        screen_text(&self.raw.lock().unwrap())
    }

    /// A position in the screen text, to look only at what comes after it.
    fn mark(&self) -> usize {
        self.text().len()
    }

    /// Sends `keys` in one write, as a terminal sends one key's bytes.
    fn keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).expect("type keys");
        self.master.flush().expect("flush keys");
    }

    /// Waits until `needle` appears after `from`; returns the position just after it.
    fn wait_text(&self, from: usize, needle: &str, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text();
            if let Some(i) = text.get(from..).and_then(|t| t.find(needle)) {
                return from + i + needle.len();
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {needle:?} on the terminal after \
                     position {from}; the terminal shows after it:\n{:?}",
                    text.get(from..).unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the client to exit by itself.
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("a client runs");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "taskmasterctl did not exit within {timeout:?}; the terminal shows:\n{:?}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Resizes the terminal as a terminal emulator does: TIOCSWINSZ on the master
    /// (the kernel then signals the foreground group), and SIGWINCH to the client.
    fn resize(&self, rows: u16, cols: u16) {
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
fn assert_modes(what: &str, before: &Modes, after: &Modes) {
    assert_eq!(
        before, after,
        "{what}: the terminal modes differ from those before attach \
         (before left, after right)"
    );
}

fn assert_detached_ok(t: &mut Term, name: &str) {
    let mark = t.mark();
    t.keys(DETACH);
    t.wait_text(mark, &format!("detached from {name}"), secs(10.0));
    let status = t.wait_exit(secs(10.0));
    assert_eq!(
        status.code(),
        Some(0),
        "taskmasterctl after detaching: {status:?}; the terminal shows:\n{:?}",
        t.text()
    );
}

// ---- tests ------------------------------------------------------------------------------

/// 1. pty program: typed keys reach it, its output comes back; Ctrl-\ detaches, the
///    client exits 0 and the program keeps running with the same pid.
#[test]
fn pty_attach_types_and_reads_then_detaches() {
    let mut d = Daemon::start(
        "attach-pty",
        &config(&[program("echo", &sh_cmd(ECHO_SH), true, "")]),
    );
    d.wait_state("echo", "RUNNING", secs(10.0));
    let pid = d.pid_of("echo");

    let mut t = Term::new();
    let before = t.modes();
    t.spawn_attach(&d.socket(), "echo");
    let mark = t.mark();
    t.keys(b"hello\r");
    t.wait_text(mark, "got: hello", secs(10.0));
    assert_detached_ok(&mut t, "echo");
    assert_modes("after detaching", &before, &t.modes());

    let i = d.instance("echo");
    assert_eq!(i["state"], "RUNNING", "after detach: {i}");
    assert_eq!(i["pid"], pid, "after detach the pid changed: {i}");
    d.finish(secs(20.0));
}

/// 2. The window size is set on attach and follows SIGWINCH.
#[test]
fn pty_window_size_set_on_attach_and_follows_sigwinch() {
    let script = format!(r#"trap "stty size" WINCH; stty size; {IDLE_SH}"#);
    let mut d = Daemon::start(
        "attach-winch",
        &config(&[program("sz", &sh_cmd(&script), true, "")]),
    );
    d.wait_state("sz", "RUNNING", secs(10.0));
    // Its own start-up line is in the ring before we attach (the daemon's default
    // size), so that the sizes seen after attaching can only come from us.
    wait_tail(&d.socket(), "sz", " ");

    let mut t = Term::new();
    t.spawn_attach(&d.socket(), "sz");
    let attached = t.wait_text(0, "attached to sz", secs(1.0));
    let after = t.wait_text(attached, "30 100", secs(10.0));
    t.resize(40, 120);
    t.wait_text(after, "40 120", secs(10.0));
    assert_detached_ok(&mut t, "sz");
    d.finish(secs(20.0));
}

/// 3. The terminal's modes — every flag and control character — are those from
///    before the attach, after a detach and after the program's exit. The terminal
///    starts with non-default modes, so that restoring "some sane modes" would not do.
#[test]
fn terminal_modes_restored_after_detach_and_after_child_exit() {
    let mut d = Daemon::start(
        "attach-modes",
        &config(&[
            program("idle", &sh_cmd(IDLE_SH), true, ""),
            program(
                "once",
                &sh_cmd("read l; echo done-$l; exit 0"),
                true,
                "    autorestart: never\n",
            ),
        ]),
    );
    d.wait_state("idle", "RUNNING", secs(10.0));
    d.wait_state("once", "RUNNING", secs(10.0));

    let mut t = Term::new();
    {
        let mut m = tcgetattr(t.slave.as_fd()).expect("tcgetattr");
        m.control_chars[SpecialCharacterIndices::VERASE as usize] = 0x08;
        m.control_chars[SpecialCharacterIndices::VKILL as usize] = 0x0b;
        m.local_flags.remove(LocalFlags::ECHOCTL);
        tcsetattr(t.slave.as_fd(), SetArg::TCSANOW, &m).expect("tcsetattr");
    }
    let before = t.modes();

    // Detach.
    t.spawn_attach(&d.socket(), "idle");
    assert_ne!(t.modes(), before, "attached: the terminal should be raw");
    assert_detached_ok(&mut t, "idle");
    assert_modes("after detaching", &before, &t.modes());

    // The program exits while attached.
    t.spawn_attach(&d.socket(), "once");
    let mark = t.mark();
    t.keys(b"x\r");
    // (Whether `done-x` itself is shown is test 4's business.)
    t.wait_text(mark, "exited", secs(10.0));
    t.wait_exit(secs(10.0));
    assert_modes("after the program exited", &before, &t.modes());
    d.finish(secs(20.0));
}

/// 4. The program exits while attached: its last output and the exit are shown, the
///    client exits by itself and the terminal is restored.
#[test]
fn child_exit_while_attached_ends_the_session() {
    let mut d = Daemon::start(
        "attach-exit",
        &config(&[program(
            "quit",
            &sh_cmd("read l; echo bye; exit 3"),
            true,
            "    autorestart: never\n",
        )]),
    );
    d.wait_state("quit", "RUNNING", secs(10.0));
    let mut t = Term::new();
    let before = t.modes();
    t.spawn_attach(&d.socket(), "quit");
    let mark = t.mark();
    t.keys(b"line\r");
    let exited = t.wait_text(mark, "exited", secs(10.0));
    let end = t.wait_text(exited, "]", secs(10.0));
    let status = t.wait_exit(secs(10.0));
    assert_modes("after the program exited", &before, &t.modes());
    assert!(
        status.code().is_some(),
        "taskmasterctl should exit, not die: {status:?}"
    );
    let shown = t.text()[mark..end].to_string();
    let report = shown.lines().last().unwrap_or_default();
    assert!(
        report.contains("quit") && report.contains('3'),
        "the exit report should name the program and its exit code 3: {report:?}"
    );
    let i = d.wait_state("quit", "EXITED", secs(10.0));
    assert_eq!(i["exitcode"], 3, "{i}");
    // The program's last words, written just before it exited, come before the report.
    let before_report = &shown[..shown.len() - report.len()];
    assert!(
        before_report.contains("bye"),
        "the output written just before the exit (`bye`) was not shown; the terminal \
         shows {shown:?}; `tail quit` shows {:?}",
        ctl_tail(&d.socket(), "quit")
    );
    d.finish(secs(20.0));
}

/// 5. taskmaster shuts down while a client is attached: the client exits and the
///    terminal is restored.
#[test]
fn daemon_shutdown_while_attached_ends_the_session() {
    let mut d = Daemon::start(
        "attach-shutdown",
        &config(&[program("idle", &sh_cmd(IDLE_SH), true, "")]),
    );
    d.wait_state("idle", "RUNNING", secs(10.0));
    let mut t = Term::new();
    let before = t.modes();
    t.spawn_attach(&d.socket(), "idle");
    let mark = t.mark();
    d.send("shutdown");
    let status = t.wait_exit(secs(20.0));
    assert_modes("after taskmaster shut down", &before, &t.modes());
    // Saying why (`[taskmaster is shutting down]`) is nice but not required (SPEC §8
    // requires the restored terminal): the daemon may be gone before it can say it.
    eprintln!(
        "the client showed at shutdown: {:?}",
        t.text().get(mark..).unwrap_or("")
    );
    assert!(
        status.code().is_some(),
        "taskmasterctl should exit, not die: {status:?}"
    );
    assert_eq!(d.wait_exit(secs(20.0)), 0, "taskmaster's exit code");
}

/// 6. The client is killed by SIGTERM while attached: it restores the terminal
///    before exiting; the program keeps running.
#[test]
fn client_sigterm_while_attached_restores_the_terminal() {
    let mut d = Daemon::start(
        "attach-sigterm",
        &config(&[program("idle", &sh_cmd(IDLE_SH), true, "")]),
    );
    d.wait_state("idle", "RUNNING", secs(10.0));
    let pid = d.pid_of("idle");
    let mut t = Term::new();
    let before = t.modes();
    t.spawn_attach(&d.socket(), "idle");
    assert_ne!(t.modes(), before, "attached: the terminal should be raw");
    kill(t.client_pid(), Signal::SIGTERM).expect("SIGTERM to the client");
    let status = t.wait_exit(secs(10.0));
    assert_modes("after SIGTERM to the client", &before, &t.modes());
    assert_ne!(status.code(), Some(0), "killed by SIGTERM: {status:?}");
    let i = d.instance("idle");
    assert_eq!(i["state"], "RUNNING", "{i}");
    assert_eq!(i["pid"], pid, "{i}");
    d.finish(secs(20.0));
}

/// 7. A pipe program: typed lines go to its stdin, its output comes back; Ctrl-\
///    detaches; it keeps running.
#[test]
fn pipe_attach_sends_lines_and_detaches() {
    let mut d = Daemon::start(
        "attach-pipe",
        &config(&[program("cat", "TESTPROG echo", false, "")]),
    );
    d.wait_state("cat", "RUNNING", secs(10.0));
    let pid = d.pid_of("cat");
    let mut t = Term::new();
    let before = t.modes();
    t.spawn_attach(&d.socket(), "cat");
    let mark = t.mark();
    t.keys(b"abc\r");
    // Once as the client's local echo of the line being typed, once from the program.
    let first = t.wait_text(mark, "abc", secs(10.0));
    t.wait_text(first, "abc", secs(10.0));
    wait_tail(&d.socket(), "cat", "abc");
    assert_detached_ok(&mut t, "cat");
    assert_modes("after detaching", &before, &t.modes());
    let i = d.instance("cat");
    assert_eq!(i["state"], "RUNNING", "{i}");
    assert_eq!(i["pid"], pid, "{i}");
    d.finish(secs(20.0));
}

/// 8. Output produced while nobody is attached is in `tail` and in the stdout log
///    file, which has plain `\n` line ends (the pty's `\r\n` stripped).
#[test]
fn output_while_detached_in_tail_and_log_file_without_cr() {
    let script = format!(r#"trap "echo while-detached" USR1; echo started; {IDLE_SH}"#);
    let mut d = Daemon::start(
        "attach-log",
        &config(&[program(
            "log",
            &sh_cmd(&script),
            true,
            "    stdout: DIR/out.log\n",
        )]),
    );
    d.wait_state("log", "RUNNING", secs(10.0));
    let mut t = Term::new();
    t.spawn_attach(&d.socket(), "log");
    t.wait_text(0, "started", secs(10.0));
    assert_detached_ok(&mut t, "log");

    let (code, said) = ctl(&d.socket(), &["signal", "USR1", "log"]);
    assert_eq!(code, 0, "signal USR1 log: {said}");
    wait_tail(&d.socket(), "log", "while-detached");
    let path = d.path("out.log");
    let log = wait_for("while-detached in out.log", secs(10.0), || {
        let s = read(&path);
        s.contains("while-detached\n").then_some(s)
    });
    assert!(log.contains("started\n"), "out.log: {log:?}");
    assert!(!log.contains('\r'), "out.log has carriage returns: {log:?}");
    d.finish(secs(20.0));
}

/// 9. Refusals: a stopped instance, an unknown name, a program of several instances.
#[test]
fn attach_refusals() {
    let mut d = Daemon::start(
        "attach-refuse",
        &config(&[
            program("off", "TESTPROG sleep", true, "    autostart: false\n"),
            program("w", "TESTPROG sleep", false, "    numprocs: 2\n"),
        ]),
    );
    d.wait_state("w:0", "RUNNING", secs(10.0));
    d.wait_state("w:1", "RUNNING", secs(10.0));
    d.wait_state("off", "STOPPED", secs(10.0));

    let (code, said) = ctl(&d.socket(), &["attach", "off"]);
    assert!(said.contains("ERROR (not running)"), "attach off: {said:?}");
    assert_eq!(code, 1, "attach off: {said:?}");

    let (code, said) = ctl(&d.socket(), &["attach", "nosuch"]);
    assert!(said.contains("nosuch"), "attach nosuch: {said:?}");
    assert_eq!(code, 1, "attach nosuch: {said:?}");

    let (code, said) = ctl(&d.socket(), &["attach", "w"]);
    assert!(
        said.contains("w:0"),
        "attach w should name its instances: {said:?}"
    );
    assert_eq!(code, 1, "attach w: {said:?}");

    // On a terminal too: the refusal leaves the terminal as it was.
    let mut t = Term::new();
    let before = t.modes();
    t.spawn(&["-s", d.socket().to_str().unwrap(), "attach", "off"]);
    let status = t.wait_exit(secs(10.0));
    t.wait_text(0, "ERROR (not running)", secs(10.0));
    assert_eq!(status.code(), Some(1), "{:?}", t.text());
    assert_modes("after a refused attach", &before, &t.modes());
    d.finish(secs(20.0));
}

/// 10. The recent output is replayed on attach.
#[test]
fn recent_output_replayed_on_attach() {
    let script = format!("echo marker-123; {IDLE_SH}");
    let mut d = Daemon::start(
        "attach-replay",
        &config(&[program("m", &sh_cmd(&script), true, "")]),
    );
    d.wait_state("m", "RUNNING", secs(10.0));
    wait_tail(&d.socket(), "m", "marker-123");
    let mut t = Term::attach(&d.socket(), "m");
    let attached = t.wait_text(0, "attached to m", secs(1.0));
    t.wait_text(attached, "marker-123", secs(10.0));
    assert_detached_ok(&mut t, "m");
    d.finish(secs(20.0));
}

/// 11. Two clients attached at once share the view: input from either, output in both.
#[test]
fn two_clients_share_the_view() {
    let mut d = Daemon::start(
        "attach-two",
        &config(&[program("echo", &sh_cmd(ECHO_SH), true, "")]),
    );
    d.wait_state("echo", "RUNNING", secs(10.0));
    let mut a = Term::attach(&d.socket(), "echo");
    let mut b = Term::attach(&d.socket(), "echo");
    let (ma, mb) = (a.mark(), b.mark());
    a.keys(b"from-a\r");
    a.wait_text(ma, "got: from-a", secs(10.0));
    b.wait_text(mb, "got: from-a", secs(10.0));
    let (ma, mb) = (a.mark(), b.mark());
    b.keys(b"from-b\r");
    a.wait_text(ma, "got: from-b", secs(10.0));
    b.wait_text(mb, "got: from-b", secs(10.0));
    assert_detached_ok(&mut a, "echo");
    // B is still attached after A left.
    let mb = b.mark();
    b.keys(b"alone\r");
    b.wait_text(mb, "got: alone", secs(10.0));
    assert_detached_ok(&mut b, "echo");
    d.finish(secs(20.0));
}

/// 12. A client that attaches and never reads does not slow the program: 200 MiB
///     through a pipe land whole in the file while it stays connected.
#[test]
fn stalled_attach_client_does_not_slow_the_program() {
    let cmd = sh_cmd("read go; exec TESTPROG flood 200M");
    let mut d = Daemon::start(
        "attach-stall",
        &config(&[program(
            "f",
            &cmd,
            false,
            "    autorestart: never\n    stdout: DIR/f.out\n",
        )]),
    );
    d.wait_state("f", "RUNNING", secs(10.0));
    let mut stalled = UnixStream::connect(d.socket()).expect("connect");
    stalled
        .write_all(b"{\"command\": \"attach\", \"args\": [\"f\"]}\n")
        .expect("attach request");
    d.wait_log("the stalled client attached", secs(10.0), |log| {
        log.contains("attached to f")
    });
    // Start the flood with an input frame: `go\n`.
    stalled.write_all(b"\x00\x00\x03go\n").expect("input frame");
    let started = Instant::now();
    let i = d.wait_state("f", "EXITED", secs(120.0));
    let took = started.elapsed();
    assert_eq!(i["exitcode"], 0, "{i}");
    let size = std::fs::metadata(d.path("f.out")).expect("f.out").len();
    assert_eq!(size, 200 << 20, "f.out size");
    // The stalled client was connected all along: the daemon still has data for it.
    stalled
        .set_read_timeout(Some(secs(10.0)))
        .expect("read timeout");
    let mut buf = [0u8; 1024];
    let n = stalled
        .read(&mut buf)
        .expect("read from the stalled connection");
    assert!(n > 0, "the stalled connection was closed");
    eprintln!("200 MiB flood with a stalled attach client took {took:?}");
    drop(stalled);
    d.finish(secs(20.0));
}

#[test]
fn screen_text_strips_escapes_and_carriage_returns() {
    assert_eq!(screen_text(b"a\x1b[1;2Hb\r\nc\x1b]0;t\x07d\x1b"), "ab\ncd");
}
