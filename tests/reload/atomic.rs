//! A reload is applied whole or not at all (issue 14, point 9): when a new instance
//! cannot get its thread, nothing of the reload is applied — no program added,
//! removed, restarted or scaled, the event log not moved — the reply and the log
//! say what was refused, and a later reload that fits is applied in full.
//!
//! Thread exhaustion is simulated by a debug-build failpoint
//! (`TASKMASTER_TEST_FAIL_THREAD_FOR=NAME`): the daemon runs as root in CI, where
//! RLIMIT_NPROC is not enforced.

use super::{config, prog, reload, snapshot, wait_running, write_config};
use crate::common::*;

/// Threads of `pid` whose name starts with `prefix` (names are cut at 15 bytes).
fn threads_named(pid: i32, prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| read(&t.path().join("comm")).starts_with(prefix))
        .count()
}

#[test]
fn a_reload_that_cannot_be_applied_in_full_changes_nothing() {
    let old = config(&[
        prog("keep", &["cmd: TESTPROG sleep"]),
        prog("pool", &["cmd: TESTPROG sleep", "numprocs: 2"]),
        prog("gone", &["cmd: TESTPROG sleep"]),
    ]);
    let mut d = Daemon::start_with("reload-atomic", &old, |cmd| {
        cmd.env("TASKMASTER_TEST_FAIL_THREAD_FOR", "many:40");
    });
    wait_running(&mut d, &["keep", "pool:0", "pool:1", "gone"], secs(10.0));
    let before = snapshot(&mut d);

    // Every kind of change at once, and 50 new instances of which the 41st
    // cannot have its thread.
    let new = |many: u32| {
        format!(
            "taskmaster:\n  logfile: DIR/moved.log\n{}",
            config(&[
                prog("keep", &["cmd: TESTPROG sleep", "env: {NEW: 1}"]),
                prog("pool", &["cmd: TESTPROG sleep", "numprocs: 5"]),
                prog(
                    "many",
                    &["cmd: TESTPROG sleep", &format!("numprocs: {many}")],
                ),
            ])
        )
    };
    write_config(&d, &new(50));
    let reply = reload(&mut d);
    assert_eq!(
        reply.first().map(String::as_str),
        Some("ERROR (reload refused; nothing changed)"),
        "{reply:?}"
    );
    assert!(
        reply
            .iter()
            .any(|l| l.contains("cannot start the watcher thread of many:40")),
        "{reply:?}"
    );
    assert_eq!(
        reply.len(),
        2,
        "nothing else was reported as applied: {reply:?}"
    );
    assert_eq!(snapshot(&mut d), before);
    assert!(!d.path("moved.log").exists(), "the event log moved");
    assert!(d
        .log()
        .contains("reload refused, nothing changed: cannot start the watcher thread of many:40"));
    // The instances made for it are gone with their threads.
    wait_for("the discarded watchers ended", secs(10.0), || {
        (threads_named(d.pid(), "watch:many") == 0).then_some(())
    });

    // SIGHUP: refused the same way, logged.
    d.signal(1);
    d.wait_log("the refused SIGHUP reload", secs(10.0), |log| {
        log.contains("reload after SIGHUP failed") && log.contains("many:40")
    });
    assert_eq!(snapshot(&mut d), before);

    // A reload that fits is applied in full.
    write_config(&d, &new(30));
    let reply = reload(&mut d);
    for wanted in [
        "event log moved",
        "gone: removed",
        "keep: restarted (env changed)",
        "many: added",
        "pool: scaled 2 -> 5",
    ] {
        assert!(
            reply.iter().any(|l| l.contains(wanted)),
            "{wanted}: {reply:?}"
        );
    }
    let mut names: Vec<String> = vec!["keep".into()];
    names.extend((0..5).map(|i| format!("pool:{i}")));
    names.extend((0..30).map(|i| format!("many:{i}")));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let after = wait_running(&mut d, &names, secs(20.0));
    assert_eq!(after["pool:0"], before["pool:0"].1.unwrap());
    assert_ne!(after["keep"], before["keep"].1.unwrap());
    d.finish(secs(30.0));
}
