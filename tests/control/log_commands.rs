//! supervisorctl's habits through taskmasterctl, against a real daemon: `status`'s
//! LSB exit codes, `clear` (the output files and what `tail` shows), `maintail`
//! (the event log's end, and `-f` following it).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use super::support::*;
use super::CTL;
use crate::common::*;

const YAML: &str = "programs:
  web:
    cmd: TESTPROG print hello-out hello-err
    starttime: 0
    stdout: DIR/web.out
    stderr: DIR/web.err
  idle:
    cmd: TESTPROG sleep
    autostart: false
";

#[test]
fn status_exits_with_supervisorctls_lsb_codes() {
    let mut d = Daemon::start("ctl-status-codes", YAML);
    let sock = d.socket();
    wait_running(&sock, &["web"], secs(10.0));

    // 0: every instance named runs; 3: some is STOPPED; 4: an unknown name.
    for (args, code) in [
        (&["status", "web"][..], 0),
        (&["status", "web", "--json"], 0),
        (&["status"], 3),
        (&["status", "idle"], 3),
        (&["status", "--json"], 3),
        (&["status", "web", "nosuch"], 4),
        (&["status", "idle", "nosuch", "--json"], 4),
    ] {
        let out = ctl(&sock, args);
        assert_eq!(out.code, code, "{args:?}: {out:?}");
    }
    // An unknown group, in supervisorctl's words.
    let out = ctl(&sock, &["status", "nosuch:*"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert_eq!(out.stdout.trim(), "nosuch: ERROR (no such group)");
    ctl_ok(&sock, &["start", "idle"], 0);
    ctl_ok(&sock, &["status"], 0);
    // A FATAL or EXITED instance is not running either.
    ctl_ok(&sock, &["stop", "idle"], 0);
    ctl_ok(&sock, &["status", "idle"], 3);
    // Other commands keep their codes: an unknown name is 1.
    assert_eq!(ctl(&sock, &["pid", "nosuch"]).code, 1);

    // No daemon to ask: 4 for status, 3 for any other command.
    assert_eq!(d.finish(secs(20.0)), 0);
    let out = ctl(&sock, &["status"]);
    assert_eq!(out.code, 4, "{out:?}");
    let out = ctl(&sock, &["pid"]);
    assert_eq!(out.code, 3, "{out:?}");
}

#[test]
fn clear_empties_the_output_files_and_the_tail() {
    let mut d = Daemon::start("ctl-clear", YAML);
    let sock = d.socket();
    wait_running(&sock, &["web"], secs(10.0));
    let (out_file, err_file) = (d.path("web.out"), d.path("web.err"));
    wait_file(&out_file, secs(10.0), |t| t.contains("hello-out"));
    wait_file(&err_file, secs(10.0), |t| t.contains("hello-err"));
    wait_for("tail shows the output", secs(10.0), || {
        ctl_ok(&sock, &["tail", "web"], 0)
            .contains("hello-out")
            .then_some(())
    });

    let out = ctl_ok(&sock, &["clear", "web"], 0);
    assert_eq!(out.trim(), "web: cleared");
    assert_eq!(std::fs::metadata(&out_file).expect("web.out").len(), 0);
    assert_eq!(std::fs::metadata(&err_file).expect("web.err").len(), 0);
    assert_eq!(ctl_ok(&sock, &["tail", "web"], 0).trim(), "");
    assert_eq!(ctl_ok(&sock, &["tail", "web", "stderr"], 0).trim(), "");
    let pid = instance(&sock, "web")["pid"].clone();

    // Bad input: a clear message, and nothing cleared or stopped.
    let out = ctl(&sock, &["clear", "nosuch"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout.trim(), "nosuch: ERROR (no such process)");
    let out = ctl(&sock, &["clear"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stdout.contains("clear requires a process name"),
        "{out:?}"
    );

    // The program keeps running and writing: its next line lands in the emptied file.
    assert_eq!(instance(&sock, "web")["pid"], pid);
    ctl_ok(&sock, &["restart", "web"], 0);
    let text = wait_file(&out_file, secs(10.0), |t| t.contains("hello-out"));
    assert_eq!(text, "hello-out\n");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn maintail_shows_the_event_log_and_follows_it() {
    let mut d = Daemon::start("ctl-maintail", YAML);
    let sock = d.socket();
    wait_running(&sock, &["web"], secs(10.0));

    let all = ctl_ok(&sock, &["maintail"], 0);
    assert!(all.contains("started with pid"), "{all:?}");
    assert!(all.ends_with('\n') && all.len() <= 1601, "{all:?}");
    // -N: at most the last N bytes, from the start of a line.
    let some = ctl_ok(&sock, &["maintail", "-200"], 0);
    assert!(some.len() <= 201 && !some.is_empty(), "{some:?}");
    assert!(d.log().ends_with(&some), "{some:?} is the log's end");
    for bad in [
        &["maintail", "-x"][..],
        &["maintail", "-f", "-f"],
        &["maintail", "10"],
    ] {
        let out = ctl(&sock, bad);
        assert_eq!(out.code, 2, "{bad:?}: {out:?}");
        assert!(out.stdout.contains("maintail [-f] [-N]"), "{out:?}");
    }

    // -f: a new event shows up in the stream.
    let mut child = Command::new(CTL)
        .arg("-s")
        .arg(&sock)
        .args(["maintail", "-f", "-100"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start taskmasterctl maintail -f");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The stream is live once the reply (the log's end) came.
    rx.recv_timeout(secs(10.0)).expect("maintail -f replies");
    ctl_ok(&sock, &["stop", "web"], 0);
    let deadline = Instant::now() + secs(10.0);
    let mut seen = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("stop requested by") && line.contains("web") => break true,
            Ok(line) => seen.push(line),
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "maintail -f did not show the stop: {seen:?}");
    assert_eq!(d.finish(secs(20.0)), 0);
}
