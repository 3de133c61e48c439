//! The daemon as a whole: what a child sees at exec (SPEC §4, §10), shutdown by signal,
//! end of input or command (SPEC §1, §2), scale, `--check` and bad configs (SPEC §2,
//! §3), the subject's example config, pty children, and bad command lines.

mod common;
use common::*;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// This process's umask, read without changing it (umask(2) would race other tests).
fn current_umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("Umask line in /proc/self/status");
    u32::from_str_radix(line.trim(), 8).expect("octal umask")
}

/// Writes the config (after `prepare` ran on the fresh temp dir) and starts the daemon.
fn start_prepared(tag: &str, yaml: &str, prepare: impl FnOnce(&Path)) -> Daemon {
    let dir = TempDir::new(tag);
    prepare(&dir.0);
    let config = dir.path("taskmaster.yaml");
    let yaml = yaml
        .replace("TESTPROG", TESTPROG)
        .replace("DIR", dir.0.to_str().expect("utf-8 temp dir"));
    std::fs::write(&config, yaml).expect("write config");
    Daemon::start_in(dir, config)
}

/// Waits for the JSON a `report FILE` child writes (atomically) and parses it.
fn wait_report(path: &Path) -> Value {
    wait_for(&format!("report {}", path.display()), secs(10.0), || {
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).expect("report is JSON"))
    })
}

/// Runs taskmaster with `args` and stdin closed, with a deadline; returns (code, stdout, stderr).
fn run_taskmaster(args: &[&std::ffi::OsStr], timeout: Duration) -> (i32, String, String) {
    let mut child = Command::new(TASKMASTER)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run taskmaster");
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let status = wait_for("taskmaster to exit", timeout, || {
        child.try_wait().expect("try_wait")
    });
    (
        status.code().unwrap_or(-1),
        out.join().expect("stdout reader"),
        err.join().expect("stderr reader"),
    )
}

fn check(config: &Path) -> (i32, String, String) {
    run_taskmaster(
        &["--check".as_ref(), "-c".as_ref(), config.as_os_str()],
        secs(20.0),
    )
}

/// Every pid of `status --json` (instances that have one).
fn pids(d: &mut Daemon) -> Vec<i32> {
    d.status()
        .iter()
        .filter_map(|i| i["pid"].as_i64())
        .map(|p| p as i32)
        .collect()
}

/// After the daemon exited: none of `pids` is alive, none is a zombie.
fn assert_all_gone(pids: &[i32]) {
    for &pid in pids {
        assert!(
            !alive(pid),
            "child {pid} is still alive after the daemon exited"
        );
        assert!(
            !zombie(pid),
            "child {pid} is a zombie after the daemon exited"
        );
    }
}

/// The signal numbers set in a `/proc/PID/status` mask (`SigBlk`, `SigIgn`: hex, bit
/// n-1 for signal n).
fn signals_in(mask: &Value) -> Vec<u32> {
    let hex = mask
        .as_str()
        .unwrap_or_else(|| panic!("signal mask is not a string: {mask}"));
    let bits =
        u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("signal mask is not hex: {hex}"));
    (1..=64).filter(|n| bits & (1u64 << (n - 1)) != 0).collect()
}

/// glibc's reserved signals 32 (SIGCANCEL) and 33 (SIGSETXID): glibc's posix_spawn
/// sets them to SIG_IGN in every child it spawns (any caller: python's
/// os.posix_spawn with setsigdef of every signal shows SigIgn 0x180000000 on glibc
/// 2.36), and no glibc program can use them (SIGRTMIN is 34). Every other signal
/// must be at its default disposition.
const GLIBC_RESERVED: [u32; 2] = [32, 33];

fn canonical(p: impl AsRef<Path>) -> PathBuf {
    std::fs::canonicalize(p.as_ref())
        .unwrap_or_else(|e| panic!("canonicalize {}: {e}", p.as_ref().display()))
}

// ---- 5. environment, working directory, umask ------------------------------------------

#[test]
fn env_workingdir_and_umask_reach_the_child() {
    let mut d = start_prepared(
        "env",
        "programs:
  custom:
    cmd: TESTPROG report DIR/custom.json
    starttime: 0
    env: {ANSWER: 42, FLAG: true, NAME: x}
    workingdir: DIR/sub
    umask: 027
  plain:
    cmd: TESTPROG report DIR/plain.json
    starttime: 0
",
        |dir| std::fs::create_dir(dir.join("sub")).expect("create sub"),
    );
    let custom = wait_report(&d.path("custom.json"));
    let plain = wait_report(&d.path("plain.json"));
    let our_path = std::env::var("PATH").expect("the test has a PATH");

    let env = &custom["env"];
    assert_eq!(env["ANSWER"], "42", "numbers become their text: {env}");
    assert_eq!(env["FLAG"], "true", "booleans become their text: {env}");
    assert_eq!(env["NAME"], "x");
    assert_eq!(
        env["PATH"],
        our_path.as_str(),
        "taskmaster's own environment is inherited"
    );
    assert_eq!(
        canonical(custom["cwd"].as_str().expect("cwd")),
        canonical(d.path("sub"))
    );
    assert_eq!(custom["umask"], "027");

    assert_eq!(
        plain["env"]["PATH"],
        our_path.as_str(),
        "taskmaster's own environment is inherited"
    );
    assert!(
        plain["env"].get("ANSWER").is_none(),
        "env of one program leaks into another"
    );
    assert_eq!(
        canonical(plain["cwd"].as_str().expect("cwd")),
        canonical(&d.dir.0),
        "default workingdir is the config file's directory"
    );
    assert_eq!(
        plain["umask"],
        format!("{:03o}", current_umask()).as_str(),
        "without umask, the child has the daemon's"
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 6. session, descriptors, signal state ------------------------------------------------

#[test]
fn child_is_session_leader_with_only_std_fds_and_clean_signals() {
    // `direct` goes through plain posix_spawn; `helper` (umask) through the exec helper.
    let mut d = Daemon::start(
        "clean",
        "programs:
  direct:
    cmd: TESTPROG report DIR/direct.json
    starttime: 0
  helper:
    cmd: TESTPROG report DIR/helper.json
    starttime: 0
    umask: 022
",
    );
    for name in ["direct", "helper"] {
        let r = wait_report(&d.path(&format!("{name}.json")));
        let pid = r["pid"].as_i64().expect("pid");
        assert_eq!(r["sid"].as_i64(), Some(pid), "{name}: session leader: {r}");
        assert_eq!(
            r["pgid"].as_i64(),
            Some(pid),
            "{name}: own process group: {r}"
        );
        assert_eq!(
            r["ppid"].as_i64(),
            Some(d.pid() as i64),
            "{name}: taskmaster's own child: {r}"
        );
        // The report can be written before the watcher has published the spawn.
        d.wait_state(name, "RUNNING", secs(10.0));
        assert_eq!(
            d.pid_of(name) as i64,
            pid,
            "{name}: status shows the exec'd pid"
        );
        assert_eq!(
            r["fds"],
            serde_json::json!([0, 1, 2]),
            "{name}: only fds 0-2 survive exec"
        );
        assert_eq!(
            signals_in(&r["sigmask"]),
            Vec::<u32>::new(),
            "{name}: blocked signals"
        );
        let ignored: Vec<u32> = signals_in(&r["sigign"])
            .into_iter()
            .filter(|n| !GLIBC_RESERVED.contains(n))
            .collect();
        assert_eq!(
            ignored,
            Vec::<u32>::new(),
            "{name}: ignored signals (SigIgn {})",
            r["sigign"]
        );
    }
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 7. SIGTERM ------------------------------------------------------------------------------

#[test]
fn sigterm_shuts_down_gracefully() {
    let mut d = Daemon::start(
        "sigterm",
        "programs:
  a:
    cmd: TESTPROG sleep
    numprocs: 3
    starttime: 0
  b:
    cmd: TESTPROG trap TERM
    starttime: 0
",
    );
    for name in ["a:0", "a:1", "a:2", "b"] {
        d.wait_state(name, "RUNNING", secs(10.0));
    }
    let before = pids(&mut d);
    assert_eq!(before.len(), 4, "every instance has a pid");
    d.signal(15);
    assert_eq!(d.wait_exit(secs(20.0)), 0, "graceful shutdown exits 0");
    assert_all_gone(&before);
    let log = d.log();
    assert!(log.contains("shutdown begun"), "log:\n{log}");
    assert!(log.contains("shutdown finished"), "log:\n{log}");
}

#[test]
fn second_sigterm_kills_what_is_still_stopping() {
    let mut d = Daemon::start(
        "sigterm2",
        "programs:
  stubborn:
    cmd: TESTPROG ignore-term
    starttime: 0
    stoptime: 30
    stdout: stubborn.out
",
    );
    d.wait_state("stubborn", "RUNNING", secs(10.0));
    // `ready` is printed once SIGTERM is ignored.
    wait_for("stubborn to be ready", secs(10.0), || {
        read(&d.path("stubborn.out"))
            .contains("ready")
            .then_some(())
    });
    let pid = d.pid_of("stubborn");
    let t0 = Instant::now();
    d.signal(15);
    d.wait_log("shutdown begun", secs(10.0), |l| {
        l.contains("shutdown begun")
    });
    d.wait_state("stubborn", "STOPPING", secs(10.0));
    assert!(
        alive(pid),
        "the program ignores SIGTERM and is still alive while stopping"
    );
    d.signal(15);
    let code = d.wait_exit(secs(10.0));
    let took = t0.elapsed();
    eprintln!("second SIGTERM: daemon exited with {code} after {took:?}");
    assert!(
        code >= 0,
        "the daemon exits (not killed by a signal), got {code}"
    );
    assert!(took < secs(10.0), "daemon took {took:?}, stoptime is 30 s");
    assert_all_gone(&[pid]);
}

// ---- 8. end of stdin, `shutdown` --------------------------------------------------------------

const TWO_SLEEPERS: &str = "programs:
  s:
    cmd: TESTPROG sleep
    numprocs: 2
    starttime: 0
";

#[test]
fn end_of_stdin_shuts_down() {
    let mut d = Daemon::start("eof", TWO_SLEEPERS);
    d.wait_state("s:0", "RUNNING", secs(10.0));
    d.wait_state("s:1", "RUNNING", secs(10.0));
    let before = pids(&mut d);
    assert_eq!(before.len(), 2);
    assert_eq!(d.finish(secs(20.0)), 0);
    assert_all_gone(&before);
}

#[test]
fn shutdown_command_shuts_down() {
    let mut d = Daemon::start("shutdown-cmd", TWO_SLEEPERS);
    d.wait_state("s:0", "RUNNING", secs(10.0));
    d.wait_state("s:1", "RUNNING", secs(10.0));
    let before = pids(&mut d);
    assert_eq!(before.len(), 2);
    d.send("shutdown");
    assert_eq!(d.wait_exit(secs(20.0)), 0);
    assert_all_gone(&before);
}

// ---- 9. a thousand instances ---------------------------------------------------------------

#[test]
fn a_thousand_instances_reach_running() {
    const N: usize = 1000;
    let t0 = Instant::now();
    let mut d = Daemon::start(
        "thousand",
        "programs:\n  sleep:\n    cmd: TESTPROG sleep\n    numprocs: 1000\n    starttime: 0\n",
    );
    let deadline = t0 + secs(30.0);
    let mut running;
    loop {
        let status = d.status();
        assert_eq!(status.len(), N, "one status entry per instance");
        running = status.iter().filter(|i| i["state"] == "RUNNING").count();
        if running == N {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {running} of {N} RUNNING after 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("{N} instances RUNNING after {:?}", t0.elapsed());
    let before = pids(&mut d);
    assert_eq!(before.len(), N);
    let t1 = Instant::now();
    assert_eq!(d.finish(secs(60.0)), 0);
    eprintln!("{N} instances shut down in {:?}", t1.elapsed());
    assert_all_gone(&before);
}

// ---- 10. --check and bad configs --------------------------------------------------------------

#[test]
fn check_accepts_valid_and_rejects_invalid_configs() {
    let dir = TempDir::new("check");
    let good = dir.path("good.yaml");
    std::fs::write(
        &good,
        format!("programs:\n  web:\n    cmd: {TESTPROG} sleep\n    autorestart: always\n"),
    )
    .unwrap();
    let (code, _, err) = check(&good);
    assert_eq!(code, 0, "valid config; stderr: {err}");

    // Unknown field on line 4.
    let unknown = dir.path("unknown.yaml");
    std::fs::write(
        &unknown,
        format!("programs:\n  web:\n    cmd: {TESTPROG} sleep\n    autorestrt: always\n"),
    )
    .unwrap();
    let (code, _, err) = check(&unknown);
    assert_eq!(code, 2, "unknown field; stderr: {err}");
    assert!(
        err.contains(&format!("{}:4", unknown.display())),
        "names file:line: {err}"
    );
    assert!(
        err.contains("programs.web.autorestrt"),
        "names the field path: {err}"
    );

    // Bad value on line 4.
    let bad = dir.path("bad.yaml");
    std::fs::write(
        &bad,
        format!("programs:\n  web:\n    cmd: {TESTPROG} sleep\n    autorestart: maybe\n"),
    )
    .unwrap();
    let (code, _, err) = check(&bad);
    assert_eq!(code, 2, "bad value; stderr: {err}");
    assert!(
        err.contains(&format!("{}:4", bad.display())),
        "names file:line: {err}"
    );
    assert!(
        err.contains("programs.web.autorestart"),
        "names the field path: {err}"
    );

    let (code, _, err) = check(&dir.path("missing.yaml"));
    assert_eq!(code, 2, "missing file; stderr: {err}");
    assert!(!err.trim().is_empty(), "a missing file is reported");
}

#[test]
fn daemon_refuses_a_bad_config() {
    let dir = TempDir::new("badstart");
    let config = dir.path("taskmaster.yaml");
    let stamp = dir.path("started");
    std::fs::write(
        &config,
        format!(
            "programs:\n  web:\n    cmd: {TESTPROG} stamp {}\n    starttime: 0\n    autorestart: maybe\n",
            stamp.display()
        ),
    )
    .unwrap();
    let socket = dir.path("taskmaster.sock");
    let (code, _, err) = run_taskmaster(
        &[
            "-c".as_ref(),
            config.as_os_str(),
            "--socket".as_ref(),
            socket.as_os_str(),
        ],
        secs(20.0),
    );
    assert_eq!(code, 2, "bad config: exit 2; stderr: {err}");
    assert!(
        err.contains(&format!("{}:5", config.display())),
        "names file:line: {err}"
    );
    assert!(
        err.contains("programs.web.autorestart"),
        "names the field path: {err}"
    );
    assert!(!stamp.exists(), "nothing may be started on a bad config");
}

// ---- 11. the subject's example config ---------------------------------------------------------

#[test]
fn subject_example_loads_and_fails_its_missing_binaries_cleanly() {
    let dir = TempDir::new("subject");
    let config = dir.path("subject.yaml");
    std::fs::copy("/work/shared/examples/subject.yaml", &config).expect("copy subject.yaml");
    let (code, _, err) = check(&config);
    assert_eq!(code, 0, "subject.yaml loads as written; stderr: {err}");

    let mut d = Daemon::start_in(dir, config);
    let mut names: Vec<String> = d
        .status()
        .iter()
        .map(|i| i["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..8).map(|k| format!("vogsphere:{k}")).collect();
    expected.push("ngnix".to_string());
    expected.sort();
    assert_eq!(names, expected);

    // startretries 3: backoff 1 + 2 + 3 s, then FATAL.
    for name in &expected {
        let i = d.wait_state(name, "FATAL", secs(30.0));
        let desc = i["description"].as_str().unwrap_or_default();
        assert!(
            desc.contains("can't find command"),
            "{name}: description {desc:?}"
        );
    }
    let log = d.log();
    assert!(log.contains("spawnerr"), "log:\n{log}");
    assert!(alive(d.pid()), "the daemon stays up");
    assert_eq!(d.status().len(), 9, "and keeps answering status");
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 12. pty ----------------------------------------------------------------------------------

#[test]
fn pty_child_has_a_terminal_and_clean_output() {
    let mut d = Daemon::start(
        "pty",
        "programs:
  report:
    cmd: TESTPROG report DIR/report.json
    starttime: 0
    pty: true
  hello:
    cmd: TESTPROG print hello
    starttime: 0
    pty: true
    stdout: hello.out
",
    );
    let r = wait_report(&d.path("report.json"));
    assert_eq!(
        r["tty"],
        serde_json::json!([true, true, true]),
        "stdin/stdout/stderr are a terminal: {r}"
    );
    let pid = r["pid"].as_i64().expect("pid");
    assert_eq!(r["sid"].as_i64(), Some(pid), "session leader: {r}");
    assert_eq!(r["pgid"].as_i64(), Some(pid), "own process group: {r}");
    assert_eq!(r["fds"], serde_json::json!([0, 1, 2]), "only fds 0-2: {r}");

    let text = wait_for("hello in hello.out", secs(10.0), || {
        let t = read(&d.path("hello.out"));
        t.contains("hello").then_some(t)
    });
    // The line ending may still be in flight right after "hello".
    let text = if text.contains('\n') {
        text
    } else {
        wait_for("end of line in hello.out", secs(5.0), || {
            let t = read(&d.path("hello.out"));
            t.contains('\n').then_some(t)
        })
    };
    assert!(text.contains("hello\n"), "{text:?}");
    assert!(
        !text.contains('\r'),
        "\\r\\n is stripped to \\n in the file: {text:?}"
    );
    assert_eq!(d.instance("hello")["state"], "RUNNING");
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 13. bad command lines -------------------------------------------------------------------

#[test]
fn bad_command_lines_get_an_error_and_the_daemon_stays_up() {
    let mut d = Daemon::start(
        "badcmd",
        "programs:\n  s:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let pid = d.wait_state("s", "RUNNING", secs(10.0))["pid"].clone();

    d.command_expect(
        "frobnicate the thing",
        "*** Unknown syntax: frobnicate the thing",
        secs(5.0),
    );

    let mark = d.mark();
    d.send("start");
    let line = d.wait_line(mark, "an error reply to a bare `start`", secs(5.0), |l| {
        !l.trim().is_empty()
    });
    assert!(
        line.to_lowercase().contains("error"),
        "`start` without a name: {line:?}"
    );

    assert!(alive(d.pid()), "the daemon stays up");
    let i = d.instance("s");
    assert_eq!(i["state"], "RUNNING", "nothing changed: {i}");
    assert_eq!(i["pid"], pid, "nothing changed: {i}");
    assert_eq!(d.finish(secs(20.0)), 0);
}
