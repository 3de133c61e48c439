//! The daemon's descriptors per instance (issue 16, README: Limits): a running pipe
//! instance costs it three (its child's pidfd and the read ends of stdout and
//! stderr), a pty instance two (pidfd and master); no eventfd wakes a watcher (a
//! signal does) and no end of the child's stdin is held. So many more instances fit
//! a descriptor limit, and commands still reach every watcher at once.

use crate::common::*;

/// Waits until `count` instances are in `state`.
fn wait_all(d: &mut Daemon, state: &str, count: usize, timeout: std::time::Duration) {
    wait_for(&format!("{count} instances {state}"), timeout, || {
        let status = d.status();
        let n = status.iter().filter(|i| i["state"] == state).count();
        (n == count).then_some(())
    });
}

/// Sends `line` and waits for `count` reply lines ending in `suffix` after it.
fn command_all(d: &mut Daemon, line: &str, suffix: &str, count: usize) {
    let mark = d.mark();
    d.send(line);
    wait_for(
        &format!("{count} replies {suffix:?} to {line:?}"),
        secs(60.0),
        || {
            let lines = d.lines.lock().unwrap();
            let n = lines[mark..].iter().filter(|l| l.ends_with(suffix)).count();
            (n >= count).then_some(())
        },
    );
}

#[test]
fn a_running_instance_costs_the_daemon_three_descriptors_and_a_pty_one_two() {
    let mut d = Daemon::start(
        "fds-per-instance",
        "programs:\n  \
           quiet:\n    cmd: TESTPROG sleep\n    numprocs: 100\n    autostart: false\n    starttime: 0\n  \
           term:\n    cmd: TESTPROG sleep\n    numprocs: 20\n    pty: true\n    autostart: false\n    starttime: 0\n",
    );
    let (before, _) = quiet_counts(d.pid());
    command_all(&mut d, "start quiet", ": started", 100);
    wait_all(&mut d, "RUNNING", 100, secs(60.0));
    let (pipes, _) = quiet_counts(d.pid());
    assert!(
        pipes - before <= 3 * 100,
        "100 pipe instances hold {} descriptors",
        pipes - before
    );
    command_all(&mut d, "start term", ": started", 20);
    wait_all(&mut d, "RUNNING", 120, secs(60.0));
    let (ptys, _) = quiet_counts(d.pid());
    assert!(
        ptys - pipes <= 2 * 20,
        "20 pty instances hold {} descriptors",
        ptys - pipes
    );
    // The daemon blocks its wake signal in every thread; its children must not
    // inherit that (posix_spawn's attributes, the exec helper for a pty).
    for name in ["quiet:7", "term:3"] {
        let pid = d.pid_of(name);
        let status = read(std::path::Path::new(&format!("/proc/{pid}/status")));
        let blocked = status.lines().find(|l| l.starts_with("SigBlk:"));
        assert_eq!(
            blocked.map(|l| l.split_whitespace().nth(1)),
            Some(Some("0000000000000000")),
            "{name} starts with signals blocked: {blocked:?}"
        );
    }
    assert_eq!(d.finish(secs(60.0)), 0);
}

#[test]
fn instances_that_need_five_descriptors_each_would_not_fit_fit_at_three() {
    // 300 instances at 3 each hold 900 of 1 400; at 5 each they would need 1 500.
    // Retries absorb a spawn that finds the limit reached for a moment (each
    // spawn holds two more while it runs, and hundreds run at once here).
    let n = 300;
    let mut d = Daemon::start_with(
        "fds-fit",
        &format!(
            "programs:\n  w:\n    cmd: TESTPROG sleep\n    numprocs: {n}\n    autostart: false\n    starttime: 0\n    startretries: 20\n    backoff: {{initial: 0.1, max: 0.1}}\n"
        ),
        nofile_limit(1400),
    );
    let (before, _) = quiet_counts(d.pid());
    d.send("start all");
    wait_all(&mut d, "RUNNING", n, secs(120.0));
    let (held, _) = quiet_counts(d.pid());
    assert!(
        held - before <= 3 * n,
        "{n} instances hold {}",
        held - before
    );
    // A client still gets in: the descriptors the running instances hold are not
    // kept a second time for them.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskmasterctl"))
        .arg("-s")
        .arg(d.socket())
        .args(["status", "w:0"])
        .output()
        .expect("run taskmasterctl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RUNNING"), "{text}");
    command_all(&mut d, "stop all", ": stopped", n);
    assert_eq!(d.finish(secs(60.0)), 0);
}

#[test]
fn starting_hundreds_at_once_never_runs_the_daemon_out_of_descriptors() {
    // 300 instances at 3 each hold 900 of 1 400. A spawn holds 6-8 more while it
    // runs: were all 300 under way at once, as when every watcher made its pipes and
    // then waited for the spawn helper, they would need over 2 000. No retries
    // here: every first spawn must succeed, through the helper.
    let n = 300;
    let mut d = Daemon::start_with(
        "fds-burst-start",
        &format!(
            "programs:\n  w:\n    cmd: TESTPROG sleep\n    numprocs: {n}\n    autostart: false\n    starttime: 0\n    startretries: 0\n"
        ),
        nofile_limit(1400),
    );
    d.send("start all");
    wait_all(&mut d, "RUNNING", n, secs(120.0));
    let log = d.log();
    for bad in ["spawn error", "killing it", "Too many open files", "FATAL"] {
        assert!(!log.contains(bad), "{bad:?} in the event log:\n{log}");
    }
    command_all(&mut d, "stop all", ": stopped", n);
    assert_eq!(d.finish(secs(60.0)), 0);
}

#[test]
fn a_burst_of_commands_to_many_instances_wakes_every_watcher() {
    // Each command wakes its watcher with a signal; one lost wake-up leaves a reply
    // missing and this waits in vain. Two clients at once, the shell on `a` and a
    // socket client on `b`, each starting and stopping its 100 again and again.
    let n = 100;
    let program = |name: &str| {
        format!(
            "  {name}:\n    cmd: TESTPROG sleep\n    numprocs: {n}\n    autostart: false\n    starttime: 0\n    stoptime: 5\n"
        )
    };
    let mut d = Daemon::start(
        "fds-burst",
        &format!("programs:\n{}{}", program("a"), program("b")),
    );
    // Answered on stdin once the socket is bound.
    d.status();
    let socket = d.socket();
    let client = std::thread::spawn(move || {
        for _ in 0..5 {
            for (cmd, done) in [("start", ": started"), ("stop", ": stopped")] {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskmasterctl"))
                    .arg("-s")
                    .arg(&socket)
                    .args([cmd, "b"])
                    .output()
                    .expect("run taskmasterctl");
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                let answered = text.lines().filter(|l| l.ends_with(done)).count();
                let errors = String::from_utf8_lossy(&out.stderr);
                assert_eq!(answered, 100, "{cmd} b: {text}{errors}");
            }
        }
    });
    for _ in 0..5 {
        command_all(&mut d, "start a", ": started", n);
        command_all(&mut d, "stop a", ": stopped", n);
    }
    client
        .join()
        .expect("the socket client's commands were all answered");
    wait_all(&mut d, "STOPPED", 2 * n, secs(60.0));
    assert_eq!(d.finish(secs(60.0)), 0);
}
