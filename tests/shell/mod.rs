//! The daemon's interactive shell (README: Command line, Commands) through a real pseudo-terminal: the
//! daemon runs with a pty slave as its controlling terminal and standard streams, the
//! test types keystrokes into the master and reads what the terminal shows.
//!
//! What the terminal shows is matched after removing escape sequences and carriage
//! returns. Nothing here sleeps blindly: every wait is a condition polled until a
//! deadline.

mod client;
mod completion;
mod events;
mod hangup;
mod interrupt;
mod notices;
pub(crate) mod pty_daemon;
mod quitting;

use crate::common::*;

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use pty_daemon::{PtyDaemon, PROMPT};

const CTL: &str = env!("CARGO_BIN_EXE_taskmasterctl");
const UP: &str = "\x1b[A";
const CTRL_C: &str = "\x03";
const CTRL_D: &str = "\x04";

// ---- helpers ----------------------------------------------------------------------------

/// A one-shot taskmasterctl over the daemon's socket.
fn ctl(socket: &Path, args: &[&str]) -> std::process::Output {
    Command::new(CTL)
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run taskmasterctl")
}

/// `status --json` through taskmasterctl over the daemon's socket.
fn ctl_status(socket: &Path) -> Option<Vec<Value>> {
    UnixStream::connect(socket).ok()?;
    let out = ctl(socket, &["status", "--json"]);
    // 0 every instance running, 3 some stopped (supervisorctl's LSB codes).
    if !matches!(out.status.code(), Some(0 | 3)) {
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

/// Types `quit -y`, Enter; the daemon must exit 0.
fn quit(d: &mut PtyDaemon) {
    d.type_text("quit -y");
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
    write_config_file(
        &dir.0,
        "taskmaster:\n  history: DIR/hist\nprograms:\n  webserver:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let mut d = PtyDaemon::start_in(&dir.0);
    wait_all_running(&d.socket(), 1);
    d.wait_prompt(0);
    d.run("status", "webserver");
    // Ctrl-D leaves without adding a line to the history (`quit` would be the last),
    // nor the answer to its question.
    let mark = d.mark();
    d.keys(CTRL_D);
    d.answer_quit(mark, "y");
    assert_eq!(d.wait_exit(secs(20.0)), 0);
    let saved = read(&hist);
    assert!(saved.contains("status"), "history file: {saved:?}");
    assert!(
        !saved.lines().any(|l| l.trim() == "y"),
        "the answer is no command: {saved:?}"
    );

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
    let mark = d.mark();
    if keys != CTRL_D {
        d.type_text(keys);
        d.keys("\r");
    } else {
        d.keys(CTRL_D);
    }
    if keys == "quit" || keys == CTRL_D {
        // Processes are running: the question first.
        d.answer_quit(mark, "y");
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
fn quit_y_and_shutdown_ask_nothing() {
    check_leaves_and_stops_everything("shell-quit-y", "quit -y");
    check_leaves_and_stops_everything("shell-shutdown", "shutdown");
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
