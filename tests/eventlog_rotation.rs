//! The event log rotates like the programs' files (issue 8):
//! `taskmaster.logfile_maxbytes` / `logfile_backups`.

use crate::common::*;

#[test]
fn event_log_rotates_by_size_and_keeps_its_backups() {
    let mut d = Daemon::start(
        "eventlog-rot",
        "taskmaster:\n  logfile_maxbytes: 2KB\n  logfile_backups: 2\nprograms:\n  quick:\n    cmd: TESTPROG exit 0\n    autorestart: always\n    starttime: 0\n    restart_throttle: false\n",
    );
    // Each restart logs a few lines: soon more than 3 × 2 KiB have been written.
    wait_for("two rotated event logs", secs(20.0), || {
        (d.path("taskmaster.log.1").exists() && d.path("taskmaster.log.2").exists()).then_some(())
    });
    wait_for("older logs dropped past the backups", secs(20.0), || {
        let size = |n: &str| std::fs::metadata(d.path(n)).map(|m| m.len()).unwrap_or(0);
        (size("taskmaster.log.2") > 0 && size("taskmaster.log.1") <= 2048 + 256).then_some(())
    });
    assert!(!d.path("taskmaster.log.3").exists());
    d.send("stop quick");
    d.wait_state("quick", "STOPPED", secs(10.0));
    assert!(
        std::fs::metadata(d.path("taskmaster.log"))
            .map(|m| m.len())
            .unwrap_or(0)
            <= 2048 + 256
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// logrotate's way (issue 14): the file is moved away, then SIGUSR1 (or the
/// `reopen` command, or a reload) makes taskmaster write a new one at the path. A
/// removed directory is an error that changes nothing, until it exists again.
#[test]
fn the_event_log_is_reopened_after_logrotate_moved_it() {
    let dir = TempDir::new("eventlog-reopen");
    std::fs::create_dir(dir.path("logs")).expect("the log directory");
    let config = write_config_file(
        &dir.0,
        "taskmaster:\n  logfile: DIR/logs/events.log\nprograms:\n  s:\n    cmd: TESTPROG sleep\n    starttime: 0\n    autostart: false\n",
    );
    let mut d = Daemon::start_in(dir, config);
    let (log, moved) = (d.path("logs/events.log"), d.path("logs/events.log.1"));
    wait_file(&log, secs(10.0), |t| t.contains("started with pid"));

    // SIGUSR1.
    std::fs::rename(&log, &moved).expect("rotate");
    d.signal(nix::libc::SIGUSR1);
    wait_file(&log, secs(10.0), |t| t.contains("event log reopened"));
    d.command_expect("start s", "s: started", secs(10.0));
    wait_file(&log, secs(10.0), |t| t.contains("spawned: 's'"));
    assert!(
        !read(&moved).contains("spawned: 's'"),
        "the old file is left alone"
    );

    // A removed directory: `reopen` says why and changes nothing...
    std::fs::remove_dir_all(d.path("logs")).expect("remove the log directory");
    let mark = d.mark();
    d.send("reopen");
    let reply = d.wait_line(mark, "the reopen's answer", secs(10.0), |l| {
        l.contains("event log")
    });
    assert!(
        reply.contains("ERROR") && reply.contains("events.log"),
        "{reply}"
    );
    // ...until it is there again.
    std::fs::create_dir(d.path("logs")).expect("make the log directory again");
    d.command_expect(
        "reopen",
        &format!("taskmaster: event log reopened: {}", log.display()),
        secs(10.0),
    );
    wait_file(&log, secs(10.0), |t| t.contains("event log reopened"));

    // A reload reopens it too.
    std::fs::rename(&log, &moved).expect("rotate again");
    d.command_expect("reload", "No config updates to processes", secs(10.0));
    d.command_expect("stop s", "s: stopped", secs(10.0));
    wait_file(&log, secs(10.0), |t| t.contains("stopped: s"));
    assert_eq!(d.finish(secs(20.0)), 0);
}
