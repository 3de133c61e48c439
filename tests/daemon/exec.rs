//! What a child sees at exec: environment, working directory, umask, session,
//! descriptors, signal state, and a terminal for pty programs.

use super::{canonical, signals_in, start_prepared, wait_report};
use crate::common::*;

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
    // `direct` goes through plain posix_spawn; `helper` (umask) and `pty` through the
    // exec helper.
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
  pty:
    cmd: TESTPROG report DIR/pty.json
    starttime: 0
    pty: true
",
    );
    for name in ["direct", "helper", "pty"] {
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
        // glibc's reserved 32 and 33 included: no signal is ignored.
        assert_eq!(
            signals_in(&r["sigign"]),
            Vec::<u32>::new(),
            "{name}: ignored signals (SigIgn {})",
            r["sigign"]
        );
    }
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

// ---- the allocator's tunable ---------------------------------------------------------------

/// The daemon runs with glibc's per-thread caches of freed blocks turned off (it
/// execs itself once with that tunable: README, Performance), and its children get
/// the environment it was started with: the user's `GLIBC_TUNABLES` as it was, or
/// none, and no trace of the re-exec.
#[test]
fn the_allocator_tunable_is_the_daemons_alone() {
    for (tag, given) in [
        ("tunable-none", None),
        ("tunable-own", Some("glibc.malloc.check=0")),
    ] {
        let mut d = Daemon::start_with(
            tag,
            "programs:\n  r:\n    cmd: TESTPROG report DIR/r.json\n    starttime: 0\n",
            |command| {
                match given {
                    Some(value) => command.env("GLIBC_TUNABLES", value),
                    None => command.env_remove("GLIBC_TUNABLES"),
                };
            },
        );
        let report = wait_report(&d.path("r.json"));
        let env = &report["env"];
        assert_eq!(
            env.get("GLIBC_TUNABLES").and_then(|v| v.as_str()),
            given,
            "{env}"
        );
        assert!(env.get("TASKMASTER_MALLOC_TUNED").is_none(), "{env}");
        // What the daemon's own image was started with (after its re-exec); glibc
        // cuts the tunables apart in place there, so look for the piece.
        let environ = std::fs::read(format!("/proc/{}/environ", d.pid())).expect("environ");
        assert!(
            environ
                .split(|&b| b == 0)
                .any(|v| v.ends_with(b"glibc.malloc.tcache_count=0")),
            "{}",
            String::from_utf8_lossy(&environ)
        );
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", d.pid())).expect("comm");
        assert_eq!(
            comm.trim(),
            "taskmaster",
            "ps and pgrep know it by its name"
        );
        assert_eq!(d.finish(secs(20.0)), 0);
    }
}
