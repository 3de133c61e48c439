//! How each field's value may be written and what it becomes: umasks, exit codes,
//! signal names, detach keys, retries and backoff, rotation sizes, timestamps, the
//! event log's rotation, `notify`, priorities and dependencies.

use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::super::{AutoRestart, OutputTarget};
use super::{ok, program, with};

#[test]
fn umask_as_written() {
    for (written, expected) in [
        ("022", 0o22),
        ("\"022\"", 0o22),
        ("0o22", 0o22),
        ("\"0o22\"", 0o22),
        ("22", 0o22),
        ("0", 0),
        ("777", 0o777),
        ("0777", 0o777),
    ] {
        let umask = program(&with(&format!("umask: {written}"))).launch.umask;
        assert_eq!(umask, Some(expected), "{written}");
    }
}

#[test]
fn exitcodes_one_or_many() {
    assert_eq!(
        program(&with("exitcodes: 0")).policy.exitcodes,
        BTreeSet::from([0])
    );
    assert_eq!(
        program(&with("exitcodes: [0, 2]")).policy.exitcodes,
        BTreeSet::from([0, 2])
    );
    assert_eq!(
        program(&with("exitcodes: []")).policy.exitcodes,
        BTreeSet::new()
    );
}

#[test]
fn stopsignal_names() {
    for (written, signal) in [
        ("TERM", Signal::SIGTERM),
        ("SIGUSR1", Signal::SIGUSR1),
        ("int", Signal::SIGINT),
        ("\"Sigquit\"", Signal::SIGQUIT),
    ] {
        let p = program(&with(&format!("stopsignal: {written}")));
        assert_eq!(p.policy.stopsignal, signal);
    }
}

#[test]
fn detach_keys_and_autorestart_booleans() {
    for (written, key) in [
        (r#""^\\""#, 0x1c),
        (r#""^A""#, 1),
        ("'^]'", 0x1d),
        ("q", b'q'),
    ] {
        let config = ok(&format!(
            "taskmaster:\n  detach_key: {written}\nprograms: {{}}\n"
        ));
        assert_eq!(config.daemon.detach_key, key, "{written}");
    }
    assert_eq!(
        program(&with("autorestart: false")).policy.autorestart,
        AutoRestart::Never
    );
    assert_eq!(
        program(&with("stdout: ~")).launch.stdout,
        OutputTarget::Discard
    );
}

#[test]
fn backoff_and_infinite_retries() {
    use crate::config::{Backoff, INFINITE_RETRIES};
    assert_eq!(
        program(&with("startretries: infinite")).policy.startretries,
        INFINITE_RETRIES
    );
    assert_eq!(program(&with("startretries: 7")).policy.startretries, 7);
    assert_eq!(
        program(&with("numprocs: 1")).policy.backoff,
        Backoff::Linear
    );
    let p = program(&with("backoff: {initial: 0.5, max: 30, factor: 3}"));
    assert_eq!(
        p.policy.backoff,
        Backoff::Exponential {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            factor: 3.0
        }
    );
    // Defaults for the parts left out: 1 s, 60 s, ×2.
    let p = program(&with("backoff: {}"));
    assert_eq!(p.policy.backoff.delay(1), Duration::from_secs(1));
    assert_eq!(p.policy.backoff.delay(3), Duration::from_secs(4));
    assert_eq!(p.policy.backoff.delay(30), Duration::from_secs(60));
}

#[test]
fn output_rotation_sizes() {
    use crate::config::Rotation;
    let p = program(&with(
        "stdout_maxbytes: 50MB\n    stdout_backups: 5\n    stderr_maxbytes: 1024",
    ));
    assert_eq!(
        p.launch.stdout_rotation,
        Rotation {
            maxbytes: 50 << 20,
            backups: 5
        }
    );
    assert_eq!(
        p.launch.stderr_rotation,
        Rotation {
            maxbytes: 1024,
            backups: 0
        }
    );
    assert_eq!(
        program(&with("numprocs: 1")).launch.stdout_rotation,
        Rotation::default()
    );
    assert_eq!(
        program(&with("stdout_maxbytes: \"2kb\""))
            .launch
            .stdout_rotation
            .maxbytes,
        2048
    );
}

#[test]
fn timestamps_flag() {
    assert!(program(&with("timestamps: true")).launch.timestamps);
    assert!(!program(&with("numprocs: 1")).launch.timestamps);
}

#[test]
fn event_log_rotation() {
    use crate::config::Rotation;
    let c = ok("taskmaster:\n  logfile_maxbytes: 10MB\n  logfile_backups: 3\nprograms: {}\n");
    assert_eq!(
        c.daemon.log_rotation,
        Rotation {
            maxbytes: 10 << 20,
            backups: 3
        }
    );
    assert_eq!(
        ok("programs: {}\n").daemon.log_rotation,
        Rotation::default()
    );
}

#[test]
fn notify_section() {
    let c = ok("taskmaster:\n  notify: {cmd: \"logger -t tm\"}\nprograms: {}\n");
    let n = c.daemon.notify.expect("notify");
    assert_eq!(n.argv, vec!["logger", "-t", "tm"]);
    assert_eq!(n.max_per_minute, 6);
    assert!(
        n.events.contains("fatal")
            && n.events.contains("unexpected_exit")
            && !n.events.contains("backoff")
    );
}

#[test]
fn priority_and_dependencies() {
    let c = ok("programs:\n  db:\n    cmd: x\n    priority: 10\n  web:\n    cmd: x\n    depends_on: [db]\n  api:\n    cmd: x\n    depends_on: web\n");
    assert_eq!(c.programs["db"].policy.priority, 10);
    assert_eq!(c.programs["web"].policy.priority, 999);
    assert_eq!(c.programs["web"].policy.depends_on, vec!["db"]);
    assert_eq!(c.programs["api"].policy.depends_on, vec!["web"]);
}
