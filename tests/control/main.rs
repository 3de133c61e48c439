//! The control plane (SPEC §2, §6, §10): a real daemon, its real control socket, and
//! real `taskmasterctl` one-shots — every command with its reply and exit code, the
//! socket's placement and ownership rules, the wire protocol's error handling,
//! concurrency, `tail -f` streaming, and `shutdown`.
//!
//! Nothing here sleeps blindly: every wait is a condition polled until a deadline.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const CTL: &str = env!("CARGO_BIN_EXE_taskmasterctl");
const VERSION: &str = env!("CARGO_PKG_VERSION");

// ---- helpers ----------------------------------------------------------------------------

/// What a finished process left behind.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion (stdin closed), killing it and failing after `timeout`.
fn run_timeout(mut cmd: Command, timeout: Duration) -> Out {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) => Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            panic!("{what} did not finish within {timeout:?}");
        }
    }
}

/// `taskmasterctl ARGS...` (no implicit `-s`).
fn ctl_raw<S: AsRef<OsStr>>(args: &[S]) -> Out {
    let mut cmd = Command::new(CTL);
    cmd.args(args);
    run_timeout(cmd, secs(30.0))
}

/// `taskmasterctl -s SOCKET ARGS...`.
fn ctl(socket: &Path, args: &[&str]) -> Out {
    let mut all: Vec<&OsStr> = vec![OsStr::new("-s"), socket.as_os_str()];
    all.extend(args.iter().map(OsStr::new));
    ctl_raw(&all)
}

/// Like [`ctl`], asserting the exit code; returns stdout.
fn ctl_ok(socket: &Path, args: &[&str], code: i32) -> String {
    let out = ctl(socket, args);
    assert_eq!(
        out.code, code,
        "taskmasterctl {args:?}: expected exit {code}, got {out:?}"
    );
    out.stdout
}

/// A raw connection to the control socket, with a read timeout.
fn connect(socket: &Path) -> (UnixStream, BufReader<UnixStream>) {
    let stream =
        UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    stream
        .set_read_timeout(Some(secs(20.0)))
        .expect("read timeout");
    let reader = BufReader::new(stream.try_clone().expect("clone stream"));
    (stream, reader)
}

/// Reads one reply line and parses it.
fn read_reply(reader: &mut impl BufRead) -> Value {
    let mut line = String::new();
    let n = reader.read_line(&mut line).expect("read a reply line");
    assert!(n > 0, "the daemon closed the connection without a reply");
    assert!(line.ends_with('\n'), "reply is one full line: {line:?}");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {line:?}"))
}

/// One request on a fresh connection; returns the reply.
fn request(socket: &Path, raw: &[u8]) -> Value {
    let (mut stream, mut reader) = connect(socket);
    stream.write_all(raw).expect("send request");
    read_reply(&mut reader)
}

/// `status --json` over the raw protocol: the `data` array.
fn status_json(socket: &Path) -> Vec<Value> {
    let reply = request(
        socket,
        b"{\"command\": \"status\", \"args\": [\"--json\"]}\n",
    );
    assert_eq!(reply["ok"], true, "status --json reply: {reply}");
    assert_eq!(reply["exit"], 0, "status --json reply: {reply}");
    match &reply["data"] {
        Value::Array(items) => items.clone(),
        other => panic!("status --json data is not an array: {other}"),
    }
}

fn instance(socket: &Path, name: &str) -> Value {
    status_json(socket)
        .into_iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no instance {name} in status"))
}

/// Waits until every named instance is RUNNING (the socket may not exist yet);
/// returns their pids by name.
fn wait_running(socket: &Path, names: &[&str], timeout: Duration) -> BTreeMap<String, i32> {
    wait_for(&format!("{names:?} RUNNING"), timeout, || {
        UnixStream::connect(socket).ok()?;
        let all = status_json(socket);
        let mut pids = BTreeMap::new();
        for name in names {
            let i = all.iter().find(|i| i["name"] == *name)?;
            if i["state"] != "RUNNING" {
                return None;
            }
            pids.insert(name.to_string(), i["pid"].as_i64()? as i32);
        }
        Some(pids)
    })
}

/// Every instance's (state, pid), to show that nothing changed.
fn snapshot(socket: &Path) -> BTreeMap<String, (String, Option<i64>)> {
    status_json(socket)
        .into_iter()
        .map(|i| {
            (
                i["name"].as_str().expect("name").to_string(),
                (
                    i["state"].as_str().expect("state").to_string(),
                    i["pid"].as_i64(),
                ),
            )
        })
        .collect()
}

/// Waits until `path` exists and its content satisfies `pred`; returns the content.
fn wait_file(path: &Path, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
    wait_for(&format!("content of {}", path.display()), timeout, || {
        let text = std::fs::read_to_string(path).ok()?;
        pred(&text).then_some(text)
    })
}

/// Threads of `pid` whose name is exactly `name`.
fn threads_named(pid: i32, name: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .count()
}

/// The line of `text` that starts with `name` followed by spaces.
fn status_line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no status line for {name} in {text:?}"))
}

/// A daemon started without the harness (to choose its command line); killed with
/// its process groups on drop unless it exited.
struct Bare {
    child: Option<Child>,
}

impl Bare {
    fn start(args: &[&OsStr]) -> Bare {
        let child = Command::new(TASKMASTER)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start taskmaster");
        Bare { child: Some(child) }
    }

    /// Waits for the exit; returns (code, stderr).
    fn wait_exit(&mut self, timeout: Duration) -> (i32, String) {
        let child = self.child.as_mut().expect("running");
        let status = wait_for("taskmaster to exit", timeout, || {
            child.try_wait().expect("try_wait")
        });
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        self.child = None;
        (status.code().unwrap_or(-1), err)
    }
}

impl Drop for Bare {
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

// ---- 1. every command, one-shot, with its exit code -------------------------------------

const STATUS_YAML: &str = "programs:
  sleeper:
    cmd: TESTPROG sleep
    starttime: 0
  idle:
    cmd: TESTPROG sleep
    autostart: false
  pool:
    cmd: TESTPROG sleep
    numprocs: 2
    starttime: 0
";

#[test]
fn status_text_and_json() {
    let mut d = Daemon::start("ctl-status", STATUS_YAML);
    let sock = d.socket();
    let pids = wait_running(&sock, &["sleeper", "pool:0", "pool:1"], secs(10.0));

    // Text: name padded to max(30, longest) + 3 = 33, state padded to 10.
    let text = ctl_ok(&sock, &["status"], 0);
    assert_eq!(text.lines().count(), 4, "one line per instance: {text:?}");
    let sleeper = status_line(&text, "sleeper");
    let prefix = format!(
        "{:<33}{:<10}pid {}, uptime 0:00:",
        "sleeper", "RUNNING", pids["sleeper"]
    );
    assert!(
        sleeper.starts_with(&prefix),
        "expected {prefix:?}..., got {sleeper:?}"
    );
    assert_eq!(
        status_line(&text, "idle"),
        format!("{:<33}{:<10}Not started", "idle", "STOPPED")
    );
    assert!(status_line(&text, "pool:1").starts_with(&format!(
        "{:<33}{:<10}pid {}",
        "pool:1", "RUNNING", pids["pool:1"]
    )));

    // Named subset; an unknown name is an error (exit 1) but the others still show.
    let one = ctl_ok(&sock, &["status", "sleeper"], 0);
    assert_eq!(one.lines().count(), 1, "{one:?}");
    assert!(one.starts_with("sleeper "), "{one:?}");
    let out = ctl(&sock, &["status", "nosuch"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("nosuch: ERROR (no such process)"),
        "{out:?}"
    );
    let out = ctl(&sock, &["status", "sleeper", "nosuch"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("sleeper "), "{out:?}");
    assert!(
        out.stdout.contains("nosuch: ERROR (no such process)"),
        "{out:?}"
    );

    // --json through taskmasterctl: one JSON array.
    let json = ctl_ok(&sock, &["status", "--json"], 0);
    let items: Vec<Value> = serde_json::from_str(json.trim()).expect("status --json is JSON");
    assert_eq!(items.len(), 4);
    let keys = [
        "name",
        "program",
        "index",
        "state",
        "pid",
        "uptime_s",
        "exitcode",
        "signal",
        "restarts",
        "description",
    ];
    for item in &items {
        for key in keys {
            assert!(item.get(key).is_some(), "{key} missing from {item}");
        }
    }
    let by_name = |n: &str| items.iter().find(|i| i["name"] == n).expect(n).clone();
    let s = by_name("sleeper");
    assert_eq!(s["program"], "sleeper");
    assert_eq!(s["index"], 0);
    assert_eq!(s["state"], "RUNNING");
    assert_eq!(s["pid"], pids["sleeper"]);
    assert!(s["uptime_s"].as_f64().is_some_and(|u| u >= 0.0), "{s}");
    assert_eq!(s["exitcode"], Value::Null);
    assert_eq!(s["signal"], Value::Null);
    assert_eq!(s["restarts"], 0);
    assert!(
        s["description"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!("pid {}, uptime ", pids["sleeper"]))),
        "{s}"
    );
    let idle = by_name("idle");
    assert_eq!(idle["state"], "STOPPED");
    assert_eq!(
        idle["pid"],
        Value::Null,
        "a stopped instance has a null pid"
    );
    assert_eq!(idle["uptime_s"], Value::Null);
    assert_eq!(idle["exitcode"], Value::Null);
    assert_eq!(idle["signal"], Value::Null);
    assert_eq!(idle["description"], "Not started");
    let p1 = by_name("pool:1");
    assert_eq!(p1["program"], "pool");
    assert_eq!(p1["index"], 1);
    assert_eq!(p1["pid"], pids["pool:1"]);

    // The same over the raw protocol: `data` plus `output`.
    let reply = request(
        &sock,
        b"{\"command\": \"status\", \"args\": [\"--json\"]}\n",
    );
    assert_eq!(reply["ok"], true);
    assert_eq!(reply["exit"], 0);
    assert_eq!(reply["data"].as_array().map(Vec::len), Some(4), "{reply}");
    assert!(reply["output"].is_string(), "{reply}");

    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn start_stop_restart_outcomes_and_exit_codes() {
    let mut d = Daemon::start(
        "ctl-start",
        "programs:
  sleeper:
    cmd: TESTPROG sleep
    starttime: 0
  idle:
    cmd: TESTPROG sleep
    autostart: false
    starttime: 0.2
  broken:
    cmd: DIR/no-such-program
    autostart: false
    starttime: 0.2
    startretries: 0
",
    );
    let sock = d.socket();
    let before = wait_running(&sock, &["sleeper"], secs(10.0));

    assert_eq!(ctl_ok(&sock, &["start", "idle"], 0).trim(), "idle: started");
    assert_eq!(instance(&sock, "idle")["state"], "RUNNING");
    assert_eq!(
        ctl_ok(&sock, &["start", "idle"], 0).trim(),
        "idle: ERROR (already started)"
    );
    assert_eq!(ctl_ok(&sock, &["stop", "idle"], 0).trim(), "idle: stopped");
    assert_eq!(instance(&sock, "idle")["state"], "STOPPED");
    assert_eq!(instance(&sock, "idle")["pid"], Value::Null);
    assert_eq!(
        ctl_ok(&sock, &["stop", "idle"], 0).trim(),
        "idle: ERROR (not running)"
    );

    let out = ctl_ok(&sock, &["restart", "sleeper"], 0);
    assert!(out.contains("sleeper: stopped"), "{out:?}");
    assert!(out.contains("sleeper: started"), "{out:?}");
    let after = instance(&sock, "sleeper");
    assert_eq!(after["state"], "RUNNING");
    assert_ne!(
        after["pid"], before["sleeper"],
        "restart gives a new process"
    );
    assert!(!alive(before["sleeper"]), "the old process is gone");

    for cmd in ["start", "stop", "restart"] {
        let out = ctl(&sock, &[cmd, "nosuch"]);
        assert_eq!(out.code, 1, "{cmd} nosuch: {out:?}");
        assert!(
            out.stdout.contains("nosuch: ERROR (no such process)"),
            "{cmd} nosuch: {out:?}"
        );
    }
    // A name that cannot be spawned.
    let out = ctl(&sock, &["start", "broken"]);
    assert_eq!(out.code, 1, "start broken: {out:?}");
    assert!(
        out.stdout.contains("broken: ERROR (spawn error)"),
        "start broken: {out:?}"
    );
    // Nothing else was disturbed.
    assert_eq!(instance(&sock, "sleeper")["pid"], after["pid"]);
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn signal_pid_and_tail() {
    let mut d = Daemon::start(
        "ctl-signal",
        "programs:
  trapper:
    cmd: TESTPROG trap USR1
    stdout: DIR/trap.out
    starttime: 0
    autorestart: never
  counter:
    cmd: TESTPROG lines 10
    stdout: DIR/counter.out
    starttime: 0
  quiet:
    cmd: TESTPROG lines 10
    stdout: discard
    starttime: 0
  errs:
    cmd: TESTPROG print out-text err-text
    starttime: 0
",
    );
    let sock = d.socket();
    let pids = wait_running(&sock, &["trapper", "counter", "quiet", "errs"], secs(10.0));
    wait_file(&d.path("trap.out"), secs(10.0), |t| t.contains("ready\n"));

    // A bad signal name is a usage error and sends nothing.
    let out = ctl(&sock, &["signal", "FOO", "trapper"]);
    assert_eq!(out.code, 2, "signal FOO: {out:?}");
    let out = ctl(&sock, &["signal", "USR1", "nosuch"]);
    assert_eq!(out.code, 1, "signal USR1 nosuch: {out:?}");
    assert!(
        out.stdout.contains("nosuch: ERROR (no such process)"),
        "{out:?}"
    );
    assert_eq!(read(&d.path("trap.out")), "ready\n");
    assert_eq!(instance(&sock, "trapper")["pid"], pids["trapper"]);

    ctl_ok(&sock, &["signal", "USR1", "trapper"], 0);
    wait_file(&d.path("trap.out"), secs(10.0), |t| {
        t.contains("got SIGUSR1")
    });

    // pid: the daemon's, or the instance's.
    assert_eq!(ctl_ok(&sock, &["pid"], 0).trim(), d.pid().to_string());
    assert_eq!(
        ctl_ok(&sock, &["pid", "counter"], 0).trim(),
        pids["counter"].to_string()
    );
    assert_eq!(ctl(&sock, &["pid", "nosuch"]).code, 1);

    // tail -n 3: the last 3 lines, from a file-backed and from a discarded stream.
    for name in ["counter", "quiet"] {
        wait_for(&format!("tail -n 3 {name}"), secs(10.0), || {
            let out = ctl(&sock, &["tail", "-n", "3", name]);
            assert_eq!(out.code, 0, "tail -n 3 {name}: {out:?}");
            (out.stdout == "line 8\nline 9\nline 10\n").then_some(())
        });
    }
    // tail NAME stderr, and the default stream stdout.
    wait_for("tail errs stderr", secs(10.0), || {
        let out = ctl(&sock, &["tail", "errs", "stderr"]);
        assert_eq!(out.code, 0, "{out:?}");
        (out.stdout == "err-text\n").then_some(())
    });
    let out = ctl_ok(&sock, &["tail", "errs"], 0);
    assert_eq!(out, "out-text\n");
    assert_eq!(ctl(&sock, &["tail", "nosuch"]).code, 1);
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn help_version_unknown_command_and_unreachable_daemon() {
    let mut d = Daemon::start(
        "ctl-help",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let sock = d.socket();
    wait_running(&sock, &["sleeper"], secs(10.0));

    let help = ctl_ok(&sock, &["help"], 0);
    for cmd in [
        "status", "start", "stop", "restart", "signal", "pid", "tail", "reload", "shutdown",
        "version", "help",
    ] {
        assert!(help.contains(cmd), "help lists {cmd}: {help:?}");
    }
    let help_start = ctl_ok(&sock, &["help", "start"], 0);
    assert!(help_start.contains("start NAME"), "{help_start:?}");
    assert_eq!(ctl_ok(&sock, &["version"], 0).trim(), VERSION);

    let out = ctl(&sock, &["frobnicate", "x"]);
    assert_eq!(out.code, 2, "unknown command: {out:?}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("frobnicate"),
        "{out:?}"
    );

    // No daemon: exit 3, naming the socket tried — a missing file, and a stale one.
    let absent = d.path("absent.sock");
    let out = ctl(&absent, &["status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains(absent.to_str().expect("utf-8")),
        "the message names the socket: {out:?}"
    );
    let stale = d.path("stale.sock");
    drop(UnixListener::bind(&stale).expect("bind"));
    let out = ctl(&stale, &["status"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains(stale.to_str().expect("utf-8")),
        "{out:?}"
    );

    // The daemon was never disturbed.
    assert_eq!(ctl_ok(&sock, &["version"], 0).trim(), VERSION);
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 2. the socket from the config -------------------------------------------------------

#[test]
fn ctl_finds_the_socket_through_the_config() {
    let dir = TempDir::new("ctl-config");
    let sock = dir.path("other.sock");
    let config = dir.path("taskmaster.yaml");
    std::fs::write(
        &config,
        format!(
            "taskmaster:\n  socket: {}\nprograms:\n  sleeper:\n    cmd: {TESTPROG} sleep\n    starttime: 0\n",
            sock.display()
        ),
    )
    .expect("write config");
    let mut daemon = Bare::start(&[
        OsStr::new("-c"),
        config.as_os_str(),
        OsStr::new("--no-shell"),
    ]);
    wait_for("the configured socket to answer", secs(10.0), || {
        UnixStream::connect(&sock).ok()
    });
    let pids = wait_running(&sock, &["sleeper"], secs(10.0));

    let out = ctl_raw(&[OsStr::new("-c"), config.as_os_str(), OsStr::new("status")]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        status_line(&out.stdout, "sleeper").contains(&format!("pid {}", pids["sleeper"])),
        "{out:?}"
    );
    let out = ctl_raw(&[OsStr::new("-c"), config.as_os_str(), OsStr::new("shutdown")]);
    assert_eq!(out.code, 0, "{out:?}");
    let (code, err) = daemon.wait_exit(secs(20.0));
    assert_eq!(code, 0, "daemon exit; stderr: {err}");
    assert!(!sock.exists(), "the socket is removed at exit");
}

// ---- 3. the socket file -------------------------------------------------------------------

#[test]
fn socket_is_mode_0600_and_a_second_daemon_is_refused() {
    let mut d = Daemon::start(
        "ctl-sock",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let sock = d.socket();
    let pids = wait_running(&sock, &["sleeper"], secs(10.0));
    let meta = std::fs::symlink_metadata(&sock).expect("stat socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        0o600,
        "socket mode: {:o}",
        meta.permissions().mode()
    );

    // A second daemon (its own config dir) on the same socket.
    let other = TempDir::new("ctl-sock-2");
    let config = other.path("taskmaster.yaml");
    std::fs::write(
        &config,
        format!("programs:\n  second:\n    cmd: {TESTPROG} sleep\n    starttime: 0\n"),
    )
    .expect("write config");
    let mut second = Bare::start(&[
        OsStr::new("-c"),
        config.as_os_str(),
        OsStr::new("--no-shell"),
        OsStr::new("--socket"),
        sock.as_os_str(),
    ]);
    let (code, err) = second.wait_exit(secs(20.0));
    assert_eq!(code, 1, "second daemon: stderr {err:?}");
    assert!(
        err.contains(&d.pid().to_string()),
        "the refusal names the first daemon's pid {}: {err:?}",
        d.pid()
    );
    // The first daemon keeps its socket, its children, and nothing was added.
    assert!(sock.exists());
    assert_eq!(
        snapshot(&sock),
        BTreeMap::from([(
            "sleeper".to_string(),
            ("RUNNING".to_string(), Some(pids["sleeper"] as i64))
        )])
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn stale_socket_file_is_replaced() {
    let dir = TempDir::new("ctl-stale");
    let sock = dir.path("taskmaster.sock");
    drop(UnixListener::bind(&sock).expect("bind"));
    assert!(sock.exists(), "the stale socket file stays behind");
    let config = dir.path("taskmaster.yaml");
    std::fs::write(
        &config,
        format!("programs:\n  sleeper:\n    cmd: {TESTPROG} sleep\n    starttime: 0\n"),
    )
    .expect("write config");
    let mut d = Daemon::start_in(dir, config);
    assert_eq!(d.socket(), sock);
    wait_running(&sock, &["sleeper"], secs(10.0));
    assert_eq!(ctl_ok(&sock, &["pid"], 0).trim(), d.pid().to_string());
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn non_socket_files_at_the_socket_path_are_refused() {
    let dir = TempDir::new("ctl-nonsock");
    let config = dir.path("taskmaster.yaml");
    let marker = dir.path("started");
    std::fs::write(
        &config,
        format!(
            "programs:\n  p:\n    cmd: {TESTPROG} stamp {}\n    starttime: 0\n",
            marker.display()
        ),
    )
    .expect("write config");
    let regular = dir.path("regular.sock");
    std::fs::write(&regular, "precious\n").expect("write file");
    let link = dir.path("link.sock");
    std::os::unix::fs::symlink(dir.path("nowhere.sock"), &link).expect("symlink");
    for path in [&regular, &link] {
        let mut daemon = Bare::start(&[
            OsStr::new("-c"),
            config.as_os_str(),
            OsStr::new("--no-shell"),
            OsStr::new("--socket"),
            path.as_os_str(),
        ]);
        let (code, err) = daemon.wait_exit(secs(20.0));
        assert_eq!(code, 1, "{}: stderr {err:?}", path.display());
        assert!(
            err.contains(path.to_str().expect("utf-8")),
            "the refusal names the path: {err:?}"
        );
    }
    assert_eq!(read(&regular), "precious\n", "the file is left alone");
    assert!(std::fs::symlink_metadata(&link)
        .expect("link")
        .file_type()
        .is_symlink());
    assert!(!dir.path("nowhere.sock").exists());
    assert!(!marker.exists(), "nothing was started");
}

// ---- 4. another uid ----------------------------------------------------------------------

const PEER_ENV: &str = "TM_CONTROL_PEER_SOCKET";

/// Not a test by itself: the client half of `a_client_of_another_uid_is_refused`,
/// run by re-executing this test binary as `nobody`. Prints one `PEER:` line.
#[test]
fn peer_client_helper() {
    let Some(path) = std::env::var_os(PEER_ENV) else {
        return;
    };
    let result = (|| -> Result<String, String> {
        let stream = UnixStream::connect(&path).map_err(|e| format!("CONNECT-ERROR {e}"))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        // The daemon may answer and close before reading: a failed write is fine.
        let _ = (&stream).write_all(b"{\"command\": \"status\", \"args\": [\"--json\"]}\n");
        let mut line = String::new();
        match BufReader::new(&stream).read_line(&mut line) {
            Ok(0) => Ok("EOF".to_string()),
            Ok(_) => Ok(format!("REPLY {}", line.trim_end())),
            Err(e) => Err(format!("READ-ERROR {e}")),
        }
    })();
    println!("PEER: {}", result.unwrap_or_else(|e| e));
}

fn run_peer_as_nobody(socket: &Path) -> String {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args([
        "--exact",
        "peer_client_helper",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(PEER_ENV, socket)
    .current_dir("/")
    .uid(65534)
    .gid(65534);
    let out = run_timeout(cmd, secs(30.0));
    out.stdout
        .lines()
        .find_map(|l| l.find("PEER: ").map(|i| l[i + 6..].to_string()))
        .unwrap_or_else(|| panic!("the peer client printed no result: {out:?}"))
}

#[test]
fn a_client_of_another_uid_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to act as another uid");
        return;
    }
    let mut d = Daemon::start(
        "ctl-peer",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let sock = d.socket();
    wait_running(&sock, &["sleeper"], secs(10.0));
    let before = snapshot(&sock);
    // The test directory must be searchable by nobody.
    std::fs::set_permissions(&d.dir.0, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // Mode 0600: nobody cannot even connect.
    let seen = run_peer_as_nobody(&sock);
    assert!(
        seen.starts_with("CONNECT-ERROR"),
        "a 0600 socket refuses nobody at connect: {seen}"
    );

    // Opened up on purpose: SO_PEERCRED still refuses the foreign uid.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let seen = run_peer_as_nobody(&sock);
    eprintln!("nobody on a 0666 socket saw: {seen}");
    match seen.strip_prefix("REPLY ") {
        Some(json) => {
            let reply: Value = serde_json::from_str(json).expect("reply is JSON");
            assert_eq!(reply["ok"], false, "{reply}");
            assert_ne!(reply["exit"], 0, "{reply}");
            assert!(reply.get("data").is_none(), "no status for nobody: {reply}");
            assert!(!json.contains("sleeper"), "no status for nobody: {reply}");
        }
        None => assert!(
            seen == "EOF" || seen.starts_with("READ-ERROR"),
            "refused without a status: {seen}"
        ),
    }
    // Root is still served, and nothing changed.
    assert_eq!(snapshot(&sock), before);
    assert!(
        d.log().contains("65534"),
        "the refusal is logged with the uid: {}",
        d.log()
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 5. malformed requests ----------------------------------------------------------------

#[test]
fn malformed_requests_get_errors_and_change_nothing() {
    let mut d = Daemon::start(
        "ctl-malformed",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n  pool:\n    cmd: TESTPROG sleep\n    numprocs: 2\n    starttime: 0\n",
    );
    let sock = d.socket();
    wait_running(&sock, &["sleeper", "pool:0", "pool:1"], secs(10.0));
    let before = snapshot(&sock);
    let unchanged = |what: &str| {
        assert_eq!(snapshot(&sock), before, "after {what}");
    };

    for bad in [
        &b"this is not json\n"[..],
        b"{\"args\": [\"--json\"]}\n",
        b"{\"command\": 12}\n",
        b"{\"command\": \"status\", \"args\": \"--json\"}\n",
        b"{\"command\": \"stop\", \"args\": [\"all\"]\n",
    ] {
        let what = String::from_utf8_lossy(bad).trim_end().to_string();
        let reply = request(&sock, bad);
        assert_eq!(reply["ok"], false, "{what}: {reply}");
        assert_eq!(reply["exit"], 2, "{what}: {reply}");
        assert!(
            reply["output"].as_str().is_some_and(|o| !o.is_empty()),
            "{what}: says why: {reply}"
        );
        unchanged(&what);
    }

    // An empty line is ignored: the first reply is the next request's.
    let (mut stream, mut reader) = connect(&sock);
    stream
        .write_all(b"\n\n{\"command\": \"version\"}\n")
        .expect("send");
    let reply = read_reply(&mut reader);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["output"], VERSION, "{reply}");
    drop((stream, reader));
    unchanged("empty lines");

    // Over 64 KiB: an error reply, then the daemon closes the connection.
    let (stream, mut reader) = connect(&sock);
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let mut big = vec![b'x'; 70 * 1024];
        big.push(b'\n');
        // The daemon may close before everything is written: EPIPE is fine.
        let _ = writer.write_all(&big);
    });
    let reply = read_reply(&mut reader);
    assert_eq!(reply["ok"], false, "{reply}");
    assert_eq!(reply["exit"], 2, "{reply}");
    let mut rest = Vec::new();
    let end = reader.read_to_end(&mut rest);
    assert!(
        matches!(end, Ok(0)) || end.is_err(),
        "the connection is closed after the error: {end:?}, {rest:?}"
    );
    sender.join().expect("sender");
    drop(stream);
    unchanged("a request over 64 KiB");

    // A large but valid request (under the limit) still works.
    let padded = format!(
        "{{\"command\": \"version\", \"args\": []{}}}\n",
        " ".repeat(60 * 1024)
    );
    let reply = request(&sock, padded.as_bytes());
    assert_eq!(
        reply["output"], VERSION,
        "a 60 KiB request is fine: {reply}"
    );

    // No trailing newline, then a half-close: still answered.
    let (stream, mut reader) = connect(&sock);
    (&stream)
        .write_all(b"{\"command\": \"pid\"}")
        .expect("send");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let reply = read_reply(&mut reader);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["output"], d.pid().to_string(), "{reply}");
    drop((stream, reader));

    // A client that connects and goes away without a word.
    drop(UnixStream::connect(&sock).expect("connect"));
    unchanged("the half-closed request and a silent client");
    assert_eq!(ctl_ok(&sock, &["version"], 0).trim(), VERSION);
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 6. concurrent clients ----------------------------------------------------------------

#[test]
fn fifty_concurrent_clients_all_get_their_reply() {
    let mut d = Daemon::start(
        "ctl-concurrent",
        "programs:\n  pool:\n    cmd: TESTPROG sleep\n    numprocs: 5\n    starttime: 0\n",
    );
    let sock = d.socket();
    let names: Vec<String> = (0..5).map(|i| format!("pool:{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let pids = wait_running(&sock, &refs, secs(10.0));

    const CLIENTS: usize = 50;
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (sock, barrier, failures, pids) = (
                sock.clone(),
                barrier.clone(),
                failures.clone(),
                pids.clone(),
            );
            std::thread::spawn(move || {
                let (mut stream, mut reader) = connect(&sock);
                barrier.wait();
                stream
                    .write_all(b"{\"command\": \"status\", \"args\": [\"--json\"]}\n")
                    .expect("send");
                let reply = read_reply(&mut reader);
                let got: BTreeMap<String, i32> = reply["data"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|i| {
                                Some((i["name"].as_str()?.to_string(), i["pid"].as_i64()? as i32))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if reply["ok"] != true || reply["exit"] != 0 || got != pids {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("client {n}: {reply}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "bad replies: {failures:#?}");
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 7. tail -f ---------------------------------------------------------------------------

/// The highest `line N` in `text`.
fn last_line_number(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix("line ")?.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

const TICKER_YAML: &str =
    "programs:\n  ticker:\n    cmd: TESTPROG lines 1000 0.05\n    starttime: 0\n";

#[test]
fn tail_f_over_the_raw_socket_streams_until_the_client_closes() {
    let mut d = Daemon::start("ctl-tailf", TICKER_YAML);
    let sock = d.socket();
    let pid = wait_running(&sock, &["ticker"], secs(10.0))["ticker"];
    wait_for("some output", secs(10.0), || {
        (last_line_number(&ctl_ok(&sock, &["tail", "ticker"], 0)) >= 3).then_some(())
    });

    let (mut stream, mut reader) = connect(&sock);
    stream
        .write_all(b"{\"command\": \"tail\", \"args\": [\"-f\", \"ticker\"]}\n")
        .expect("send");
    let reply = read_reply(&mut reader);
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["stream"], true, "{reply}");
    let initial = reply["output"].as_str().expect("output").to_string();
    let start = last_line_number(&initial);
    assert!(start >= 3, "the reply holds the recent lines: {initial:?}");

    // New lines arrive as raw bytes after the reply line.
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + secs(10.0);
    while last_line_number(&String::from_utf8_lossy(&raw)) < start + 3 {
        assert!(
            Instant::now() < deadline,
            "no new lines after line {start}: {raw:?}"
        );
        let n = reader.read(&mut buf).expect("read the stream");
        assert!(n > 0, "the stream ended early: {raw:?}");
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with(&format!("line {}\n", start + 1)),
        "the stream continues right after the reply: {text:?}"
    );
    assert!(threads_named(d.pid(), "control") >= 1);

    // Closing the client ends the stream on the daemon's side.
    drop((stream, reader));
    wait_for("the follow to end", secs(10.0), || {
        (threads_named(d.pid(), "control") == 0 && threads_named(d.pid(), "control-eof") == 0)
            .then_some(())
    });
    assert_eq!(instance(&sock, "ticker")["pid"], pid);
    assert_eq!(instance(&sock, "ticker")["state"], "RUNNING");
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn tail_f_through_taskmasterctl_until_killed() {
    let mut d = Daemon::start("ctl-tailf-ctl", TICKER_YAML);
    let sock = d.socket();
    let pid = wait_running(&sock, &["ticker"], secs(10.0))["ticker"];

    let mut client = Command::new(CTL)
        .arg("-s")
        .arg(&sock)
        .args(["tail", "-f", "ticker"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start taskmasterctl tail -f");
    let stdout = client.stdout.take().expect("stdout");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    // Lines keep coming: well past what was there when the command started.
    let first = wait_for("first lines", secs(10.0), || {
        let l = lines.lock().unwrap();
        (!l.is_empty()).then(|| last_line_number(&l.join("\n")))
    });
    wait_for("streamed lines", secs(10.0), || {
        (last_line_number(&lines.lock().unwrap().join("\n")) >= first + 5).then_some(())
    });
    assert!(
        client.try_wait().expect("try_wait").is_none(),
        "still following"
    );
    client.kill().expect("kill taskmasterctl");
    client.wait().expect("reap taskmasterctl");
    reader.join().expect("reader");

    let got = lines.lock().unwrap().clone();
    let numbers: Vec<u64> = got
        .iter()
        .filter_map(|l| l.strip_prefix("line ")?.parse().ok())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive lines, nothing lost or repeated: {got:?}"
    );
    wait_for("the follow to end", secs(10.0), || {
        (threads_named(d.pid(), "control") == 0).then_some(())
    });
    assert_eq!(instance(&sock, "ticker")["pid"], pid);
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 8. shutdown --------------------------------------------------------------------------

#[test]
fn shutdown_over_the_socket() {
    let mut d = Daemon::start(
        "ctl-shutdown",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n  pool:\n    cmd: TESTPROG sleep\n    numprocs: 2\n    starttime: 0\n",
    );
    let sock: PathBuf = d.socket();
    let pids = wait_running(&sock, &["sleeper", "pool:0", "pool:1"], secs(10.0));
    let out = ctl(&sock, &["shutdown"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), "Shut down");
    assert_eq!(d.wait_exit(secs(20.0)), 0, "the daemon exits 0");
    assert!(!sock.exists(), "the socket file is removed");
    for (name, pid) in &pids {
        assert!(!alive(*pid), "{name} (pid {pid}) is gone");
    }
    let out = ctl(&sock, &["status"]);
    assert_eq!(out.code, 3, "{out:?}");
}
