//! 1. Every command, one-shot, with its reply and exit code.

use std::os::unix::net::UnixListener;

use serde_json::Value;

use super::support::*;
use super::VERSION;
use crate::common::*;

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

    // Text: name padded to max(30, longest) + 3 = 33, state padded to 10. `idle`
    // is STOPPED: status exits 3, supervisorctl's "not running".
    let text = ctl_ok(&sock, &["status"], 3);
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

    // Named subset; an unknown name exits 4 (LSB: unknown) but the others still show.
    let one = ctl_ok(&sock, &["status", "sleeper"], 0);
    assert_eq!(one.lines().count(), 1, "{one:?}");
    assert!(one.starts_with("sleeper "), "{one:?}");
    let out = ctl(&sock, &["status", "nosuch"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stdout.contains("nosuch: ERROR (no such process)"),
        "{out:?}"
    );
    let out = ctl(&sock, &["status", "sleeper", "nosuch"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stdout.contains("sleeper "), "{out:?}");
    assert!(
        out.stdout.contains("nosuch: ERROR (no such process)"),
        "{out:?}"
    );

    // --json through taskmasterctl: one JSON array.
    let json = ctl_ok(&sock, &["status", "--json"], 3);
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
    // `idle` is STOPPED: exit 3 (LSB "not running"), so `ok` (exit 0) is false.
    assert_eq!(reply["ok"], false);
    assert_eq!(reply["exit"], 3);
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
    let mut d = Daemon::start("ctl-help", SLEEPER_YAML);
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

    // No daemon: exit 3 (`status`: 4, LSB's unknown), naming the socket tried —
    // a missing file, and a stale one.
    let absent = d.path("absent.sock");
    let out = ctl(&absent, &["pid"]);
    assert_eq!(out.code, 3, "{out:?}");
    let out = ctl(&absent, &["status"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr.contains(absent.to_str().expect("utf-8")),
        "the message names the socket: {out:?}"
    );
    let stale = d.path("stale.sock");
    drop(UnixListener::bind(&stale).expect("bind"));
    let out = ctl(&stale, &["status"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr.contains(stale.to_str().expect("utf-8")),
        "{out:?}"
    );

    // The daemon was never disturbed.
    assert_eq!(ctl_ok(&sock, &["version"], 0).trim(), VERSION);
    assert_eq!(d.finish(secs(20.0)), 0);
}
