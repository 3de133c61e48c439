//! The daemon's interactive shell (SPEC §2, §6) through a real pseudo-terminal: the
//! daemon runs with a pty slave as its controlling terminal and standard streams, the
//! test types keystrokes into the master and reads what the terminal shows.
//!
//! What the terminal shows is matched after removing escape sequences and carriage
//! returns. Nothing here sleeps blindly: every wait is a condition polled until a
//! deadline.

mod common;
use common::*;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::libc;
use nix::pty::{openpty, Winsize};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const CTL: &str = env!("CARGO_BIN_EXE_taskmasterctl");
const PROMPT: &str = "taskmaster> ";
const UP: &str = "\x1b[A";
const CTRL_C: &str = "\x03";
const CTRL_D: &str = "\x04";

// ---- pty helpers ------------------------------------------------------------------------

/// Terminal output as text: escape sequences (CSI, OSC, two-byte escapes), carriage
/// returns and other control bytes removed, newlines and tabs kept. An escape
/// sequence cut off at the end of `raw` is left out until it is complete, so the
/// result only ever grows as `raw` grows (positions in it stay valid).
fn screen_text(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == 0x1b {
            let Some(&kind) = raw.get(i + 1) else { break };
            match kind {
                b'[' => {
                    // Parameters and intermediates, then one final byte 0x40..=0x7e.
                    let mut j = i + 2;
                    while j < raw.len() && !(0x40..=0x7e).contains(&raw[j]) {
                        j += 1;
                    }
                    if j >= raw.len() {
                        break;
                    }
                    i = j + 1;
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

/// Marks a descriptor close-on-exec (openpty does not), so the other tests' spawns
/// running in parallel do not inherit our terminal.
fn cloexec(fd: &OwnedFd) {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).expect("FD_CLOEXEC");
}

/// A daemon whose stdin/stdout/stderr is a pty slave that is also its controlling
/// terminal. Dropping it kills it (and its children's process groups) if still alive.
struct PtyDaemon {
    /// Holds the config (`taskmaster.yaml`) and the socket (`s.sock`).
    dir: PathBuf,
    /// The temp dir, when this daemon owns it.
    _owned: Option<TempDir>,
    child: Option<Child>,
    master: File,
    /// Everything the terminal received so far.
    raw: Arc<Mutex<Vec<u8>>>,
}

impl PtyDaemon {
    /// Writes `yaml` (TESTPROG and DIR replaced) as `taskmaster.yaml` in a new temp
    /// dir and starts the daemon on it.
    fn start(tag: &str, yaml: &str) -> PtyDaemon {
        let tmp = TempDir::new(tag);
        write_config(&tmp.0, yaml);
        let mut d = Self::start_in(&tmp.0);
        d._owned = Some(tmp);
        d
    }

    /// Starts the daemon on `dir/taskmaster.yaml`, with its socket `dir/s.sock`.
    fn start_in(dir: &Path) -> PtyDaemon {
        let size = Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // openpty sets the window size (TIOCSWINSZ) on the new terminal.
        let pty = openpty(Some(&size), None).expect("openpty");
        cloexec(&pty.master);
        cloexec(&pty.slave);
        let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup slave"));
        let mut cmd = Command::new(TASKMASTER);
        cmd.arg("-c")
            .arg(dir.join("taskmaster.yaml"))
            .arg("--socket")
            .arg(dir.join("s.sock"))
            .env("TERM", "xterm")
            .stdin(stdio(&pty.slave))
            .stdout(stdio(&pty.slave))
            .stderr(stdio(&pty.slave));
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
        let child = cmd.spawn().expect("start taskmaster on a pty");
        // Our copies of the slave go now: the master then sees EIO once the daemon
        // (the last holder) is gone.
        drop(cmd);
        drop(pty.slave);
        let master = File::from(pty.master);
        let mut reader = master.try_clone().expect("dup master");
        let raw = Arc::new(Mutex::new(Vec::new()));
        let sink = raw.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO: every slave descriptor is closed; that is the end.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtyDaemon {
            dir: dir.to_path_buf(),
            _owned: None,
            child: Some(child),
            master,
            raw,
        }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().map_or(-1, |c| c.id() as i32)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("s.sock")
    }

    /// The screen text so far.
    fn text(&self) -> String {
        screen_text(&self.raw.lock().unwrap())
    }

    /// A position in the screen text, to look only at what comes after it.
    fn mark(&self) -> usize {
        self.text().len()
    }

    /// Sends `keys` to the terminal in one write, as a terminal sends one key's
    /// bytes (or a paste, or keys typed ahead while the daemon is busy).
    fn keys(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).expect("type keys");
        self.master.flush().expect("flush keys");
    }

    /// Waits until `needle` appears after `from`; returns the position just after it.
    fn wait_text(&self, from: usize, needle: &str, timeout: Duration) -> usize {
        let mut last = String::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(&format!("{needle:?} on the terminal"), timeout, || {
                last = self.text();
                last.get(from..)?
                    .find(needle)
                    .map(|i| from + i + needle.len())
            })
        }));
        found.unwrap_or_else(|_| {
            panic!(
                "timed out after {timeout:?} waiting for {needle:?} on the terminal after \
                 position {from}; the terminal shows after it:\n{:?}",
                last.get(from..).unwrap_or("")
            )
        })
    }

    /// Waits for a complete line after `from` satisfying `pred`; returns it and the
    /// position after its newline.
    fn wait_line(&self, from: usize, what: &str, pred: impl Fn(&str) -> bool) -> (String, usize) {
        let mut last = String::new();
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for(what, secs(10.0), || {
                last = self.text();
                let mut pos = from;
                for line in last.get(from..)?.split_inclusive('\n') {
                    pos += line.len();
                    if let Some(l) = line.strip_suffix('\n') {
                        if pred(l) {
                            return Some((l.to_string(), pos));
                        }
                    }
                }
                None
            })
        }));
        found.unwrap_or_else(|_| {
            panic!(
                "timed out waiting for {what}; the terminal shows:\n{:?}",
                last.get(from..).unwrap_or("")
            )
        })
    }

    /// Waits for a prompt after `from`; returns the position just after it.
    fn wait_prompt(&self, from: usize) -> usize {
        self.wait_text(from, PROMPT, secs(10.0))
    }

    /// Types `text` one key at a time, as a person does: each key is echoed before
    /// the next is pressed. Returns the position after the echo. (Several keys in
    /// one read are another matter: see the `burst` tests.)
    fn type_text(&mut self, text: &str) -> usize {
        let mark = self.mark();
        let mut end = mark;
        for (i, c) in text.char_indices() {
            self.keys(c.encode_utf8(&mut [0u8; 4]));
            end = self.wait_text(mark, &text[..i + c.len_utf8()], secs(10.0));
        }
        end
    }

    /// Types `line` and Enter at a fresh prompt, waits for `expect` in the reply and
    /// for the next prompt; returns the text of the reply.
    fn run(&mut self, line: &str, expect: &str) -> String {
        self.type_text(line);
        let mark = self.mark();
        self.keys("\r");
        let end = self.wait_text(mark, expect, secs(20.0));
        let next = self.wait_prompt(end);
        self.text()[mark..next].to_string()
    }

    fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = std::time::Instant::now() + timeout;
        let child = self.child.as_mut().expect("daemon running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status.code().unwrap_or(-1);
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "taskmaster did not exit within {timeout:?}; the terminal shows:\n{:?}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for PtyDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            for c in children_of(pid) {
                let _ = kill(Pid::from_raw(-c), Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn write_config(dir: &Path, yaml: &str) {
    let yaml = yaml
        .replace("TESTPROG", TESTPROG)
        .replace("DIR", dir.to_str().expect("utf-8 temp dir"));
    std::fs::write(dir.join("taskmaster.yaml"), yaml).expect("write config");
}

/// `status --json` through taskmasterctl over the daemon's socket.
fn ctl_status(socket: &Path) -> Option<Vec<Value>> {
    UnixStream::connect(socket).ok()?;
    let out = Command::new(CTL)
        .arg("-s")
        .arg(socket)
        .args(["status", "--json"])
        .stdin(Stdio::null())
        .output()
        .expect("run taskmasterctl");
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Waits until every instance of the daemon is RUNNING; returns their pids.
fn wait_all_running(socket: &Path, count: usize) -> Vec<i32> {
    wait_for("every instance RUNNING", secs(10.0), || {
        let items = ctl_status(socket)?;
        let pids: Vec<i32> = items
            .iter()
            .filter(|i| i["state"] == "RUNNING")
            .filter_map(|i| i["pid"].as_i64().map(|p| p as i32))
            .collect();
        (items.len() == count && pids.len() == count).then_some(pids)
    })
}

/// Types `quit`, Enter; the daemon must exit 0.
fn quit(d: &mut PtyDaemon) {
    d.type_text("quit");
    let mark = d.mark();
    d.keys("\r");
    let code = d.wait_exit(secs(20.0));
    assert_eq!(
        code,
        0,
        "exit after quit; the terminal showed: {:?}",
        &d.text()[mark..]
    );
}

/// Is this line the status line of `name` in `state`?
fn status_line_of(line: &str, name: &str, state: &str) -> bool {
    let mut words = line.split_whitespace();
    words.next() == Some(name) && words.next() == Some(state)
}

const WEB_YAML: &str = "programs:\n  webserver:\n    cmd: TESTPROG sleep\n    starttime: 0\n";

// ---- tests ------------------------------------------------------------------------------

#[test]
fn prompt_and_status() {
    let mut d = PtyDaemon::start("shell-status", WEB_YAML);
    let pid = wait_all_running(&d.socket(), 1)[0];
    d.wait_prompt(0);
    let reply = d.run("status", "webserver");
    let line = reply
        .lines()
        .find(|l| status_line_of(l, "webserver", "RUNNING"))
        .unwrap_or_else(|| panic!("no RUNNING line for webserver in {reply:?}"));
    assert!(line.contains(&format!("pid {pid}, uptime ")), "{line:?}");
    quit(&mut d);
}

#[test]
fn history_persists_across_restarts() {
    let dir = TempDir::new("shell-history");
    let hist = dir.path("hist");
    write_config(
        &dir.0,
        "taskmaster:\n  history: DIR/hist\nprograms:\n  webserver:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let mut d = PtyDaemon::start_in(&dir.0);
    wait_all_running(&d.socket(), 1);
    d.wait_prompt(0);
    d.run("status", "webserver");
    // Ctrl-D leaves without adding a line to the history (`quit` would be the last).
    d.keys(CTRL_D);
    assert_eq!(d.wait_exit(secs(20.0)), 0);
    let saved = read(&hist);
    assert!(saved.contains("status"), "history file: {saved:?}");

    // Start again on the same config (and history file).
    drop(d);
    let mut d = PtyDaemon::start_in(&dir.0);
    wait_all_running(&d.socket(), 1);
    let ready = d.wait_prompt(0);
    d.keys(UP);
    d.wait_text(ready, "status", secs(10.0));
    let mark = d.mark();
    d.keys("\r");
    let (_, end) = d.wait_line(mark, "the recalled status to run", |l| {
        status_line_of(l, "webserver", "RUNNING")
    });
    d.wait_prompt(end);
    quit(&mut d);
}

#[test]
fn tab_completes_a_process_name() {
    let mut d = PtyDaemon::start(
        "shell-complete",
        "programs:\n  webserver:\n    cmd: TESTPROG sleep\n    starttime: 0\n  database:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    wait_all_running(&d.socket(), 2);
    d.wait_prompt(0);
    let typed = d.type_text("status web");
    d.keys("\t");
    d.wait_text(typed, "server", secs(10.0));
    let mark = d.mark();
    d.keys("\r");
    let (_, line_end) = d.wait_line(mark, "status of the completed name", |l| {
        status_line_of(l, "webserver", "RUNNING")
    });
    let end = d.wait_prompt(line_end);
    let reply = d.text()[mark..end].to_string();
    assert!(
        !reply.contains("database") && !reply.contains("ERROR"),
        "only webserver was asked for: {reply:?}"
    );
    quit(&mut d);
}

#[test]
fn ctrl_c_clears_the_line_and_never_stops_the_daemon() {
    let mut d = PtyDaemon::start("shell-ctrlc", WEB_YAML);
    let pids = wait_all_running(&d.socket(), 1);
    let ready = d.wait_prompt(0);

    // At an empty prompt.
    d.keys(CTRL_C);
    d.wait_prompt(ready);
    assert!(alive(d.pid()), "Ctrl-C must not stop the daemon");
    d.run("status", "webserver");

    // While typing: the partial line is dropped.
    let typed = d.type_text("stat");
    d.keys(CTRL_C);
    d.wait_prompt(typed);
    let reply = d.run("version", env!("CARGO_PKG_VERSION"));
    assert!(
        !reply.contains("Unknown syntax") && !reply.contains("statversion"),
        "the partial line was cleared: {reply:?}"
    );
    assert!(alive(d.pid()), "the daemon is alive");
    assert_eq!(
        wait_all_running(&d.socket(), 1),
        pids,
        "nothing was restarted"
    );
    quit(&mut d);
}

const POOL_YAML: &str = "programs:\n  pool:\n    cmd: TESTPROG sleep\n    numprocs: 2\n    starttime: 0\n  webserver:\n    cmd: TESTPROG sleep\n    starttime: 0\n";

fn check_leaves_and_stops_everything(tag: &str, keys: &str) {
    let mut d = PtyDaemon::start(tag, POOL_YAML);
    let pids = wait_all_running(&d.socket(), 3);
    d.wait_prompt(0);
    if keys != CTRL_D {
        d.type_text(keys);
        d.keys("\r");
    } else {
        d.keys(CTRL_D);
    }
    assert_eq!(d.wait_exit(secs(20.0)), 0, "exit status after {keys:?}");
    for pid in pids {
        assert!(!alive(pid), "child {pid} is gone after {keys:?}");
    }
    assert!(!d.socket().exists(), "the socket is removed");
}

#[test]
fn quit_stops_every_child_and_exits_0() {
    check_leaves_and_stops_everything("shell-quit", "quit");
}

#[test]
fn ctrl_d_at_an_empty_prompt_is_quit() {
    check_leaves_and_stops_everything("shell-ctrld", CTRL_D);
}

#[test]
fn fatal_notice_is_printed_and_the_prompt_stays_usable() {
    // Dies 1.5 s into a 3 s starttime, no retries: FATAL while the user types.
    let mut d = PtyDaemon::start(
        "shell-notice",
        "programs:\n  flaky:\n    cmd: TESTPROG exit 1 1.5\n    starttime: 3\n    startretries: 0\n  webserver:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    d.wait_prompt(0);
    // Half a command typed before the notice arrives.
    let typed = d.type_text("stat");
    let notice = d.wait_text(typed, "FATAL", secs(20.0));
    let text = d.text();
    let notice_line = text[..notice]
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        notice_line.contains("flaky"),
        "the notice names the instance: {notice_line:?}"
    );
    // The prompt and the half-typed line are redrawn below the notice...
    d.wait_text(notice, &format!("{PROMPT}stat"), secs(10.0));
    // ...and the line completes to a working command.
    d.type_text("us flaky");
    let mark = d.mark();
    d.keys("\r");
    let (_, end) = d.wait_line(mark, "status of flaky", |l| {
        status_line_of(l, "flaky", "FATAL")
    });
    d.wait_prompt(end);
    d.run("status webserver", "webserver");
    quit(&mut d);
}

// ---- keys that arrive together ----------------------------------------------------------
//
// A terminal delivers several keys in one read whenever they come faster than the
// shell reads them: a paste (without bracketed paste), keys typed ahead while a
// command runs, a laggy ssh link, `expect`-style automation. A shell must treat
// them exactly like keys typed one by one (GNU readline in supervisorctl does).

#[test]
fn burst_a_whole_line_in_one_write_runs() {
    let mut d = PtyDaemon::start("shell-burst", WEB_YAML);
    wait_all_running(&d.socket(), 1);
    let ready = d.wait_prompt(0);
    d.keys("status\r");
    let (line, end) = d.wait_line(
        ready,
        "the status line after \"status\\r\" in one write",
        |l| status_line_of(l, "webserver", "RUNNING"),
    );
    assert!(line.contains("pid "), "{line:?}");
    d.wait_prompt(end);
    quit(&mut d);
}

#[test]
fn burst_a_line_typed_ahead_is_not_lost() {
    let mut d = PtyDaemon::start("shell-typeahead", WEB_YAML);
    wait_all_running(&d.socket(), 1);
    let ready = d.wait_prompt(0);
    d.keys("status\rversion\r");
    d.wait_line(ready, "the status line", |l| {
        status_line_of(l, "webserver", "RUNNING")
    });
    let (_, end) = d.wait_line(ready, "the version typed ahead", |l| {
        l.trim() == env!("CARGO_PKG_VERSION")
    });
    d.wait_prompt(end);
    quit(&mut d);
}
