//! Bad health-check settings are `--check` errors with file:line, and change
//! nothing at start (the daemon refuses the file).

use crate::common::*;
use crate::daemon::check;

#[test]
fn bad_health_settings_are_config_errors_with_their_place() {
    let dir = TempDir::new("health-config");
    let config = write_config_file(
        &dir.0,
        "programs:
  a:
    cmd: x
    healthcheck: {http: \"https://127.0.0.1/health\"}
  b:
    cmd: x
    healthcheck: {tcp: localhost}
  c:
    cmd: x
    healthcheck: {cmd: \"true\", http: \"http://127.0.0.1/\"}
  d:
    cmd: x
    healthcheck: {cmd: \"true\", on_failure: reboot, interval: 0}
  e:
    cmd: x
    healthcheck: {retries: 3}
  f:
    cmd: x
    depends_on: {a: healthy, g: ready}
  g:
    cmd: x
  h:
    cmd: x
    healthcheck: {http: \"http://user@127.0.0.1:99999/\", timeot: 2}
",
    );
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "{err}");
    let file = config.display().to_string();
    for expected in [
        "4:25: programs.a.healthcheck.http: found \"https://127.0.0.1/health\", expected an http:// URL (https is not supported",
        "7:24: programs.b.healthcheck.tcp: found \"localhost\", expected HOST:PORT (a port from 1 to 65535)",
        "10:38: programs.c.healthcheck.http: one check only: found cmd and http, expected one of cmd, http or tcp",
        "13:44: programs.d.healthcheck.on_failure: found \"reboot\", expected one of: restart, alert, none",
        "13:62: programs.d.healthcheck.interval: found 0, expected a number of seconds ≥ 0.1",
        "16:18: programs.e.healthcheck: missing the check: one of cmd (a command), http (a URL) or tcp (HOST:PORT)",
        "19:33: programs.f.depends_on.g: found \"ready\", expected running or healthy",
        "24:25: programs.h.healthcheck.http: found \"http://user@127.0.0.1:99999/\", expected an http:// URL (no user name or password)",
        "24:57: programs.h.healthcheck.timeot: unknown healthcheck setting `timeot`: did you mean `timeout`?",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.lines().all(|l| l.starts_with(&file)), "{err}");
    // A dependency waited for as healthy must have a check.
    let config = write_config_file(
        &dir.0,
        "programs:\n  db:\n    cmd: x\n  web:\n    cmd: x\n    depends_on: {db: healthy}\n",
    );
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "6:22: programs.web.depends_on.db: `db` has no healthcheck, so it can never be healthy"
        ),
        "{err}"
    );
}
