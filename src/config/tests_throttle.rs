//! `restart_throttle`: its forms, defaults and errors.

use std::time::Duration;

use super::super::RestartThrottle;
use super::{program, with};
use crate::config::parse;

fn throttle(field: &str) -> Option<RestartThrottle> {
    program(&with(field)).policy.restart_throttle
}

#[test]
fn restart_throttle_forms() {
    let defaults = RestartThrottle {
        after: 3,
        initial: Duration::from_millis(100),
        max: Duration::from_secs(10),
    };
    assert_eq!(throttle("numprocs: 1"), Some(defaults));
    assert_eq!(throttle("restart_throttle: true"), Some(defaults));
    assert_eq!(throttle("restart_throttle: \"true\""), Some(defaults));
    assert_eq!(throttle("restart_throttle: ~"), Some(defaults));
    assert_eq!(throttle("restart_throttle: {}"), Some(defaults));
    assert_eq!(throttle("restart_throttle: false"), None);
    assert_eq!(
        throttle("restart_throttle: {after: 0, initial: 0.5, max: 60}"),
        Some(RestartThrottle {
            after: 0,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
        })
    );
    assert_eq!(
        throttle("restart_throttle: {max: 2}"),
        Some(RestartThrottle {
            max: Duration::from_secs(2),
            ..defaults
        })
    );
}

#[test]
fn bad_restart_throttle() {
    for (field, path, needle) in [
        (
            "restart_throttle: 3",
            "programs.p.restart_throttle",
            "true, false or a mapping",
        ),
        (
            "restart_throttle: {after: -1}",
            "programs.p.restart_throttle.after",
            "integer ≥ 0",
        ),
        (
            "restart_throttle: {initial: 0}",
            "programs.p.restart_throttle.initial",
            "restart_throttle: false turns the throttle off",
        ),
        (
            "restart_throttle: {initial: 5, max: 2}",
            "programs.p.restart_throttle.max",
            "≥ initial",
        ),
        (
            "restart_throttle: {maxi: 2}",
            "programs.p.restart_throttle.maxi",
            "did you mean `max`",
        ),
    ] {
        let text = with(field);
        let errs = match parse(&text, std::path::Path::new(super::FILE)) {
            Ok(config) => panic!("no error for {field}: {config:?}"),
            Err(errors) => errors.0,
        };
        assert!(
            errs.iter()
                .any(|e| e.path == path && e.to_string().contains(needle) && e.line == Some(4)),
            "{field}: {errs:?}"
        );
    }
}
