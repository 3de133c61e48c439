//! What the daemon refuses: `--check` and bad configs, the subject's example with its
//! missing binaries, and bad command lines.

use super::{check, run_taskmaster};
use crate::common::*;

// ---- 10. --check and bad configs --------------------------------------------------------------

#[test]
fn check_accepts_valid_and_rejects_invalid_configs() {
    let prog = testprog();
    let dir = TempDir::new("check");
    let good = dir.path("good.yaml");
    std::fs::write(
        &good,
        format!("programs:\n  web:\n    cmd: {prog} sleep\n    autorestart: always\n"),
    )
    .unwrap();
    let (code, _, err) = check(&good);
    assert_eq!(code, 0, "valid config; stderr: {err}");

    // Unknown field on line 4.
    let unknown = dir.path("unknown.yaml");
    std::fs::write(
        &unknown,
        format!("programs:\n  web:\n    cmd: {prog} sleep\n    autorestrt: always\n"),
    )
    .unwrap();
    let (code, _, err) = check(&unknown);
    assert_eq!(code, 2, "unknown field; stderr: {err}");
    assert!(
        err.contains(&format!("{}:4", unknown.display())),
        "names file:line: {err}"
    );
    assert!(
        err.contains("programs.web.autorestrt"),
        "names the field path: {err}"
    );

    // Bad value on line 4.
    let bad = dir.path("bad.yaml");
    std::fs::write(
        &bad,
        format!("programs:\n  web:\n    cmd: {prog} sleep\n    autorestart: maybe\n"),
    )
    .unwrap();
    let (code, _, err) = check(&bad);
    assert_eq!(code, 2, "bad value; stderr: {err}");
    assert!(
        err.contains(&format!("{}:4", bad.display())),
        "names file:line: {err}"
    );
    assert!(
        err.contains("programs.web.autorestart"),
        "names the field path: {err}"
    );

    let (code, _, err) = check(&dir.path("missing.yaml"));
    assert_eq!(code, 2, "missing file; stderr: {err}");
    assert!(!err.trim().is_empty(), "a missing file is reported");
}

#[test]
fn daemon_refuses_a_bad_config() {
    let prog = testprog();
    let dir = TempDir::new("badstart");
    let config = dir.path("taskmaster.yaml");
    let stamp = dir.path("started");
    std::fs::write(
        &config,
        format!(
            "programs:\n  web:\n    cmd: {prog} stamp {}\n    starttime: 0\n    autorestart: maybe\n",
            stamp.display()
        ),
    )
    .unwrap();
    let socket = dir.path("taskmaster.sock");
    let (code, _, err) = run_taskmaster(
        &[
            "-c".as_ref(),
            config.as_os_str(),
            "--socket".as_ref(),
            socket.as_os_str(),
        ],
        secs(20.0),
    );
    assert_eq!(code, 2, "bad config: exit 2; stderr: {err}");
    assert!(
        err.contains(&format!("{}:5", config.display())),
        "names file:line: {err}"
    );
    assert!(
        err.contains("programs.web.autorestart"),
        "names the field path: {err}"
    );
    assert!(!stamp.exists(), "nothing may be started on a bad config");
}

#[test]
fn files_in_missing_directories_are_config_errors_and_no_directory_is_made() {
    let prog = testprog();
    let dir = TempDir::new("check-nodir");
    let config = dir.path("taskmaster.yaml");
    let missing = dir.path("logs");
    // Beside them, an unknown dependency and a bad value: every error at once.
    std::fs::write(
        &config,
        format!(
            "taskmaster:\n  logfile: {m}/taskmaster.log\nprograms:\n  web:\n    cmd: {prog} sleep\n    \
             stdout: {m}/web.out\n    stderr: {m}/web.err\n    depends_on: nosuch\n    umask: 0o1777\n",
            m = missing.display()
        ),
    )
    .unwrap();
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "stderr: {err}");
    for (line, path) in [
        (2, "taskmaster.logfile"),
        (6, "programs.web.stdout"),
        (7, "programs.web.stderr"),
        (8, "programs.web.depends_on[0]"),
        (9, "programs.web.umask"),
    ] {
        assert!(
            err.contains(&format!("{}:{line}:", config.display())) && err.contains(path),
            "{path} on line {line}: {err}"
        );
    }
    let directory = format!("its directory {} does not exist", missing.display());
    assert_eq!(err.matches(&directory).count(), 3, "{err}");
    assert!(err.contains("found 0o1777"), "{err}");

    // The daemon refuses it the same way, and creates nothing.
    let socket = dir.path("taskmaster.sock");
    let (code, _, err) = run_taskmaster(
        &[
            "-c".as_ref(),
            config.as_os_str(),
            "--socket".as_ref(),
            socket.as_os_str(),
        ],
        secs(20.0),
    );
    assert_eq!(code, 2, "stderr: {err}");
    assert!(err.contains(&directory), "{err}");
    assert!(!missing.exists(), "no directory may be created");
}

// ---- 11. the subject's example config ---------------------------------------------------------

#[test]
fn subject_example_loads_and_fails_its_missing_binaries_cleanly() {
    let dir = TempDir::new("subject");
    let config = dir.path("subject.yaml");
    // shared/ sits beside the repository; the fuzz seeds keep an identical copy.
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = manifest.join("../shared/examples/subject.yaml");
    let source = if shared.exists() {
        shared
    } else {
        manifest.join("tests/fuzz-seeds/ok-subject.yaml")
    };
    std::fs::copy(&source, &config).expect("copy subject.yaml");
    let (code, _, err) = check(&config);
    assert_eq!(code, 0, "subject.yaml loads as written; stderr: {err}");

    let mut d = Daemon::start_in(dir, config);
    let mut names: Vec<String> = d
        .status()
        .iter()
        .map(|i| i["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..8).map(|k| format!("vogsphere:{k}")).collect();
    expected.push("ngnix".to_string());
    expected.sort();
    assert_eq!(names, expected);

    // startretries 3: backoff 1 + 2 + 3 s, then FATAL.
    for name in &expected {
        let i = d.wait_state(name, "FATAL", secs(30.0));
        let desc = i["description"].as_str().unwrap_or_default();
        assert!(
            desc.contains("can't find command"),
            "{name}: description {desc:?}"
        );
    }
    let log = d.log();
    assert!(log.contains("spawnerr"), "log:\n{log}");
    assert!(alive(d.pid()), "the daemon stays up");
    assert_eq!(d.status().len(), 9, "and keeps answering status");
    assert_eq!(d.finish(secs(20.0)), 0);
}

// ---- 13. bad command lines -------------------------------------------------------------------

#[test]
fn bad_command_lines_get_an_error_and_the_daemon_stays_up() {
    let mut d = Daemon::start(
        "badcmd",
        "programs:\n  s:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
    );
    let pid = d.wait_state("s", "RUNNING", secs(10.0))["pid"].clone();

    d.command_expect(
        "frobnicate the thing",
        "*** Unknown syntax: frobnicate the thing",
        secs(5.0),
    );

    let mark = d.mark();
    d.send("start");
    let line = d.wait_line(mark, "an error reply to a bare `start`", secs(5.0), |l| {
        !l.trim().is_empty()
    });
    assert!(
        line.to_lowercase().contains("error"),
        "`start` without a name: {line:?}"
    );

    assert!(alive(d.pid()), "the daemon stays up");
    let i = d.instance("s");
    assert_eq!(i["state"], "RUNNING", "nothing changed: {i}");
    assert_eq!(i["pid"], pid, "nothing changed: {i}");
    assert_eq!(d.finish(secs(20.0)), 0);
}

/// An empty or truncated file is refused by `--check` and at start (exit 2, one
/// message saying what to write); `programs: {}` is the explicit way to say none.
#[test]
fn an_empty_file_is_refused_and_programs_braces_is_not() {
    let dir = TempDir::new("check-empty");
    let empty = dir.path("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let (code, out, err) = check(&empty);
    assert_eq!(code, 2, "stdout: {out}; stderr: {err}");
    assert!(err.starts_with(&format!("{}:", empty.display())), "{err}");
    assert!(
        err.contains("no `programs`: an empty or truncated file? write `programs: {}` for none"),
        "{err}"
    );
    // At start too: nothing is created, the daemon exits 2 with the same message.
    let socket = dir.path("tm.sock");
    let (code, _, err) = run_taskmaster(
        &[
            "-c".as_ref(),
            empty.as_os_str(),
            "--no-shell".as_ref(),
            "--socket".as_ref(),
            socket.as_os_str(),
        ],
        secs(20.0),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no `programs`"), "{err}");
    assert!(!socket.exists());

    let none = dir.path("none.yaml");
    std::fs::write(&none, "programs: {}\n").unwrap();
    let (code, out, err) = check(&none);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.contains("OK (0 programs)"), "{out}");
}
