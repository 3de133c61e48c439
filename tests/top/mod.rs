//! `top` (README: top): the live view on a real pseudo-terminal — through
//! `taskmasterctl` (one-shot and its interactive shell) and through the daemon's
//! own shell — and the snapshot it prints without a terminal.
//!
//! A full-screen view redraws only the cells that change, with cursor moves, so
//! its bytes are replayed into a terminal emulator (`vt100`) and the test reads
//! the emulator's rows. Nothing here sleeps blindly: every wait is a condition
//! polled until a deadline.

mod ctl;
mod shell;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::pty::Screen;
use crate::common::*;

const CTL: &str = env!("CARGO_BIN_EXE_taskmasterctl");

/// Three instances told apart by every sort key: `big` holds 64 MiB, `spin`
/// burns a CPU, `idle` printed a line wrapped in colour codes.
const THREE_YAML: &str = "programs:
  big:
    cmd: TESTPROG hold 64M
    starttime: 0
  spin:
    cmd: 'sh -c ''while :; do :; done'''
    starttime: 0
  idle:
    cmd: \"TESTPROG print \\e[31mredhello\\e[0m\"
    starttime: 0
";

/// What a terminal shows, replayed from the bytes the program wrote.
pub struct Emulator {
    parser: vt100::Parser,
    /// Bytes of the screen's output already replayed.
    fed: usize,
}

impl Emulator {
    pub fn new(rows: u16, cols: u16) -> Emulator {
        Emulator {
            parser: vt100::Parser::new(rows, cols, 0),
            fed: 0,
        }
    }

    /// Replays what the terminal received since the last call.
    pub fn catch_up(&mut self, screen: &Screen) {
        let raw = screen.raw();
        self.parser.process(&raw[self.fed..]);
        self.fed = raw.len();
    }

    /// The rows as text.
    pub fn lines(&self) -> Vec<String> {
        let (_, cols) = self.parser.screen().size();
        self.parser.screen().rows(0, cols).collect()
    }

    /// The terminal is being resized: what was written so far was drawn at the
    /// old size.
    pub fn resize(&mut self, screen: &Screen, rows: u16, cols: u16) {
        self.catch_up(screen);
        self.parser.screen_mut().set_size(rows, cols);
    }

    /// Waits until the rows satisfy `pred`; returns them.
    pub fn wait(
        &mut self,
        screen: &Screen,
        what: &str,
        pred: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let found = poll_until(secs(15.0), Duration::from_millis(20), || {
            self.catch_up(screen);
            let lines = self.lines();
            pred(&lines).then_some(lines)
        });
        found.unwrap_or_else(|| {
            panic!(
                "timed out waiting for {what}; the screen shows:\n{}",
                self.lines().join("\n")
            )
        })
    }

    /// The alternate screen is left and the cursor shown again.
    pub fn restored(&self) -> bool {
        let screen = self.parser.screen();
        !screen.alternate_screen() && !screen.hide_cursor()
    }
}

/// The instance names in the table, top to bottom: the first word of each row
/// between the title row (`NAME …`) and the footer (`… q quit …`).
pub fn table_names(lines: &[String]) -> Vec<String> {
    let Some(title) = lines.iter().position(|l| l.starts_with("NAME ")) else {
        return Vec::new();
    };
    lines[title + 1..]
        .iter()
        .take_while(|l| !l.contains("q quit"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The table row of `name`.
pub fn row_of<'a>(lines: &'a [String], name: &str) -> Option<&'a String> {
    lines
        .iter()
        .find(|l| l.split_whitespace().next() == Some(name))
}

/// Sets a pseudo-terminal's size from its master side, as a terminal emulator
/// does; the kernel sends SIGWINCH to the terminal's foreground process group.
pub fn set_size(screen: &Screen, rows: u16, cols: u16) {
    use std::os::fd::AsRawFd;
    let ws = nix::libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the winsize we own.
    let rc = unsafe { nix::libc::ioctl(screen.master.as_raw_fd(), nix::libc::TIOCSWINSZ, &ws) };
    assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
}

/// A one-shot `taskmasterctl -s SOCKET ARGS…`, with no terminal.
pub fn ctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(CTL)
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run taskmasterctl")
}

pub fn wait_running(d: &mut Daemon, names: &[&str]) {
    for name in names {
        d.wait_state(name, "RUNNING", secs(10.0));
    }
}

// ---- without a terminal: one snapshot ---------------------------------------------------

#[test]
fn without_a_terminal_top_prints_one_snapshot() {
    let mut d = Daemon::start("top-snapshot", THREE_YAML);
    wait_running(&mut d, &["big", "spin", "idle"]);
    // RUNNING at once (starttime 0): until `big` has its memory and `idle` has
    // printed, a snapshot shows less.
    let (out, text, lines) = wait_for("big's memory and idle's line", secs(10.0), || {
        let out = ctl(&d.socket(), &["top"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let ready = row_of(&lines, "big").is_some_and(|r| r.ends_with("ready"))
            && row_of(&lines, "idle").is_some_and(|r| r.ends_with("redhello"));
        ready.then_some((out, text, lines))
    });
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        lines[0].starts_with(&format!("taskmaster pid {}, up ", d.pid())),
        "{text}"
    );
    assert!(lines[1].starts_with("3 instances: 3 running"), "{text}");
    // Sorted by name, each with its state and a pid.
    assert_eq!(table_names(&lines), ["big", "idle", "spin"], "{text}");
    let big = row_of(&lines, "big").expect("a row for big");
    assert!(big.contains("RUNNING") && big.contains("MiB"), "{big:?}");
    // The last line, its colour codes taken out.
    let idle = row_of(&lines, "idle").expect("a row for idle");
    assert!(idle.ends_with(" redhello"), "{idle:?}");
    assert!(
        !text.contains('\x1b'),
        "no escape code in the snapshot: {text:?}"
    );

    // The daemon's stdin, not a terminal, answers the same way.
    let mark = d.mark();
    d.send("top");
    d.wait_line(mark, "the snapshot's title row", secs(10.0), |l| {
        l.starts_with("NAME ") && l.ends_with("LAST LINE")
    });

    // Bad input: a clear message, exit 2, nothing else.
    let bad = ctl(&d.socket(), &["top", "web"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&bad.stdout).trim(),
        "Error: top accepts no arguments"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// Resident memory of `pid` in bytes, from `/proc/PID/statm`.
fn resident_bytes(pid: i32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("rss");
    pages * 4096
}

/// The daemon's line counts its spawn helper, which does the daemon's part of
/// every start: the memory shown is both processes'.
#[test]
fn the_daemons_line_counts_its_spawn_helper() {
    use std::io::{BufRead, Write};
    let mut d = Daemon::start("top-helper", THREE_YAML);
    wait_running(&mut d, &["big", "spin", "idle"]);
    // A child of one of the daemon's threads (the one that started it).
    let helper = std::fs::read_dir(format!("/proc/{}/task", d.pid()))
        .expect("tasks")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .find(|&pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).any(|a| a == b"--spawn-helper"))
        })
        .expect("the spawn helper among the daemon's children");
    let (mut stream, mut reader) = crate::control::support::connect(&d.socket());
    stream
        .write_all(b"{\"command\": \"top\"}\n")
        .expect("send top");
    let mut line = String::new();
    reader.read_line(&mut line).expect("a reply");
    let reply: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    let shown = reply["data"]["daemon"]["memory_bytes"]
        .as_u64()
        .expect("memory_bytes");
    let (own, helpers) = (resident_bytes(d.pid()), resident_bytes(helper));
    // Both move a little between the reads: half the helper's is the margin.
    assert!(
        shown > own + helpers / 2,
        "shown {shown}, the daemon's {own}, its helper's {helpers}"
    );
    d.finish(secs(20.0));
}
