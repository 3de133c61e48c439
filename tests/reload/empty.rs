//! An empty or truncated file never stops everything (issue 14, point 3): a file
//! without `programs` is refused by `reload` and SIGHUP alike — same pids, same
//! socket, same event log — and only an explicit `programs: {}` removes every
//! program, saying so.

use std::process::{Command, Stdio};

use super::expand;
use crate::common::*;

fn ctl(socket: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_taskmasterctl"))
        .arg("-s")
        .arg(socket)
        .args(args)
        .output()
        .expect("run taskmasterctl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text.trim().to_string())
}

/// The daemon, killed with its children if the test fails half-way.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let pid = self.0.id() as i32;
            for child in children_of(pid) {
                let group = nix::unistd::Pid::from_raw(-child);
                let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn an_empty_or_truncated_file_changes_nothing_and_programs_braces_removes_all() {
    let dir = TempDir::new("reload-empty");
    let config = dir.path("taskmaster.yaml");
    let daemon_section = |log: &str, sock: &str| {
        expand(
            &format!("taskmaster:\n  logfile: DIR/{log}\n  socket: DIR/{sock}\n"),
            &dir.0,
        )
    };
    let programs = expand(
        "programs:\n  s:\n    cmd: TESTPROG sleep\n    starttime: 0\n  t:\n    cmd: TESTPROG sleep\n    starttime: 0\n    numprocs: 2\n",
        &dir.0,
    );
    let good = format!("{}{programs}", daemon_section("a.log", "a.sock"));
    std::fs::write(&config, &good).expect("write config");
    // No --socket: the config's socket setting is in force (and could move).
    let mut daemon = Reaped(
        Command::new(TASKMASTER)
            .arg("-c")
            .arg(&config)
            .arg("--no-shell")
            .stdin(Stdio::null())
            .spawn()
            .expect("start taskmaster"),
    );
    let (a_sock, a_log) = (dir.path("a.sock"), dir.path("a.log"));
    let pids = || {
        let (code, out) = ctl(&a_sock, &["pid", "all"]);
        (code == 0).then_some(out)
    };
    let before = wait_for("every instance running", secs(10.0), || {
        pids().filter(|out| out.lines().count() == 3 && !out.contains(": 0"))
    });

    assert!(
        before.lines().all(|l| l
            .rsplit(' ')
            .next()
            .is_some_and(|p| p.parse::<i32>().is_ok_and(|p| p > 0))),
        "{before}"
    );
    // Empty, comments only, `programs:` cut off, and a file cut after its
    // `taskmaster:` section that would move the socket and the event log.
    let truncated = [
        String::new(),
        "# being rewritten\n".to_string(),
        format!("{}programs:\n", daemon_section("a.log", "a.sock")),
        daemon_section("b.log", "b.sock"),
    ];
    for text in &truncated {
        std::fs::write(&config, text).expect("truncate config");
        let (code, out) = ctl(&a_sock, &["reload"]);
        assert_eq!(code, 1, "{text:?}: {out}");
        assert!(out.contains("nothing changed"), "{text:?}: {out}");
        assert!(
            out.contains("write `programs: {}` for none"),
            "{text:?}: {out}"
        );
        assert_eq!(pids().as_deref(), Some(before.as_str()), "{text:?}");
        assert!(!dir.path("b.sock").exists() && !dir.path("b.log").exists());
    }

    // SIGHUP racing the truncation: refused and logged in the same event log.
    std::fs::write(&config, "").expect("truncate config");
    let log_before = read(&a_log).len();
    let daemon_pid = nix::unistd::Pid::from_raw(daemon.0.id() as i32);
    nix::sys::signal::kill(daemon_pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    wait_for("the refused SIGHUP reload logged", secs(10.0), || {
        read(&a_log)[log_before..]
            .contains("no `programs`")
            .then_some(())
    });
    assert_eq!(pids().as_deref(), Some(before.as_str()));

    // `programs: {}` says it: every program goes, and the reply says so.
    std::fs::write(
        &config,
        format!("{}programs: {{}}\n", daemon_section("a.log", "a.sock")),
    )
    .expect("write config");
    let (code, out) = ctl(&a_sock, &["reload"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("removed every program (the file says `programs: {}`)"),
        "{out}"
    );
    assert_eq!(ctl(&a_sock, &["status"]).1, "");
    for pid in before.lines().filter_map(|l| l.rsplit(' ').next()) {
        let pid: i32 = pid.parse().expect("a pid");
        assert!(!alive(pid), "{pid} still alive");
    }

    // And the programs come back with the file.
    std::fs::write(&config, &good).expect("write config");
    let (code, out) = ctl(&a_sock, &["reload"]);
    assert_eq!(code, 0, "{out}");
    wait_for("every instance running again", secs(10.0), || {
        pids().filter(|out| out.lines().count() == 3 && !out.contains(": 0"))
    });

    assert_eq!(ctl(&a_sock, &["shutdown"]).0, 0);
    let status = wait_for("taskmaster to exit", secs(20.0), || {
        daemon.0.try_wait().expect("try_wait")
    });
    assert_eq!(status.code(), Some(0));
}
