//! Bad values, field by field: each reported at its line with what was found and
//! what is allowed — commands, program names, bounded names and sizes, daemon
//! settings, retries and backoff, rotation, `notify`, dependencies.

use super::errors::{errors, field, one, place};

#[test]
fn bad_cmd() {
    let e = one("programs:\n  a:\n    numprocs: 1\n");
    assert_eq!(place(&e), (2, 3, "programs.a"));
    assert!(e.message.contains("missing required field `cmd`"));
    let e = one("programs:\n  a:\n    cmd: \"\"\n");
    assert_eq!(place(&e), (3, 10, "programs.a.cmd"));
    assert!(e.message.contains("non-empty"));
    let e = one("programs:\n  a:\n    cmd: \"echo 'oops\"\n");
    assert!(e.message.contains("balanced quotes"));
    let e = one("programs:\n  a:\n    cmd:\n");
    assert!(
        e.message.starts_with("found an empty value (null)"),
        "{}",
        e.message
    );
    let e = one("programs:\n  a:\n");
    assert_eq!(e.path, "programs.a");
    assert!(e.message.contains("at least `cmd`"));
}

#[test]
fn bad_values_of_each_field() {
    let cases = [
        ("numprocs: 0", "expected an integer from 1 to 10000"),
        ("numprocs: two", "found \"two\""),
        ("autostart: yes", "expected true or false"),
        (
            "autorestart: sometimes",
            "one of: always, never, unexpected",
        ),
        ("exitcodes: 300", "found 300"),
        ("exitcodes: -1", "found -1"),
        ("exitcodes: {a: 1}", "or a list of them"),
        ("startretries: -1", "expected an integer ≥ 0"),
        ("starttime: -1", "a number of seconds ≥ 0"),
        ("stoptime: soon", "a number of seconds ≥ 0"),
        ("stopsignal: FOO", "a signal name"),
        ("stdout: [a]", "a file path"),
        ("stderr: /", "which is a directory"),
        ("env: [A=1]", "a mapping of variable names"),
        ("env: {A: null}", "write \"\" for an empty value"),
        ("env: {\"A=B\": 1}", "invalid environment variable name"),
        (
            "workingdir: /nonexistent-dir",
            "expected an existing directory",
        ),
        ("umask: 089", "octal umask"),
        ("umask: 01000", "octal umask"),
        ("umask: 0o1000", "octal umask"),
        ("umask: 8", "octal umask"),
        ("umask: 2.2", "octal umask"),
        ("pty: 1", "expected true or false"),
        (
            "numprocs: 1000000000",
            "found 1000000000, expected an integer from 1 to 10000",
        ),
        ("numprocs: 10001", "expected an integer from 1 to 10000"),
        (
            "numprocs: 99999999999999999999999999999999999999999",
            "an integer from 1 to 10000",
        ),
        ("stdout_backups: 1001", "expected an integer from 0 to 1000"),
        (
            "stderr_backups: 4294967295",
            "expected an integer from 0 to 1000",
        ),
        ("user: no-such-user-xyz", "no such user"),
        ("user: !custom x", "a value tagged `!custom`"),
    ];
    for (written, wanted) in cases {
        let e = field(written);
        assert_eq!(e.line, Some(4), "{written}: {e}");
        assert!(e.message.contains(wanted), "{written}: {e}");
    }
}

#[test]
fn bad_program_names() {
    for (name, wanted) in [
        ("all", "every program"),
        ("a:b", "no `:`"),
        ("\"a b\"", "whitespace"),
    ] {
        let e = one(&format!("programs:\n  {name}:\n    cmd: x\n"));
        assert_eq!((e.line, e.column), (Some(2), Some(3)), "{name}");
        assert!(e.message.contains(wanted), "{name}: {e}");
    }
}

#[test]
fn names_and_sizes_are_bounded() {
    let long = "n".repeat(65_533);
    // An explicit key (`? `): a plain one is limited to 1024 characters by YAML.
    let e = one(&format!("programs:\n  ? {long}\n  : {{cmd: x}}\n"));
    assert_eq!(e.line, Some(2));
    assert!(
        e.message.contains("65533 bytes long: at most 255"),
        "{}",
        e.message
    );
    // The path names it by its start: one error stays one short line.
    assert_eq!(e.path, format!("programs.{}…", "n".repeat(40)));
    assert!(e.to_string().len() < 200, "{e}");
    let at_limit = "n".repeat(255);
    assert!(
        super::ok(&format!("programs:\n  {at_limit}:\n    cmd: x\n"))
            .programs
            .contains_key(&at_limit)
    );
    let e = one("programs:\n  \"a\\u001b[2J\":\n    cmd: x\n");
    assert!(e.message.contains("control character"), "{}", e.message);
    for (text, path, wanted) in [
        (
            "tail_buffer: 16777217",
            "taskmaster.tail_buffer",
            "from 1 to 16777216",
        ),
        (
            "logfile_backups: 1001",
            "taskmaster.logfile_backups",
            "from 0 to 1000",
        ),
    ] {
        let e = one(&format!("taskmaster:\n  {text}\nprograms: {{}}\n"));
        assert_eq!(e.path, path);
        assert!(e.message.contains(wanted), "{}", e.message);
    }
    let c =
        super::ok("taskmaster:\n  tail_buffer: 16777216\n  logfile_backups: 1000\nprograms: {}\n");
    assert_eq!(c.daemon.tail_buffer, 16 << 20);
}

#[test]
fn bad_daemon_settings() {
    let all =
        errors("taskmaster:\n  tail_buffer: 0\n  detach_key: \"^^^\"\n  socket: 3\nprograms: {}\n");
    let paths: Vec<_> = all.iter().map(|e| (e.line, e.path.as_str())).collect();
    assert_eq!(
        paths,
        [
            (Some(2), "taskmaster.tail_buffer"),
            (Some(3), "taskmaster.detach_key"),
            (Some(4), "taskmaster.socket"),
        ]
    );
    assert!(one("taskmaster: 3\nprograms: {}\n")
        .message
        .contains("a mapping of daemon settings"));
    assert!(one("programs: [a]\n")
        .message
        .contains("a mapping of program names"));
}

#[test]
fn bad_backoff_and_retries() {
    for (field, path, needle) in [
        (
            "startretries: forever",
            "programs.p.startretries",
            "infinite",
        ),
        ("backoff: 3", "programs.p.backoff", "mapping"),
        (
            "backoff: {factor: 0.5}",
            "programs.p.backoff.factor",
            "from 1",
        ),
        (
            "backoff: {initial: 5, max: 2}",
            "programs.p.backoff.max",
            "≥ initial",
        ),
        (
            "backoff: {intial: 2}",
            "programs.p.backoff.intial",
            "did you mean `initial`",
        ),
    ] {
        let errs = errors(&format!("programs:\n  p:\n    cmd: x\n    {field}\n"));
        assert!(
            errs.iter()
                .any(|e| e.path == path && e.to_string().contains(needle) && e.line == Some(4)),
            "{field}: {errs:?}"
        );
    }
}

#[test]
fn bad_rotation_values() {
    for field in [
        "stdout_maxbytes: 1.5MB",
        "stdout_maxbytes: -1",
        "stdout_maxbytes: 10TB",
        "stdout_backups: many",
    ] {
        let errs = errors(&format!("programs:\n  p:\n    cmd: x\n    {field}\n"));
        let key = field.split(':').next().unwrap_or_default();
        assert!(
            errs.iter()
                .any(|e| e.path == format!("programs.p.{key}") && e.line == Some(4)),
            "{field}: {errs:?}"
        );
    }
}

#[test]
fn bad_notify_sections() {
    for (text, path) in [
        (
            "taskmaster:\n  notify: {events: [fatal]}\n",
            "taskmaster.notify",
        ),
        (
            "taskmaster:\n  notify: {cmd: logger, events: [fatal, explosion]}\n",
            "taskmaster.notify.events[1]",
        ),
        (
            "taskmaster:\n  notify: {cmd: logger, max_per_minute: 0}\n",
            "taskmaster.notify.max_per_minute",
        ),
        (
            "taskmaster:\n  notify: {cmd: logger, rate: 3}\n",
            "taskmaster.notify.rate",
        ),
    ] {
        let errs = errors(text);
        assert!(
            errs.iter().any(|e| e.path == path && e.line == Some(2)),
            "{text}: {errs:?}"
        );
    }
}

#[test]
fn bad_dependencies() {
    let errs = errors("programs:\n  a:\n    cmd: x\n    depends_on: [b]\n  b:\n    cmd: x\n    depends_on: [c]\n  c:\n    cmd: x\n    depends_on: [a]\n");
    assert!(
        errs.iter()
            .any(|e| e.path == "programs.a.depends_on" && e.message.contains("a -> b -> c -> a")),
        "{errs:?}"
    );
    let errs = errors("programs:\n  a:\n    cmd: x\n    depends_on: [nosuch]\n");
    assert!(
        errs.iter().any(|e| e.path == "programs.a.depends_on[0]"
            && e.message.contains("nosuch")
            && e.line == Some(4)),
        "{errs:?}"
    );
    let errs = errors("programs:\n  a:\n    cmd: x\n    depends_on: a\n");
    assert!(
        errs.iter().any(|e| e.message.contains("itself")),
        "{errs:?}"
    );
    let errs = errors("programs:\n  a:\n    cmd: x\n    priority: high\n");
    assert!(
        errs.iter().any(|e| e.path == "programs.a.priority"),
        "{errs:?}"
    );
}
