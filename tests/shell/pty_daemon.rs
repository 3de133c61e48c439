//! A daemon on a pseudo-terminal, driven as a person at its interactive shell.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::common::pty::{spawn_on, Screen};
use crate::common::*;

pub const PROMPT: &str = "taskmaster> ";

/// A daemon whose stdin/stdout/stderr is a pty slave that is also its controlling
/// terminal. Dropping it kills it (and its children's process groups) if still alive.
/// It derefs to its [`Screen`]: `text`, `mark`, `keys`, `wait_text`.
pub struct PtyDaemon {
    /// Holds the config (`taskmaster.yaml`) and the socket (`s.sock`).
    dir: PathBuf,
    /// The temp dir, when this daemon owns it.
    _owned: Option<TempDir>,
    child: Option<Child>,
    /// The terminal: its master, and everything it received so far.
    screen: Screen,
}

impl Deref for PtyDaemon {
    type Target = Screen;
    fn deref(&self) -> &Screen {
        &self.screen
    }
}

impl DerefMut for PtyDaemon {
    fn deref_mut(&mut self) -> &mut Screen {
        &mut self.screen
    }
}

impl PtyDaemon {
    /// Writes `yaml` (TESTPROG and DIR replaced) as `taskmaster.yaml` in a new temp
    /// dir and starts the daemon on it.
    pub fn start(tag: &str, yaml: &str) -> PtyDaemon {
        let tmp = TempDir::new(tag);
        write_config_file(&tmp.0, yaml);
        let mut d = Self::start_in(&tmp.0);
        d._owned = Some(tmp);
        d
    }

    /// Starts the daemon on `dir/taskmaster.yaml`, with its socket `dir/s.sock`.
    pub fn start_in(dir: &Path) -> PtyDaemon {
        let (screen, slave) = Screen::open(24, 80);
        let mut cmd = Command::new(TASKMASTER);
        // The default history file goes to the test's directory, not the user's.
        cmd.env("HOME", dir)
            .arg("-c")
            .arg(dir.join("taskmaster.yaml"))
            .arg("--socket")
            .arg(dir.join("s.sock"));
        let child = spawn_on(cmd, &slave).expect("start taskmaster on a pty");
        // Our copy of the slave goes now: the master then sees EIO once the daemon
        // (the last holder) is gone.
        drop(slave);
        PtyDaemon {
            dir: dir.to_path_buf(),
            _owned: None,
            child: Some(child),
            screen,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(-1, |c| c.id() as i32)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("s.sock")
    }

    /// The event log (the default `taskmaster.log` next to the config).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("taskmaster.log")).unwrap_or_default()
    }

    /// Waits for a complete line after `from` satisfying `pred`; returns it and the
    /// position after its newline.
    pub fn wait_line(
        &self,
        from: usize,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> (String, usize) {
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

    /// Answers the quit question that follows `from` with `answer` (and Enter).
    pub fn answer_quit(&mut self, from: usize, answer: &str) {
        self.wait_text(from, "[y/N] ", secs(10.0));
        self.type_text(answer);
        self.keys("\r");
    }

    /// Waits for a prompt after `from`; returns the position just after it.
    pub fn wait_prompt(&self, from: usize) -> usize {
        self.wait_text(from, PROMPT, secs(10.0))
    }

    /// Types `text` one key at a time, as a person does: each key is echoed before
    /// the next is pressed. Returns the position after the echo. (Several keys in
    /// one read are another matter: see the `burst` tests.)
    pub fn type_text(&mut self, text: &str) -> usize {
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
    pub fn run(&mut self, line: &str, expect: &str) -> String {
        self.type_text(line);
        let mark = self.mark();
        self.keys("\r");
        let end = self.wait_text(mark, expect, secs(20.0));
        let next = self.wait_prompt(end);
        self.text()[mark..next].to_string()
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let child = self.child.as_mut().expect("daemon running");
        let status = self.screen.wait_exit(child, "taskmaster", timeout);
        self.child = None;
        status.code().unwrap_or(-1)
    }
}

impl Drop for PtyDaemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            kill_with_groups(child);
        }
    }
}
