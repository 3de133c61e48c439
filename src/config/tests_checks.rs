//! What the daemon would trip on, caught by the check: dependency errors beside
//! the others, output and log files in missing directories, `syslog` values,
//! quoted booleans, umasks shown in octal.

use std::path::Path;

use super::super::load::parse_with;
use super::super::{AutoRestart, Config, ConfigError};
use super::{system, FILE};
use crate::testutil::TempDir;

fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
    parse_with(text, Path::new(FILE), &system()).map_err(|e| e.0)
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse(text) {
        Ok(config) => panic!("no error for:\n{text}\ngot {config:?}"),
        Err(errors) => errors,
    }
}

#[test]
fn dependency_errors_are_reported_with_every_other_error() {
    // An unknown dependency, beside a bad field in another program.
    let errs = errors(
        "programs:\n  a:\n    cmd: x\n    depends_on: [nosuch]\n  b:\n    cmd: x\n    numprocs: 0\n",
    );
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["programs.a.depends_on[0]", "programs.b.numprocs"],
        "{errs:?}"
    );
    // A cycle, beside a bad field in a program of the cycle and a bad daemon setting.
    let errs = errors(
        "taskmaster:\n  tail_buffer: 0\nprograms:\n  a:\n    cmd: x\n    depends_on: b\n    \
         umask: 8\n  b:\n    cmd: x\n    depends_on: a\n",
    );
    let messages: Vec<String> = errs
        .iter()
        .map(|e| format!("{}: {}", e.path, e.message))
        .collect();
    assert_eq!(errs.len(), 3, "{messages:#?}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("dependency cycle: a -> b -> a")),
        "{messages:#?}"
    );
    // A program whose own fields are wrong still counts as a known name.
    let errs = errors("programs:\n  a:\n    cmd: x\n    depends_on: b\n  b:\n    numprocs: 2\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].message.contains("missing required field `cmd`"));
}

#[test]
fn files_in_a_missing_directory_are_errors() {
    let dir = TempDir::new("config-nodir");
    let base = dir.path().display();
    for (text, path) in [
        (
            format!("taskmaster:\n  logfile: {base}/logs/taskmaster.log\nprograms: {{}}\n"),
            "taskmaster.logfile",
        ),
        (
            format!("programs:\n  p:\n    cmd: x\n    stdout: {base}/logs/p.out\n"),
            "programs.p.stdout",
        ),
        (
            format!("programs:\n  p:\n    cmd: x\n    stderr: {base}/logs/p.err\n"),
            "programs.p.stderr",
        ),
    ] {
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        let e = &errs[0];
        assert_eq!(e.path, path);
        assert!(
            e.message
                .contains(&format!("its directory {base}/logs does not exist"))
                && e.message.contains("does not create directories"),
            "{e}"
        );
        assert!(!dir.path().join("logs").exists());
    }
    // In a directory that exists: fine, and nothing is created by the check.
    let text = format!(
        "taskmaster:\n  logfile: {base}/t.log\nprograms:\n  p:\n    cmd: x\n    stdout: {base}/p.out\n"
    );
    assert!(parse(&text).is_ok());
    assert!(!dir.path().join("t.log").exists());
    // A file where the directory should be.
    std::fs::write(dir.path().join("plain"), "").unwrap();
    let errs = errors(&format!(
        "programs:\n  p:\n    cmd: x\n    stdout: {base}/plain/p.out\n"
    ));
    assert!(errs[0].message.contains("is not a directory"), "{errs:?}");
}

#[test]
fn a_fifo_at_a_file_taskmaster_writes_is_an_error() {
    let dir = TempDir::new("config-fifo");
    let base = dir.path().display();
    let fifo = dir.path().join("trap");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    for (text, path) in [
        (
            format!("taskmaster:\n  logfile: {base}/trap\nprograms: {{}}\n"),
            "taskmaster.logfile",
        ),
        (
            format!("programs:\n  p:\n    cmd: x\n    stdout: {base}/trap\n"),
            "programs.p.stdout",
        ),
        (
            format!("programs:\n  p:\n    cmd: x\n    stderr: {base}/trap\n"),
            "programs.p.stderr",
        ),
    ] {
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, path);
        assert!(errs[0].message.contains("a FIFO"), "{}", errs[0]);
    }
    // A device such as /dev/null is fine.
    assert!(parse("programs:\n  p:\n    cmd: x\n    stdout: /dev/null\n").is_ok());
}

#[test]
fn syslog_is_true_false_or_an_absolute_socket_path() {
    let syslog = |value: &str| {
        parse(&format!("taskmaster:\n  syslog: {value}\nprograms: {{}}\n")).map(|c| c.daemon.syslog)
    };
    assert_eq!(syslog("true"), Ok(Some("/dev/log".into())));
    assert_eq!(syslog("\"true\""), Ok(Some("/dev/log".into())));
    assert_eq!(syslog("false"), Ok(None));
    assert_eq!(syslog("\"False\""), Ok(None));
    assert_eq!(
        syslog("/run/systemd/journal/syslog"),
        Ok(Some("/run/systemd/journal/syslog".into()))
    );
    for bad in ["yes", "on", "dev/log", "1"] {
        let errs = syslog(bad).expect_err(bad);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "taskmaster.syslog");
        assert!(
            errs[0]
                .message
                .contains("expected true, false, or the absolute path of a syslog socket"),
            "{bad}: {}",
            errs[0]
        );
    }
}

#[test]
fn quoted_booleans_are_booleans() {
    let program = |fields: &str| {
        let text = format!("programs:\n  p:\n    cmd: x\n{fields}");
        parse(&text).map(|c| c.programs["p"].clone())
    };
    let p = program(
        "    autostart: \"false\"\n    autorestart: \"true\"\n    pty: 'true'\n    timestamps: \"TRUE\"\n",
    )
    .expect("quoted booleans");
    assert!(!p.policy.autostart);
    assert_eq!(p.policy.autorestart, AutoRestart::Always);
    assert!(p.launch.pty);
    assert!(p.launch.timestamps);
    let p = program("    autorestart: \"false\"\n").expect("quoted false");
    assert_eq!(p.policy.autorestart, AutoRestart::Never);
    // Only true and false: other words stay errors.
    let errs = program("    autostart: \"yes\"\n").expect_err("yes");
    assert!(
        errs[0].message.contains("expected true or false"),
        "{errs:?}"
    );
}

#[test]
fn umask_errors_show_the_value_in_octal() {
    for (written, shown) in [
        ("0o1777", "found 0o1777,"),
        ("0x3ff", "found 0o1777,"),
        ("\"1777\"", "found 0o1777,"),
        ("1000", "found 0o1000,"),
        ("8", "found 8,"),
        ("089", "found \"089\","),
    ] {
        let errs = errors(&format!(
            "programs:\n  p:\n    cmd: x\n    umask: {written}\n"
        ));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.starts_with(shown), "{written}: {}", errs[0]);
        assert!(errs[0].message.contains("at most 0777"), "{}", errs[0]);
    }
}

#[test]
fn only_a_regular_file_of_bounded_size_is_read() {
    use super::super::load;
    let dir = TempDir::new("config-file-kinds");
    let message = |path: &Path| match load(path) {
        Ok(config) => panic!("{} loaded: {config:?}", path.display()),
        Err(errors) => {
            assert_eq!(errors.len(), 1, "{errors}");
            errors.0[0].message.clone()
        }
    };
    // A FIFO with no writer: refused at once, not waited on.
    let fifo = dir.path().join("fifo.yaml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    assert!(message(&fifo).ends_with("not a regular file"));
    assert!(message(dir.path()).ends_with("not a regular file"));
    // Past 16 MiB: refused without reading on (a comment, so it would parse).
    let big = dir.path().join("big.yaml");
    let mut text = String::from("programs: {}\n#");
    text.push_str(&"x".repeat((16 << 20) - text.len()));
    std::fs::write(&big, &text).unwrap();
    assert_eq!(load(&big).map(|c| c.programs.len()), Ok(0));
    text.push('x');
    std::fs::write(&big, &text).unwrap();
    assert!(message(&big).contains("larger than 16 MiB"));
}
