//! Bad INI input: every error at once, each with file:line, and nothing started.

use super::{run_taskmaster, start_ini, write, SUPERVISORD};
use crate::common::*;

const BAD: &str = "[supervisord]
logfile=%(here)s/taskmaster.log
logfile_maxbytes=lots

[program:a]
command=TESTPROG stamp DIR/started %(nope)s
autostart=maybe
stopsignal=BOGUS

[program:b]
command=TESTPROG stamp DIR/started
umask=99

[eventlistener:x]
command=/bin/true

[mystery]
x=1

[include]
files=missing.conf
";

#[test]
fn every_error_is_reported_with_its_line_and_nothing_starts() {
    let dir = TempDir::new("ini-bad");
    let ini = write(&dir.0, "supervisord.conf", BAD);
    let (code, _, stderr) = run_taskmaster(&["--check".as_ref(), "-c".as_ref(), ini.as_os_str()]);
    assert_eq!(code, 2, "{stderr}");
    let file = ini.display().to_string();
    for (line, what) in [
        (3, "logfile_maxbytes"),
        (6, "'nope', which cannot be expanded"),
        (7, "autostart"),
        (8, "stopsignal"),
        (12, "umask"),
        (14, "[eventlistener:x] is not supported by taskmaster"),
        (17, "unknown section"),
        (21, "missing.conf"),
    ] {
        let prefix = format!("{file}:{line}: ");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(what)),
            "no error `{what}` at line {line} in:\n{stderr}"
        );
    }

    // The daemon refuses it the same way, and runs nothing.
    let (code, _, stderr) =
        run_taskmaster(&["--no-shell".as_ref(), "-c".as_ref(), ini.as_os_str()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown section"), "{stderr}");
    assert!(!dir.path("started").exists(), "nothing was started");
}

#[test]
fn unsupported_options_that_change_nothing_are_warnings() {
    let ini = format!(
        "{SUPERVISORD}pidfile=/tmp/never-written.pid\nloglevel=debug\n\n[program:w]\ncommand=TESTPROG sleep\nstdout_events_enabled=true\nstdout_logfile=NONE\nstderr_logfile=NONE\n"
    );
    let dir = TempDir::new("ini-warn");
    let path = write(&dir.0, "supervisord.conf", &ini);
    let (code, out, stderr) =
        run_taskmaster(&["--check".as_ref(), "-c".as_ref(), path.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("OK (1 programs)"), "{out}");
    let file = path.display().to_string();
    for (line, option) in [
        (5, "pidfile"),
        (6, "loglevel"),
        (10, "stdout_events_enabled"),
    ] {
        let expected = format!("warning: {file}:{line}: ");
        assert!(
            stderr.lines().any(|l| l.starts_with(&expected)
                && l.contains(option)
                && l.contains("not supported by taskmaster")),
            "no warning for {option} on line {line}:\n{stderr}"
        );
    }
    // And the daemon runs it.
    let mut d = start_ini("ini-warn-run", &ini, &[]);
    d.wait_state("w", "RUNNING", secs(10.0));
    assert_eq!(d.finish(secs(20.0)), 0);
}
