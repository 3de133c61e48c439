//! The daemon survives running out of descriptors (issue 7, README: Security): a spawn that
//! hits EMFILE is a failed start (the instance backs off, then goes FATAL with
//! the reason), the daemon keeps serving, and once descriptors free up a start
//! works again.

use crate::common::*;
use std::os::unix::process::CommandExt;

#[test]
fn emfile_on_spawn_backs_off_and_the_daemon_keeps_serving() {
    let mut d = Daemon::start_with(
        "emfile",
        "programs:\n  many:\n    cmd: TESTPROG sleep\n    numprocs: 20\n    starttime: 0\n    startretries: 1\n    backoff: {initial: 0.1, max: 0.1}\n",
        |cmd| {
            // SAFETY: setrlimit in the child before exec; async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    let lim = nix::libc::rlimit { rlim_cur: 48, rlim_max: 48 };
                    if nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
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
