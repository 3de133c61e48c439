//! `attach NAME` (README: Attach) through `taskmasterctl` running on a real pseudo-terminal:
//! the client's stdin/stdout/stderr is a pty slave that is also its controlling
//! terminal; the test types into the master, reads what the terminal shows, and
//! compares the terminal's modes (read on the slave, which the test keeps open)
//! before and after the session.
//!
//! What the terminal shows is matched after removing escape sequences and carriage
//! returns. Nothing here sleeps blindly: every wait is a condition polled until a
//! deadline.

mod endings;
mod interactive;
mod output;
mod pipe_keys;
mod shared_size;
pub(crate) mod term;

use crate::common::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use term::Term;

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
    let mut last = String::new();
    let shown = poll_until(secs(10.0), Duration::from_millis(20), || {
        last = ctl_tail(socket, name);
        last.contains(needle).then_some(())
    });
    assert!(
        shown.is_some(),
        "`tail {name}` never showed {needle:?}; it shows:\n{last}"
    );
}

// ---- terminal helpers -------------------------------------------------------------------

/// Types the detach key; the client must say so and exit 0.
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

#[test]
fn screen_text_strips_escapes_and_carriage_returns() {
    assert_eq!(
        crate::common::pty::screen_text(b"a\x1b[1;2Hb\r\nc\x1b]0;t\x07d\x1b"),
        "ab\ncd"
    );
}
