//! `healthcheck` and `depends_on`'s map form: the settings they take, their
//! defaults, and the values they refuse (the messages: tests/health/config.rs).

use std::time::Duration;

use super::{ok, program, with};
use crate::config::{HealthCheck, HttpTarget, OnFailure, Probe};

fn check(field: &str) -> HealthCheck {
    program(&with(field))
        .policy
        .healthcheck
        .expect("a healthcheck")
}

fn refused(field: &str) -> String {
    match crate::config::parse(&with(field), std::path::Path::new(super::FILE)) {
        Ok(config) => panic!("no error for {field}: {config:?}"),
        Err(errors) => errors.to_string(),
    }
}

#[test]
fn defaults_and_every_setting() {
    assert_eq!(program(&with("numprocs: 1")).policy.healthcheck, None);
    let c = check("healthcheck: {cmd: \"pg_isready -q\"}");
    assert_eq!(
        c,
        HealthCheck {
            probe: Probe::Cmd {
                cmd: "pg_isready -q".into(),
                argv: vec!["pg_isready".into(), "-q".into()]
            },
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            retries: 3,
            start_period: Duration::ZERO,
            on_failure: OnFailure::Alert,
        }
    );
    let c = check("healthcheck: {tcp: \"[::1]:5432\", interval: 0.5, timeout: 0.2, retries: 1, start_period: 30, on_failure: RESTART}");
    assert_eq!(
        c.probe,
        Probe::Tcp {
            host: "::1".into(),
            port: 5432
        }
    );
    assert_eq!(
        (
            c.interval,
            c.timeout,
            c.retries,
            c.start_period,
            c.on_failure
        ),
        (
            Duration::from_millis(500),
            Duration::from_millis(200),
            1,
            Duration::from_secs(30),
            OnFailure::Restart
        )
    );
    assert_eq!(
        check("healthcheck: {tcp: \"db.local:1\", on_failure: none}").on_failure,
        OnFailure::Nothing
    );
}

#[test]
fn http_urls_are_taken_apart() {
    let target = |url: &str| match check(&format!("healthcheck: {{http: \"{url}\"}}")).probe {
        Probe::Http(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        target("http://127.0.0.1:8000/health?full=1#x"),
        HttpTarget {
            url: "http://127.0.0.1:8000/health?full=1#x".into(),
            host: "127.0.0.1".into(),
            port: 8000,
            path: "/health?full=1".into()
        }
    );
    let t = target("http://localhost");
    assert_eq!(
        (t.host.as_str(), t.port, t.path.as_str()),
        ("localhost", 80, "/")
    );
    let t = target("http://[::1]:81?q");
    assert_eq!(
        (t.host.as_str(), t.port, t.path.as_str()),
        ("::1", 81, "/?q")
    );
}

#[test]
fn bad_checks_are_refused() {
    for (field, message) in [
        (
            "healthcheck: {http: \"ftp://x/\"}",
            "it must start with http://",
        ),
        (
            "healthcheck: {http: \"http://:80/\"}",
            "a host name or address",
        ),
        (
            "healthcheck: {http: \"http://x:0/\"}",
            "a port from 1 to 65535",
        ),
        (
            "healthcheck: {http: \"http://x/a b\"}",
            "no spaces or control characters",
        ),
        (
            "healthcheck: {http: \"http://[::1/\"}",
            "a `[` without its `]`",
        ),
        ("healthcheck: {tcp: \"x:http\"}", "a port from 1 to 65535"),
        ("healthcheck: {tcp: 5432}", "HOST:PORT (a string)"),
        ("healthcheck: {cmd: \"\"}", "a non-empty command line"),
        (
            "healthcheck: {cmd: x, timeout: 0}",
            "a number of seconds ≥ 0.001",
        ),
        (
            "healthcheck: {cmd: x, retries: 0}",
            "an integer from 1 to 1000000",
        ),
        (
            "healthcheck: {cmd: x, start_period: -1}",
            "a number of seconds ≥ 0",
        ),
        (
            "healthcheck: true",
            "a mapping with one of cmd, http or tcp",
        ),
        ("depends_on: {p: healthy}", "cannot depend on itself"),
    ] {
        let errors = refused(field);
        assert!(errors.contains(message), "{field}: {errors}");
    }
}

#[test]
fn depends_on_takes_a_map_of_conditions() {
    let c = ok("programs:
  db: {cmd: x, healthcheck: {tcp: \"127.0.0.1:5432\"}}
  cache: {cmd: x}
  web: {cmd: x, depends_on: {db: healthy, cache: running}}
  api: {cmd: x, depends_on: [db, cache]}
");
    let web = &c.programs["web"].policy;
    assert_eq!(web.depends_on, vec!["db", "cache"]);
    assert_eq!(web.depends_on_healthy, vec!["db"]);
    let api = &c.programs["api"].policy;
    assert_eq!((api.depends_on.len(), api.depends_on_healthy.len()), (2, 0));
    // The map form is checked like the list: unknown names and cycles.
    let text = "programs:\n  a: {cmd: x, depends_on: {b: running}}\n  b: {cmd: x, depends_on: {a: running}}\n";
    let errors = crate::config::parse(text, std::path::Path::new(super::FILE)).unwrap_err();
    assert!(errors.to_string().contains("dependency cycle"), "{errors}");
}
