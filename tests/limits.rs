//! The daemon survives running out of descriptors (issue 7, README: Security): a spawn that
//! hits EMFILE is a failed start (the instance backs off, then goes FATAL with
//! the reason), the daemon keeps serving, and once descriptors free up a start
//! works again.

use crate::common::*;

#[test]
fn emfile_on_spawn_backs_off_and_the_daemon_keeps_serving() {
    let mut d = Daemon::start_with(
        "emfile",
        "programs:\n  many:\n    cmd: TESTPROG sleep\n    numprocs: 20\n    starttime: 0\n    startretries: 1\n    backoff: {initial: 0.1, max: 0.1}\n",
        nofile_limit(48),
    );
    // Some instances run, the others fail to start for want of descriptors.
    let fatal = wait_for("instances to settle", secs(20.0), || {
        let status = d.status();
        let settled = status
            .iter()
            .all(|i| i["state"] == "RUNNING" || i["state"] == "FATAL");
        let fatal: Vec<_> = status
            .into_iter()
            .filter(|i| i["state"] == "FATAL")
            .collect();
        (settled && !fatal.is_empty()).then_some(fatal)
    });
    // Every child of the daemon is an instance's: a start whose pidfd could not
    // reach the daemon (its table full) left no child running unwatched.
    let known: Vec<i64> = d
        .status()
        .iter()
        .filter_map(|i| i["pid"].as_i64())
        .collect();
    let unwatched: Vec<i32> = program_children_of(d.pid())
        .into_iter()
        .filter(|p| !known.contains(&i64::from(*p)))
        .collect();
    assert!(
        unwatched.is_empty(),
        "children no instance knows: {unwatched:?} {:?}\n{}",
        unwatched
            .iter()
            .map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default())
            .collect::<Vec<_>>(),
        d.log()
    );
    let why = fatal[0]["description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        why.contains("Too many open files"),
        "FATAL for the reason: {why}"
    );
    assert!(d.log().contains("Too many open files"));
    let running: Vec<String> = d
        .status()
        .into_iter()
        .filter(|i| i["state"] == "RUNNING")
        .filter_map(|i| i["name"].as_str().map(String::from))
        .collect();
    assert!(!running.is_empty(), "some instances still started");

    // Free descriptors by stopping the running ones: a failed instance starts now.
    let failed = fatal[0]["name"].as_str().expect("name").to_string();
    d.command_expect(
        &format!("stop {}", running.join(" ")),
        &format!("{}: stopped", running[0]),
        secs(20.0),
    );
    d.command_expect(
        &format!("start {failed}"),
        &format!("{failed}: started"),
        secs(20.0),
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}
