//! The daemon's own bounds: control connections and alert commands.

use std::path::Path;
use std::time::Duration;

use super::super::load::parse_with;
use super::{ok, system, FILE};

/// The paths of the errors of `text`.
fn error_paths(text: &str) -> Vec<String> {
    match parse_with(text, Path::new(FILE), &system()) {
        Ok(config) => panic!("no error for:\n{text}\ngot {config:?}"),
        Err(errors) => errors.0.into_iter().map(|e| e.path).collect(),
    }
}

#[test]
fn connection_bounds_default_and_set() {
    let d = ok("programs: {}\n").daemon;
    assert_eq!(d.max_connections, None, "decided from the fd limit");
    assert_eq!(d.connection_idle_timeout, Duration::from_secs(60));
    let d = ok("taskmaster:\n  max_connections: 8\n  connection_idle_timeout: 0.5\nprograms: {}\n")
        .daemon;
    assert_eq!(d.max_connections, Some(8));
    assert_eq!(d.connection_idle_timeout, Duration::from_millis(500));
}

#[test]
fn bad_connection_bounds() {
    for (text, path) in [
        ("max_connections: 0", "taskmaster.max_connections"),
        ("max_connections: -3", "taskmaster.max_connections"),
        ("max_connections: 70000", "taskmaster.max_connections"),
        ("max_connections: lots", "taskmaster.max_connections"),
        (
            "connection_idle_timeout: 0",
            "taskmaster.connection_idle_timeout",
        ),
        (
            "connection_idle_timeout: -1",
            "taskmaster.connection_idle_timeout",
        ),
        (
            "connection_idle_timeout: soon",
            "taskmaster.connection_idle_timeout",
        ),
    ] {
        let paths = error_paths(&format!("taskmaster:\n  {text}\nprograms: {{}}\n"));
        assert_eq!(paths, [path], "{text}");
    }
}

#[test]
fn notify_timeout_defaults_and_set() {
    let n = ok("taskmaster:\n  notify: {cmd: logger}\nprograms: {}\n")
        .daemon
        .notify
        .expect("notify");
    assert_eq!(n.timeout, Duration::from_secs(30));
    let n = ok("taskmaster:\n  notify: {cmd: logger, timeout: 2.5}\nprograms: {}\n")
        .daemon
        .notify
        .expect("notify");
    assert_eq!(n.timeout, Duration::from_millis(2500));
}

#[test]
fn bad_notify_timeouts() {
    for value in ["0", "-2", "soon", "[1]"] {
        let paths = error_paths(&format!(
            "taskmaster:\n  notify: {{cmd: logger, timeout: {value}}}\nprograms: {{}}\n"
        ));
        assert_eq!(paths, ["taskmaster.notify.timeout"], "{value}");
    }
}

#[test]
fn metrics_setting_in_the_daemon_section() {
    let d = ok("taskmaster:\n  metrics: 9100\nprograms: {}\n").daemon;
    let listen = d.metrics.map(|m| m.listen.to_string());
    assert_eq!(listen.as_deref(), Some("127.0.0.1:9100"));
    for text in [
        "metrics: \"0.0.0.0:9100\"",
        "metrics: {listen: 9100, pubic: true}",
    ] {
        let paths = error_paths(&format!("taskmaster:\n  {text}\nprograms: {{}}\n"));
        assert_eq!(paths, ["taskmaster.metrics"], "{text}");
    }
}
