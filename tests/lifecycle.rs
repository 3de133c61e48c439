//! Process lifecycle (SPEC §4) and its event log (SPEC §9), observed on a real daemon:
//! autorestart policies, backoff and FATAL, the starttime and stoptime deadlines, stop
//! signals, process-group cleanup, spawn errors and the start/stop/restart replies.
//!
//! No test sleeps blindly: each waits for a condition with a deadline, or asserts that a
//! condition holds for a stretch of time (`assert_stays`).

mod common;
use common::*;

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

// ---- helpers --------------------------------------------------------------------------

/// The `<unix time> <pid>` lines a `stamp FILE` child appended.
fn stamps(path: &Path) -> Vec<(f64, i32)> {
    read(path)
        .lines()
        .map(|l| {
            let (t, pid) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("bad stamp line {l:?}"));
            (
                t.parse().expect("stamp time"),
                pid.parse().expect("stamp pid"),
            )
        })
        .collect()
}

/// Asserts that `f` stays true for `how_long` (checked every 20 ms).
fn assert_stays(what: &str, how_long: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + how_long;
    loop {
        assert!(f(), "{what} did not hold for {how_long:?}");
        if Instant::now() >= end {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `line` and waits until every one of `expected` has been printed after it (in
/// any order); returns how long that took.
fn command_lines(d: &mut Daemon, line: &str, expected: &[&str], timeout: Duration) -> Duration {
    let mark = d.mark();
    let t0 = Instant::now();
    d.send(line);
    wait_for(
        &format!("replies {expected:?} to {line:?}"),
        timeout,
        || {
            let lines = d.lines.lock().unwrap();
            expected
                .iter()
                .all(|e| lines[mark..].iter().any(|l| l == e))
                .then_some(())
        },
    );
    t0.elapsed()
}

/// Sends `line`, waits for the reply `expected`; returns how long it took.
fn timed_command(d: &mut Daemon, line: &str, expected: &str, timeout: Duration) -> Duration {
    let t0 = Instant::now();
    d.command_expect(line, expected, timeout);
    t0.elapsed()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The timestamp `YYYY-MM-DD HH:MM:SS.mmm` opening an event-log line, in milliseconds.
fn log_time_ms(line: &str) -> i64 {
    let bad = || -> ! { panic!("no timestamp on log line {line:?}") };
    let ts = line.get(..23).unwrap_or_else(|| bad());
    let num = |r: std::ops::Range<usize>| -> i64 { ts[r].parse().unwrap_or_else(|_| bad()) };
    let days = days_from_civil(num(0..4), num(5..7), num(8..10));
    let secs = days * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19);
    secs * 1000 + num(20..23)
}

/// The time (ms) of the first event-log line containing `needle`.
fn log_line_time_ms(d: &Daemon, needle: &str) -> i64 {
    let log = d.log();
    let line = log
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no log line with {needle:?} in:\n{log}"));
    log_time_ms(line)
}

fn state(i: &Value) -> &str {
    i["state"].as_str().unwrap_or("?")
}

fn sigkill(pid: i32) {
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill -9");
}

/// Pids listed in a `fork N PIDFILE` child's pid file, once it has `n` of them.
fn wait_pids(path: &Path, n: usize) -> Vec<i32> {
    wait_for(
        &format!("{n} pids in {}", path.display()),
        secs(10.0),
        || {
            let pids: Vec<i32> = read(path)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            (pids.len() == n).then_some(pids)
        },
    )
}

fn wait_file_contains(path: &Path, text: &str) {
    wait_for(
        &format!("{text:?} in {}", path.display()),
        secs(10.0),
        || read(path).contains(text).then_some(()),
    );
}

fn shutdown(mut d: Daemon) {
    assert_eq!(d.finish(secs(20.0)), 0, "taskmaster exit code at shutdown");
}

// ---- 1. crash while RUNNING -----------------------------------------------------------

#[test]
fn kill_9_of_running_child_is_restarted_with_new_pid() {
    let mut d = Daemon::start(
        "lc-kill9",
        "programs:\n  k:\n    cmd: TESTPROG sleep\n    starttime: 0.1\n",
    );
    let old = d.wait_state("k", "RUNNING", secs(10.0))["pid"]
        .as_i64()
        .expect("pid") as i32;
    assert_eq!(d.instance("k")["restarts"], 0);
    sigkill(old);
    let i = wait_for("k RUNNING with a new pid", secs(10.0), || {
        let i = d.instance("k");
        (state(&i) == "RUNNING" && i["pid"].as_i64().is_some_and(|p| p as i32 != old)).then_some(i)
    });
    assert_eq!(i["restarts"], 1, "{i}");
    assert!(
        d.log()
            .contains("exited: k (terminated by SIGKILL; not expected)"),
        "{}",
        d.log()
    );
    wait_for("the killed child to be reaped", secs(1.0), || {
        (!zombie(old)).then_some(())
    });
    shutdown(d);
}

// ---- 2. autorestart unexpected ---------------------------------------------------------

#[test]
fn expected_exit_is_not_restarted_but_unexpected_is() {
    let mut d = Daemon::start(
        "lc-expected",
        "programs:
  good:
    cmd: TESTPROG stamp DIR/good then exit 2 0.3
    exitcodes: [0, 2]
    starttime: 0.1
    autorestart: unexpected
  bad:
    cmd: TESTPROG stamp DIR/bad then exit 3 0.3
    exitcodes: [0, 2]
    starttime: 0.1
    autorestart: unexpected
",
    );
    let i = d.wait_state("good", "EXITED", secs(10.0));
    assert_eq!(i["exitcode"], 2, "{i}");
    assert!(
        d.log().contains("exited: good (exit status 2; expected)"),
        "{}",
        d.log()
    );

    // The unexpected one comes back: a second spawn, counted as a restart.
    wait_for("bad to be spawned twice", secs(10.0), || {
        (stamps(&d.path("bad")).len() >= 2).then_some(())
    });
    assert!(
        d.log()
            .contains("exited: bad (exit status 3; not expected)"),
        "{}",
        d.log()
    );
    let b = d.instance("bad");
    assert!(b["restarts"].as_u64().unwrap_or(0) >= 1, "{b}");

    // The expected one stays down.
    let good = d.path("good");
    assert_stays("good EXITED with one spawn", secs(0.8), || {
        stamps(&good).len() == 1 && state(&d.instance("good")) == "EXITED"
    });
    assert_eq!(d.instance("good")["restarts"], 0);
    shutdown(d);
}

// ---- 3. autorestart never / always ----------------------------------------------------

#[test]
fn autorestart_never_stays_exited_and_always_restarts_expected_exit() {
    let mut d = Daemon::start(
        "lc-never-always",
        "programs:
  never:
    cmd: TESTPROG stamp DIR/never then exit 1 0.3
    starttime: 0.1
    autorestart: never
  always:
    cmd: TESTPROG stamp DIR/always then exit 0 0.3
    starttime: 0.1
    autorestart: always
",
    );
    let i = d.wait_state("never", "EXITED", secs(10.0));
    assert_eq!(i["exitcode"], 1, "{i}");

    let always = d.path("always");
    wait_for("always to be spawned 3 times", secs(10.0), || {
        (stamps(&always).len() >= 3).then_some(())
    });
    let a = d.instance("always");
    assert!(a["restarts"].as_u64().unwrap_or(0) >= 2, "{a}");
    assert!(
        d.log().contains("exited: always (exit status 0; expected)"),
        "{}",
        d.log()
    );

    let never = d.path("never");
    assert_stays("never EXITED with one spawn", secs(0.5), || {
        stamps(&never).len() == 1 && state(&d.instance("never")) == "EXITED"
    });
    shutdown(d);
}

// ---- 4. backoff, FATAL -----------------------------------------------------------------

#[test]
fn quick_exiter_backs_off_1s_2s_then_fatal() {
    let mut d = Daemon::start(
        "lc-fatal",
        "programs:
  quick:
    cmd: TESTPROG stamp DIR/quick then exit 1
    starttime: 0.5
    startretries: 2
  once:
    cmd: TESTPROG stamp DIR/once then exit 1
    starttime: 0.5
    startretries: 0
",
    );
    // startretries 0: FATAL after the first failed spawn.
    let o = d.wait_state("once", "FATAL", secs(5.0));
    assert_eq!(
        o["description"], "Exited too quickly (process log may have details)",
        "{o}"
    );
    assert_eq!(stamps(&d.path("once")).len(), 1);

    let i = d.wait_state("quick", "FATAL", secs(10.0));
    assert_eq!(
        i["description"], "Exited too quickly (process log may have details)",
        "{i}"
    );
    assert_eq!(i["restarts"], 2, "{i}");
    let s = stamps(&d.path("quick"));
    assert_eq!(s.len(), 3, "startretries 2 means 3 spawns: {s:?}");
    let (g1, g2) = (s[1].0 - s[0].0, s[2].0 - s[1].0);
    assert!(
        (g1 - 1.0).abs() <= 0.15,
        "first backoff gap {g1:.3} s, expected 1 s ± 150 ms"
    );
    assert!(
        (g2 - 2.0).abs() <= 0.15,
        "second backoff gap {g2:.3} s, expected 2 s ± 150 ms"
    );
    let log = d.log();
    assert!(log.contains("gave up: quick"), "{log}");
    assert!(log.contains("gave up: once"), "{log}");
    // Still one spawn for `once`, three seconds later.
    assert_eq!(stamps(&d.path("once")).len(), 1);
    shutdown(d);
}

// ---- 5. the starttime boundary ---------------------------------------------------------

#[test]
fn starttime_boundary_decides_backoff_or_exited() {
    let mut d = Daemon::start(
        "lc-boundary",
        "programs:
  early:
    cmd: TESTPROG exit 0 0.3
    starttime: 0.6
    startretries: 1
  late:
    cmd: TESTPROG stamp DIR/late then exit 0 0.6
    starttime: 0.2
",
    );
    // Dies before starttime: a failed start, even with an expected code.
    let b = d.wait_state("early", "BACKOFF", secs(5.0));
    assert_eq!(
        b["description"], "Exited too quickly (process log may have details)",
        "{b}"
    );
    d.wait_state("early", "FATAL", secs(5.0));

    // Dies after starttime: it was RUNNING, so it is an ordinary exit.
    let e = d.wait_state("late", "EXITED", secs(5.0));
    assert_eq!(e["exitcode"], 0, "{e}");
    let log = d.log();
    assert!(log.contains("success: late entered RUNNING"), "{log}");
    assert!(
        log.contains("exited: late (exit status 0; expected)"),
        "{log}"
    );
    assert!(!log.contains("backoff: late"), "{log}");
    assert!(!log.contains("success: early entered RUNNING"), "{log}");
    assert!(log.contains("backoff: early"), "{log}");
    assert_eq!(stamps(&d.path("late")).len(), 1);
    shutdown(d);
}

// ---- 6. stopsignal ---------------------------------------------------------------------

#[test]
fn stopsignal_usr1_is_sent_on_stop() {
    let mut d = Daemon::start(
        "lc-usr1",
        "programs:
  t:
    cmd: TESTPROG trap USR1
    starttime: 0.1
    stopsignal: USR1
    stoptime: 5
    stdout: DIR/t.out
",
    );
    d.wait_state("t", "RUNNING", secs(10.0));
    let out = d.path("t.out");
    wait_file_contains(&out, "ready");
    let took = timed_command(&mut d, "stop t", "t: stopped", secs(10.0));
    assert!(
        took < secs(2.0),
        "stop took {took:?}: USR1 was not what stopped it"
    );
    wait_file_contains(&out, "got SIGUSR1");
    let i = d.instance("t");
    assert_eq!(state(&i), "STOPPED", "{i}");
    assert_eq!(i["exitcode"], 0, "{i}");
    assert_eq!(i["signal"], Value::Null, "{i}");
    assert!(d.log().contains("with SIGUSR1"), "{}", d.log());
    shutdown(d);
}

// ---- 7. stoptime -----------------------------------------------------------------------

#[test]
fn stoptime_passed_means_sigkill_on_time() {
    let mut d = Daemon::start(
        "lc-stoptime",
        "programs:
  stubborn:
    cmd: TESTPROG ignore-term
    starttime: 0.1
    stoptime: 0.5
    stdout: DIR/stubborn.out
",
    );
    d.wait_state("stubborn", "RUNNING", secs(10.0));
    wait_file_contains(&d.path("stubborn.out"), "ready");
    let took = timed_command(&mut d, "stop stubborn", "stubborn: stopped", secs(10.0));
    assert!(
        took >= secs(0.5),
        "stop took {took:?}, less than stoptime 0.5 s"
    );
    assert!(took < secs(1.5), "stop took {took:?}, SIGKILL was late");
    let i = d.instance("stubborn");
    assert_eq!(state(&i), "STOPPED", "{i}");
    assert_eq!(i["signal"], "SIGKILL", "{i}");
    assert_eq!(i["exitcode"], Value::Null, "{i}");
    assert!(d.log().contains("killing"), "{}", d.log());
    shutdown(d);
}

// ---- 8. the process group goes with the stop -------------------------------------------

#[test]
fn stop_leaves_no_grandchild() {
    let mut d = Daemon::start(
        "lc-fork",
        "programs:
  forker:
    cmd: TESTPROG fork 3 DIR/forker.pids
    starttime: 0.1
    stoptime: 2
  ignorer:
    cmd: TESTPROG fork-ignore 3 DIR/ignorer.pids
    starttime: 0.1
    stoptime: 0.5
",
    );
    d.wait_state("forker", "RUNNING", secs(10.0));
    d.wait_state("ignorer", "RUNNING", secs(10.0));
    let forker = wait_pids(&d.path("forker.pids"), 4);
    let ignorer = wait_pids(&d.path("ignorer.pids"), 4);
    assert!(
        forker.iter().chain(&ignorer).all(|&p| alive(p)),
        "all alive before the stop"
    );

    d.command_expect("stop forker", "forker: stopped", secs(10.0));
    wait_for("forker's grandchildren to die", secs(1.0), || {
        forker.iter().all(|&p| !alive(p)).then_some(())
    });

    // The grandchildren ignore SIGTERM: they must be SIGKILLed at the stoptime deadline.
    let t0 = Instant::now();
    d.command_expect("stop ignorer", "ignorer: stopped", secs(10.0));
    wait_for(
        "ignorer's grandchildren to be SIGKILLed by the stoptime deadline",
        secs(3.0),
        || ignorer.iter().all(|&p| !alive(p)).then_some(()),
    );
    let took = t0.elapsed();
    assert!(
        took < secs(1.0),
        "grandchildren outlived stoptime 0.5 s by too much: {took:?}"
    );
    assert_eq!(state(&d.instance("ignorer")), "STOPPED");
    shutdown(d);
}

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
    let config = dir.path("taskmaster.yaml");
    let yaml = format!(
        "programs:
  missing:
    cmd: /nonexistent/prog
    startretries: 1
  noexec:
    cmd: {}
    startretries: 1
  ok:
    cmd: {TESTPROG} sleep
    starttime: 0.1
",
        noexec.display()
    );
    std::fs::write(&config, yaml).expect("write config");
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

// ---- 11. exact deadlines -----------------------------------------------------------------

#[test]
fn starttime_deadline_is_met_within_50ms() {
    let mut d = Daemon::start(
        "lc-exact",
        "programs:\n  exact:\n    cmd: TESTPROG sleep\n    starttime: 0.25\n",
    );
    d.wait_state("exact", "RUNNING", secs(10.0));
    d.wait_log("success line", secs(5.0), |l| {
        l.contains("success: exact entered RUNNING")
    });
    let spawned = log_line_time_ms(&d, "spawned: 'exact'");
    let success = log_line_time_ms(&d, "success: exact entered RUNNING");
    let delta = success - spawned;
    // The timestamps are truncated to the millisecond, and the "spawned" line is
    // written once the spawn has returned, a little after the child came to be:
    // allow 5 ms on the low side.
    assert!(
        delta >= 245,
        "RUNNING {delta} ms after spawned, before starttime 250 ms"
    );
    assert!(
        delta <= 300,
        "RUNNING {delta} ms after spawned, more than 50 ms late"
    );
    shutdown(d);
}

// ---- 12. exits while STOPPING -------------------------------------------------------------

#[test]
fn exit_while_stopping_is_never_restarted() {
    let mut d = Daemon::start(
        "lc-stopping",
        "programs:
  soft:
    cmd: TESTPROG stamp DIR/soft
    starttime: 0.1
    autorestart: always
  hard:
    cmd: TESTPROG stamp DIR/hard then ignore-term
    starttime: 0.1
    stoptime: 0.3
    autorestart: always
",
    );
    d.wait_state("soft", "RUNNING", secs(10.0));
    d.wait_state("hard", "RUNNING", secs(10.0));
    wait_for("hard's stamp", secs(5.0), || {
        (!stamps(&d.path("hard")).is_empty()).then_some(())
    });
    command_lines(
        &mut d,
        "stop soft hard",
        &["soft: stopped", "hard: stopped"],
        secs(10.0),
    );
    let (soft, hard) = (d.path("soft"), d.path("hard"));
    assert_stays(
        "soft and hard STOPPED with one spawn each",
        secs(0.8),
        || {
            let st = d.status();
            let stopped = |n: &str| st.iter().any(|i| i["name"] == n && state(i) == "STOPPED");
            stamps(&soft).len() == 1
                && stamps(&hard).len() == 1
                && stopped("soft")
                && stopped("hard")
        },
    );
    assert_eq!(d.instance("hard")["signal"], "SIGKILL");
    shutdown(d);
}

// ---- process-group leftovers that die on their own ---------------------------------------

/// A group member outlives the leader's stop but exits by itself well before the
/// stoptime deadline: nothing is left, so a shutdown must not wait out the stoptime.
#[test]
fn shutdown_does_not_wait_for_a_stop_deadline_once_the_group_is_gone() {
    let mut d = Daemon::start(
        "lc-leftover",
        "programs:
  lead:
    cmd: >-
      sh -c \"trap '' TERM; TESTPROG stamp DIR/member then exit 0 0.6 &
      trap - TERM; exec TESTPROG sleep\"
    starttime: 0.1
    stoptime: 3
",
    );
    d.wait_state("lead", "RUNNING", secs(10.0));
    let member = wait_for("the member's stamp", secs(5.0), || {
        stamps(&d.path("member")).first().map(|s| s.1)
    });
    let took = timed_command(&mut d, "stop lead", "lead: stopped", secs(10.0));
    assert!(took < secs(1.0), "stop took {took:?}");
    // The member ignores SIGTERM and exits by itself 0.6 s after it started.
    wait_for("the member to exit by itself", secs(2.0), || {
        (!alive(member)).then_some(())
    });
    let t0 = Instant::now();
    assert_eq!(d.finish(secs(20.0)), 0);
    let took = t0.elapsed();
    assert!(
        took < secs(1.0),
        "shutdown took {took:?} with no process left: it waited for lead's stoptime deadline"
    );
}
