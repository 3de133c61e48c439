//! Whole-file tests: good configs load to the expected model, bad ones report every
//! error at the right line and column.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Uid;

use super::load::parse_with;
use super::resolve::System;
use super::*;

#[path = "tests_bad_values.rs"]
mod bad_values;
#[path = "tests_errors.rs"]
mod errors;

#[path = "tests_checks.rs"]
mod checks;

#[path = "tests_health.rs"]
mod health;
#[path = "tests_limits.rs"]
mod limits;
#[path = "tests_memory.rs"]
mod memory;
#[path = "tests_throttle.rs"]
mod throttle;
#[path = "tests_values.rs"]
mod values;

/// The appendix of the subject, exactly as written (shared/examples/subject.yaml).
const SUBJECT: &str = r#"programs:
    ngnix:
        cmd: "/usr/local/bin/ngnix -c /etc/ngnix/test.conf"
        numprocs: 1
        umask: 022
        workingdir: /tmp
        autostart: true
        autorestart: unexpected
        exitcodes:
            - 0
            - 2
        startretries: 3
        starttime: 5
        stopsignal: TERM
        stoptime: 10
        stdout: /tmp/ngnix.stdout
        stderr: /tmp/ngnix.stderr
        env:
            STARTED_BY: taskmaster
            ANSWER: 42
    vogsphere:
        cmd: "/usr/local/bin/vogsphere-worker --no-prefork"
        numprocs: 8
        umask: 077
        workingdir: /tmp
        autostart: true
        autorestart: unexpected
        exitcodes: 0
        startretries: 3
        starttime: 5
        stopsignal: USR1
        stoptime: 10
        stdout: /tmp/vgsworker.stdout
        stderr: /tmp/vgsworker.stderr
"#;

pub(super) const FILE: &str = "/etc/tm/taskmaster.yaml";

pub(super) fn system() -> System {
    System {
        euid: Uid::from_raw(0),
        home: Some(PathBuf::from("/home/me")),
    }
}

pub(super) fn ok(text: &str) -> Config {
    match parse_with(text, Path::new(FILE), &system()) {
        Ok(config) => config,
        Err(errors) => panic!("unexpected errors:\n{errors}"),
    }
}

/// The one program of a config.
fn program(text: &str) -> ProgramConfig {
    let config = ok(text);
    assert_eq!(config.programs.len(), 1);
    config.programs.into_values().next().unwrap()
}

/// `programs: {p: {cmd: x, <field>: <value>}}` with the value written as given.
fn with(field_and_value: &str) -> String {
    format!("programs:\n  p:\n    cmd: x\n    {field_and_value}\n")
}

#[test]
fn subject_example_loads_as_written() {
    let config = ok(SUBJECT);
    assert_eq!(config.file, PathBuf::from(FILE));
    let ngnix = &config.programs["ngnix"];
    assert_eq!(ngnix.name, "ngnix");
    assert_eq!(ngnix.numprocs, 1);
    assert_eq!(
        ngnix.launch.cmd,
        "/usr/local/bin/ngnix -c /etc/ngnix/test.conf"
    );
    assert_eq!(
        ngnix.launch.argv,
        ["/usr/local/bin/ngnix", "-c", "/etc/ngnix/test.conf"]
    );
    assert_eq!(ngnix.launch.umask, Some(0o22));
    assert_eq!(ngnix.launch.workingdir, PathBuf::from("/tmp"));
    assert_eq!(
        ngnix.launch.stdout,
        OutputTarget::File("/tmp/ngnix.stdout".into())
    );
    assert_eq!(
        ngnix.launch.stderr,
        OutputTarget::File("/tmp/ngnix.stderr".into())
    );
    let env = BTreeMap::from([
        ("ANSWER".to_string(), "42".to_string()),
        ("STARTED_BY".to_string(), "taskmaster".to_string()),
    ]);
    assert_eq!(ngnix.launch.env, env);
    assert!(!ngnix.launch.pty);
    assert_eq!(ngnix.launch.user, None);
    let policy = Policy {
        autostart: true,
        autorestart: AutoRestart::Unexpected,
        exitcodes: BTreeSet::from([0, 2]),
        startretries: 3,
        backoff: crate::config::Backoff::Linear,
        priority: 999,
        depends_on: Vec::new(),
        starttime: Duration::from_secs(5),
        stopsignal: Signal::SIGTERM,
        stoptime: Duration::from_secs(10),
        restart_throttle: Some(crate::config::RestartThrottle::default()),
        max_memory: None,
        pidfile: None,
        depends_on_healthy: Vec::new(),
        healthcheck: None,
    };
    assert_eq!(ngnix.policy, policy);

    let vogsphere = &config.programs["vogsphere"];
    assert_eq!(vogsphere.numprocs, 8);
    assert_eq!(
        vogsphere.launch.argv,
        ["/usr/local/bin/vogsphere-worker", "--no-prefork"]
    );
    assert_eq!(vogsphere.launch.umask, Some(0o77));
    assert_eq!(vogsphere.policy.exitcodes, BTreeSet::from([0]));
    assert_eq!(vogsphere.policy.stopsignal, Signal::SIGUSR1);
    assert!(vogsphere.launch.env.is_empty());
    assert_eq!(vogsphere.instance_name(7), "vogsphere:7");

    // The shared copy, when present, is the same text.
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/examples/subject.yaml");
    if let Ok(text) = std::fs::read_to_string(&shared) {
        assert_eq!(text, SUBJECT);
        let loaded = load(&shared).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.programs, config.programs);
    }
}

#[test]
fn defaults() {
    let config = ok("programs:\n  web:\n    cmd: ./serve --port 8000\n");
    let web = &config.programs["web"];
    assert_eq!(web.numprocs, 1);
    assert_eq!(web.policy, Policy::default());
    assert_eq!(web.launch.argv, ["./serve", "--port", "8000"]);
    assert_eq!(web.launch.workingdir, PathBuf::from("/etc/tm"));
    assert_eq!(web.launch.stdout, OutputTarget::Discard);
    assert_eq!(web.launch.stderr, OutputTarget::Discard);
    assert_eq!(web.launch.umask, None);
    assert!(web.launch.env.is_empty());
    assert!(!web.launch.pty);
    assert_eq!(web.launch.user, None);
    let daemon = DaemonSettings {
        logfile: PathBuf::from("/etc/tm/taskmaster.log"),
        socket: None,
        history: None,
        detach_key: 0x1c,
        tail_buffer: 65536,
        log_rotation: crate::config::Rotation::default(),
        notify: None,
        syslog: None,
        max_connections: None,
        connection_idle_timeout: Duration::from_secs(60),
        metrics: None,
        http: None,
    };
    assert_eq!(config.daemon, daemon);
    // No program at all is said explicitly (an empty file is an error: see
    // tests_errors.rs).
    for empty in ["programs: {}\n", "taskmaster:\nprograms: {}\n"] {
        let config = ok(empty);
        assert!(config.programs.is_empty(), "{empty:?}");
        assert_eq!(config.daemon, daemon, "{empty:?}");
    }
    assert_eq!(default_config_path(), PathBuf::from("./taskmaster.yaml"));
}

#[test]
fn every_field_set() {
    let text = r#"
taskmaster:
  logfile: /var/log/tm.log
  socket: /run/tm.sock
  history: ~/.tm_history
  detach_key: "^]"
  tail_buffer: 1024
programs:
  all-fields:
    cmd: sh -c 'echo "$GREETING"'
    numprocs: 3
    autostart: false
    autorestart: true
    exitcodes: [0, 2, 255]
    startretries: 0
    starttime: 0.5
    stopsignal: sigint
    stoptime: 0
    stdout: /tmp/./out.log
    stderr: discard
    env: {GREETING: hi, N: 42, F: 1.5, B: false, EMPTY: ""}
    workingdir: /
    umask: "0o27"
    pty: true
    user: root
"#;
    let config = ok(text);
    let d = &config.daemon;
    assert_eq!(d.logfile, PathBuf::from("/var/log/tm.log"));
    assert_eq!(d.socket, Some(PathBuf::from("/run/tm.sock")));
    assert_eq!(d.history, Some(PathBuf::from("/home/me/.tm_history")));
    assert_eq!((d.detach_key, d.tail_buffer), (0x1d, 1024));
    let p = &config.programs["all-fields"];
    assert_eq!(p.numprocs, 3);
    assert_eq!(p.instance_name(0), "all-fields:0");
    assert_eq!(p.launch.argv, ["sh", "-c", "echo \"$GREETING\""]);
    assert!(!p.policy.autostart);
    assert_eq!(p.policy.autorestart, AutoRestart::Always);
    assert_eq!(p.policy.exitcodes, BTreeSet::from([0, 2, 255]));
    assert_eq!(p.policy.startretries, 0);
    assert_eq!(p.policy.starttime, Duration::from_millis(500));
    assert_eq!(p.policy.stopsignal, Signal::SIGINT);
    assert_eq!(p.policy.stoptime, Duration::ZERO);
    assert_eq!(p.launch.stdout, OutputTarget::File("/tmp/out.log".into()));
    assert_eq!(p.launch.stderr, OutputTarget::Discard);
    let env: Vec<(&str, &str)> = p
        .launch
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("B", "false"),
            ("EMPTY", ""),
            ("F", "1.5"),
            ("GREETING", "hi"),
            ("N", "42")
        ]
    );
    assert_eq!(p.launch.workingdir, PathBuf::from("/"));
    assert_eq!(p.launch.umask, Some(0o27));
    assert!(p.launch.pty);
    let root = UserSpec {
        name: "root".into(),
        uid: 0,
        gid: 0,
    };
    assert_eq!(p.launch.user, Some(root));
}

#[test]
fn relative_paths_resolve_against_the_config_dir() {
    let tmp = crate::testutil::TempDir::new("config-relative");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("work")).unwrap();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let file = dir.join("tm.yaml");
    let text = "taskmaster:\n  logfile: logs/tm.log\n  socket: ./tm.sock\n  history: h\n\
                programs:\n  p:\n    cmd: x\n    stdout: ./logs/p.out\n    stderr: logs/p.err\n    workingdir: work\n";
    std::fs::write(&file, text).unwrap();
    let config = load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.file, file);
    assert_eq!(config.daemon.logfile, dir.join("logs/tm.log"));
    assert_eq!(config.daemon.socket, Some(dir.join("tm.sock")));
    assert_eq!(config.daemon.history, Some(dir.join("h")));
    let p = &config.programs["p"];
    assert_eq!(p.launch.stdout, OutputTarget::File(dir.join("logs/p.out")));
    assert_eq!(p.launch.stderr, OutputTarget::File(dir.join("logs/p.err")));
    assert_eq!(p.launch.workingdir, dir.join("work"));

    // A relative file name is made absolute against the current directory.
    let config = parse("programs: {}\n", Path::new("conf/tm.yaml")).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(config.file, cwd.join("conf/tm.yaml"));
    assert_eq!(config.daemon.logfile, cwd.join("conf/taskmaster.log"));
}

#[test]
fn unreadable_file_is_one_error_naming_it() {
    let missing = Path::new("/nonexistent-dir/taskmaster.yaml");
    let errors = load(missing).unwrap_err();
    assert_eq!(errors.len(), 1);
    let text = errors.to_string();
    assert!(
        text.starts_with("/nonexistent-dir/taskmaster.yaml: cannot read"),
        "{text}"
    );
}

#[test]
fn user_needs_root_unless_it_is_oneself() {
    let not_root = System {
        euid: Uid::from_raw(4242),
        home: None,
    };
    let errors = parse_with(&with("user: root"), Path::new(FILE), &not_root).unwrap_err();
    assert!(errors
        .to_string()
        .contains("only root can run programs as another user"));
    assert_eq!(errors.0[0].path, "programs.p.user");
    let p = program(&with("user: 0"));
    assert_eq!(p.launch.user.map(|u| u.name), Some("root".to_string()));
}
