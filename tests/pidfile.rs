//! Programs that daemonize (`pidfile:`, README: Running in production): the
//! launcher forks the program into the background and exits 0; taskmaster follows
//! the pid its file names — RUNNING, stop, restart and `status` — and a file that
//! names no process of the program is a failed start.

use crate::common::pids::{pid_from_file, wait_reaped};
use crate::common::*;
use crate::daemon::check;

fn pid_in(d: &Daemon) -> i32 {
    pid_from_file(&d.path("d.pid"))
}

/// Shuts taskmaster down, cleanly, and waits until the daemon it followed is reaped.
fn finish_and_reap(mut d: Daemon, followed: i32) {
    assert_eq!(d.finish(secs(15.0)), 0);
    wait_reaped(followed, "the followed daemon stopped at shutdown");
}

/// Waits until `name` is RUNNING with a pid other than `old`; returns it.
fn running_pid(d: &mut Daemon, name: &str, old: Option<i32>) -> i32 {
    wait_for("a new followed pid RUNNING", secs(15.0), || {
        let i = d.instance(name);
        let pid = i["pid"].as_i64().map(|p| p as i32)?;
        (i["state"] == "RUNNING" && Some(pid) != old).then_some(pid)
    })
}

#[test]
fn a_daemonizing_program_is_followed_through_its_pid_file() {
    let yaml = "programs:
  legacy:
    cmd: TESTPROG daemonize DIR/d.pid
    pidfile: DIR/d.pid
    starttime: 0.3
    stoptime: 5
";
    let mut d = Daemon::start("pidfile-follow", yaml);
    let daemon = pid_in(&d);
    assert_eq!(
        running_pid(&mut d, "legacy", None),
        daemon,
        "status shows it"
    );
    d.wait_log("the launcher's exit and the pid followed", secs(5.0), |l| {
        l.contains(&format!(
            "exited 0: following pid {daemon}, from its pidfile"
        ))
    });

    // Stop follows it.
    d.command_expect("stop legacy", "legacy: stopped", secs(15.0));
    wait_reaped(daemon, "the followed daemon stopped");

    // Its death is an exit: restarted (autorestart unexpected), the new pid followed.
    std::fs::remove_file(d.path("d.pid")).expect("remove the pid file");
    d.command_expect("start legacy", "legacy: started", secs(15.0));
    let second = running_pid(&mut d, "legacy", Some(daemon));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(second),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the daemon");
    let third = running_pid(&mut d, "legacy", Some(second));
    wait_reaped(second, "the killed daemon");
    finish_and_reap(d, third);
}

#[test]
fn a_pid_file_written_after_the_launcher_exited_is_waited_for() {
    let yaml = "programs:
  late:
    cmd: TESTPROG daemonize DIR/d.pid late
    pidfile: DIR/d.pid
    starttime: 0.2
";
    let mut d = Daemon::start("pidfile-late", yaml);
    let pid = running_pid(&mut d, "late", None);
    assert_eq!(pid, pid_in(&d));
    finish_and_reap(d, pid);
}

#[test]
fn a_pid_file_naming_no_process_of_the_program_is_a_failed_start() {
    let yaml = "programs:
  liar:
    cmd: TESTPROG daemonize DIR/d.pid wrong
    pidfile: DIR/d.pid
    stdout: DIR/out.log
    starttime: 0.2
    startretries: 0
";
    let mut d = Daemon::start("pidfile-wrong", yaml);
    let fatal = d.wait_state("liar", "FATAL", secs(20.0));
    let why = fatal["description"].as_str().unwrap_or_default();
    assert!(
        why.contains("no process to follow after 5 s")
            && why.contains("pid 1 is not (yet) a process taskmaster adopted"),
        "{fatal}"
    );
    // The daemon it did start is stopped with the failed run.
    let out = wait_file(&d.path("out.log"), secs(5.0), |t| t.contains(" up"));
    let stray: i32 = out
        .lines()
        .find_map(|l| l.strip_prefix("daemon ")?.strip_suffix(" up")?.parse().ok())
        .expect("the daemon's line");
    wait_reaped(stray, "the daemon of the failed start stopped");
    assert_eq!(d.finish(secs(15.0)), 0);
}

#[test]
fn a_pidfile_that_is_no_path_is_a_config_error() {
    let dir = TempDir::new("pidfile-check");
    for (name, value) in [("empty.yaml", "\"\""), ("number.yaml", "[1]")] {
        let path = dir.path(name);
        let text = format!(
            "programs:\n  web:\n    cmd: {} sleep\n    pidfile: {value}\n",
            testprog()
        );
        std::fs::write(&path, text).expect("write config");
        let (code, _, err) = check(&path);
        assert_eq!(code, 2, "pidfile: {value}; stderr: {err}");
        assert!(
            err.contains("programs.web.pidfile") && err.contains("expected a path"),
            "names the field and what it takes: {err}"
        );
    }
}
