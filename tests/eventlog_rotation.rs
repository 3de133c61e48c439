//! The event log rotates like the programs' files (issue 8):
//! `taskmaster.logfile_maxbytes` / `logfile_backups`.

mod common;
use common::*;

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
