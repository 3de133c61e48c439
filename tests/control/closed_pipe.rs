//! `taskmasterctl … | head`: a reader that goes away ends the client quietly — no
//! panic message, no hang — for one-shots, streams, attach and the piped shell.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};

use super::support::*;
use super::CTL;
use crate::common::*;

/// A program that prints a line every 200 ms, and one that prints nothing.
const YAML: &str = "programs:\n  chatty:\n    cmd: TESTPROG chatty\n    starttime: 0\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n";

/// Starts `taskmasterctl -s SOCKET ARGS…` with stdin and stdout as pipes.
fn spawn_ctl(socket: &std::path::Path, args: &[&str]) -> Child {
    Command::new(CTL)
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start taskmasterctl")
}

/// Waits for the client to exit by itself; returns its exit code and stderr, after
/// checking that it did not panic.
fn assert_quiet_end(mut child: Child, what: &str) -> i32 {
    let status = wait_for(&format!("{what} to exit"), secs(20.0), || {
        child.try_wait().expect("try_wait")
    });
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    assert!(
        !stderr.contains("panicked"),
        "{what}: a closed pipe must not panic the client; stderr: {stderr:?}"
    );
    assert_ne!(status.code(), Some(101), "{what}: exit status {status:?}");
    assert!(
        stderr.trim().is_empty(),
        "{what}: nothing on stderr; got {stderr:?}"
    );
    status.code().unwrap_or(-1)
}

/// Reads from the client's stdout until `needle` arrives, then closes the pipe.
fn read_until_then_close(child: &mut Child, needle: &str) {
    let mut out = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = out.read(&mut buf).expect("read the client's output");
        assert!(n > 0, "the client ended before printing {needle:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    drop(out);
}

#[test]
fn commands_into_a_closed_pipe_end_quietly() {
    let d = Daemon::start("ctl-closed-pipe", YAML);
    let sock = d.socket();
    wait_running(&sock, &["chatty", "sleeper"], secs(10.0));

    // A reader gone before the first byte: `status`, `help`.
    for args in [&["status"][..], &["help"], &["version"]] {
        let mut child = spawn_ctl(&sock, args);
        drop(child.stdout.take());
        let code = assert_quiet_end(child, &format!("taskmasterctl {args:?}"));
        assert_eq!(code, 0, "taskmasterctl {args:?}");
    }

    // `tail -f` of a program that keeps printing: the reader leaves after a line.
    let mut child = spawn_ctl(&sock, &["tail", "-f", "chatty"]);
    read_until_then_close(&mut child, "chatty stdout line");
    assert_quiet_end(child, "taskmasterctl tail -f chatty");

    // `attach` of a pipe program, stdin kept open: the reader leaves after a line.
    let mut child = spawn_ctl(&sock, &["attach", "chatty"]);
    read_until_then_close(&mut child, "chatty stdout line");
    assert_quiet_end(child, "taskmasterctl attach chatty");
    // ...and a reader gone before the first byte.
    let mut child = spawn_ctl(&sock, &["attach", "chatty"]);
    drop(child.stdout.take());
    assert_quiet_end(child, "taskmasterctl attach chatty, reader gone at once");
    assert_eq!(
        instance(&sock, "chatty")["state"],
        "RUNNING",
        "the program goes on"
    );

    // The shell with commands piped in, its output piped to a reader that is gone.
    let mut child = spawn_ctl(&sock, &[]);
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(b"status\nversion\nattach chatty\ntail -f chatty\nstatus\n");
    drop(stdin);
    assert_quiet_end(child, "taskmasterctl's shell");
}
