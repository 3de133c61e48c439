//! Spawn errors, and the replies of start, stop and restart.

use serde_json::Value;

use super::{command_lines, shutdown, state, timed_command};
use crate::common::*;

// ---- 9. spawn errors --------------------------------------------------------------------

#[test]
fn spawn_errors_end_fatal_and_daemon_stays_up() {
    let dir = TempDir::new("lc-spawnerr");
    let noexec = dir.path("noexec");
    std::fs::write(&noexec, "#!/bin/sh\nexit 0\n").expect("write noexec");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&noexec, std::fs::Permissions::from_mode(0o644))
            .expect("chmod 0644");
    }
    let config = write_config_file(
        &dir.0,
        "programs:
  missing:
    cmd: /nonexistent/prog
    startretries: 1
  noexec:
    cmd: DIR/noexec
    startretries: 1
  ok:
    cmd: TESTPROG sleep
    starttime: 0.1
",
    );
    let mut d = Daemon::start_in(dir, config);

    let m = d.wait_state("missing", "FATAL", secs(10.0));
    let desc = m["description"].as_str().unwrap_or("");
    assert!(desc.contains("can't find command"), "{m}");
    let n = d.wait_state("noexec", "FATAL", secs(10.0));
    let desc = n["description"].as_str().unwrap_or("");
    assert!(desc.contains("is not executable"), "{n}");
    let log = d.log();
    assert!(log.contains("spawnerr: missing"), "{log}");
    assert!(log.contains("spawnerr: noexec"), "{log}");
    assert!(log.contains("gave up: missing"), "{log}");

    // The daemon is unharmed.
    let ok = d.wait_state("ok", "RUNNING", secs(5.0));
    assert!(alive(ok["pid"].as_i64().expect("pid") as i32));
    assert!(alive(d.pid()));
    assert_eq!(d.status().len(), 3);
    shutdown(d);
}

// ---- 10. control commands ---------------------------------------------------------------

#[test]
fn start_stop_restart_replies() {
    let mut d = Daemon::start(
        "lc-commands",
        "programs:
  run:
    cmd: TESTPROG sleep
    starttime: 0.1
  idle:
    cmd: TESTPROG sleep
    autostart: false
    starttime: 0.3
  quick:
    cmd: TESTPROG exit 1
    autostart: false
    starttime: 0.5
    startretries: 0
  missing:
    cmd: /nonexistent/prog
    autostart: false
    startretries: 0
  pool:
    cmd: TESTPROG sleep
    numprocs: 3
    autostart: false
    starttime: 0.1
  flaky:
    cmd: \"sh -c 'if [ -e DIR/go ]; then exec TESTPROG sleep; else exit 1; fi'\"
    starttime: 0.2
    startretries: 1
",
    );
    let run_pid = d.wait_state("run", "RUNNING", secs(10.0))["pid"]
        .as_i64()
        .expect("pid");

    d.command_expect("start run", "run: ERROR (already started)", secs(5.0));
    d.command_expect("stop idle", "idle: ERROR (not running)", secs(5.0));
    d.command_expect("start nosuch", "nosuch: ERROR (no such process)", secs(5.0));
    d.command_expect("stop nosuch", "nosuch: ERROR (no such process)", secs(5.0));

    // `start` answers only once the instance is RUNNING.
    let took = timed_command(&mut d, "start idle", "idle: started", secs(5.0));
    assert_eq!(
        state(&d.instance("idle")),
        "RUNNING",
        "right after `idle: started`"
    );
    assert!(
        took >= secs(0.3),
        "`start idle` answered after {took:?}, before starttime 0.3 s"
    );

    d.command_expect(
        "start quick",
        "quick: ERROR (abnormal termination)",
        secs(5.0),
    );
    d.command_expect("start missing", "missing: ERROR (spawn error)", secs(5.0));

    // restart: a new pid.
    command_lines(&mut d, "restart run", &["run: started"], secs(10.0));
    let i = d.instance("run");
    assert_eq!(state(&i), "RUNNING", "{i}");
    assert_ne!(
        i["pid"].as_i64().expect("pid"),
        run_pid,
        "restart kept the pid"
    );

    // NAME addresses every instance of the program, NAME:K one.
    command_lines(
        &mut d,
        "start pool",
        &["pool:0: started", "pool:1: started", "pool:2: started"],
        secs(5.0),
    );
    for k in 0..3 {
        assert_eq!(state(&d.instance(&format!("pool:{k}"))), "RUNNING");
    }
    d.command_expect("stop pool:1", "pool:1: stopped", secs(5.0));
    assert_eq!(state(&d.instance("pool:0")), "RUNNING");
    assert_eq!(state(&d.instance("pool:1")), "STOPPED");
    assert_eq!(state(&d.instance("pool:2")), "RUNNING");

    // A manual start after FATAL resets the restart counter.
    let f = d.wait_state("flaky", "FATAL", secs(10.0));
    assert_eq!(f["restarts"], 1, "{f}");
    std::fs::write(d.path("go"), "").expect("create go");
    d.command_expect("start flaky", "flaky: started", secs(5.0));
    let f = d.instance("flaky");
    assert_eq!(state(&f), "RUNNING", "{f}");
    assert_eq!(f["restarts"], 0, "{f}");

    // stop all.
    command_lines(
        &mut d,
        "stop all",
        &[
            "run: stopped",
            "idle: stopped",
            "pool:0: stopped",
            "pool:2: stopped",
            "flaky: stopped",
        ],
        secs(10.0),
    );
    for i in d.status() {
        assert!(
            matches!(state(&i), "STOPPED" | "EXITED" | "FATAL"),
            "after `stop all`: {i}"
        );
        assert_eq!(i["pid"], Value::Null, "after `stop all`: {i}");
    }
    shutdown(d);
}
