//! Invalid files, by every route, change nothing.

use super::{config, ctl, names_file_and_line, prog, reload, snapshot, wait_running, write_config};
use crate::common::*;

// ---- 7. invalid configs ---------------------------------------------------------------

#[test]
fn invalid_config_changes_nothing() {
    let keep = prog("keep", &["cmd: TESTPROG sleep"]);
    let pool = prog("pool", &["cmd: TESTPROG sleep", "numprocs: 2"]);
    let good = config(&[keep.clone(), pool.clone()]);
    let mut d = Daemon::start("reload-invalid", &good);
    wait_running(&mut d, &["keep", "pool:0", "pool:1"], secs(10.0));
    let before = snapshot(&mut d);
    const FAILED: &str = "ERROR (reload failed; nothing changed)";

    // An unknown field (with valid changes beside it: none may be applied).
    let typo = config(&[
        prog("keep", &["cmd: TESTPROG sleep", "numprocs: 3"]),
        prog("extra", &["cmdd: TESTPROG sleep"]),
    ]);
    write_config(&d, &typo);
    let reply = reload(&mut d);
    assert_eq!(reply.first().map(String::as_str), Some(FAILED), "{reply:?}");
    assert!(names_file_and_line(&reply, &d.config), "{reply:?}");
    assert!(reply.iter().any(|l| l.contains("cmdd")), "{reply:?}");
    assert_eq!(snapshot(&mut d), before);

    // A YAML syntax error.
    write_config(
        &d,
        "programs:\n  keep:\n    cmd: [TESTPROG sleep\n    numprocs: 2\n",
    );
    let reply = reload(&mut d);
    assert_eq!(reply.first().map(String::as_str), Some(FAILED), "{reply:?}");
    assert!(names_file_and_line(&reply, &d.config), "{reply:?}");
    assert_eq!(snapshot(&mut d), before);

    // The file deleted; the socket transport reports exit 1.
    std::fs::remove_file(&d.config).expect("delete config");
    let reply = reload(&mut d);
    assert_eq!(reply.first().map(String::as_str), Some(FAILED), "{reply:?}");
    let config_path = d.config.display().to_string();
    assert!(reply.iter().any(|l| l.contains(&config_path)), "{reply:?}");
    let over_socket = ctl(&d, "reload", &[]);
    assert_eq!(over_socket["exit"], 1, "{over_socket}");
    assert_eq!(over_socket["ok"], false, "{over_socket}");
    assert!(
        over_socket["output"]
            .as_str()
            .unwrap_or("")
            .starts_with(FAILED),
        "{over_socket}"
    );
    assert_eq!(snapshot(&mut d), before);

    // Unreadable (a directory at its path: even root cannot read that as a file).
    std::fs::create_dir(&d.config).expect("directory at the config path");
    let reply = reload(&mut d);
    assert_eq!(reply.first().map(String::as_str), Some(FAILED), "{reply:?}");
    assert!(reply.iter().any(|l| l.contains(&config_path)), "{reply:?}");
    assert_eq!(snapshot(&mut d), before);
    std::fs::remove_dir(&d.config).expect("remove the directory");

    // SIGHUP with an invalid file: logged, nothing changed.
    write_config(&d, &typo);
    d.signal(1);
    d.wait_log(
        "a failed SIGHUP reload in the event log",
        secs(10.0),
        |log| log.contains("reload after SIGHUP failed") && log.contains("reload failed"),
    );
    assert_eq!(snapshot(&mut d), before);
    assert!(alive(d.pid()));

    // And the daemon still reloads a good file afterwards.
    write_config(
        &d,
        &config(&[keep, pool, prog("web", &["cmd: TESTPROG sleep"])]),
    );
    assert_eq!(reload(&mut d), ["web: added"]);
    let after = wait_running(&mut d, &["keep", "pool:0", "pool:1", "web"], secs(10.0));
    for (name, (_, p)) in &before {
        assert_eq!(Some(after[name]), *p, "{name} changed pid");
    }
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn output_in_a_missing_directory_refuses_the_reload() {
    let keep = prog("keep", &["cmd: TESTPROG sleep", "stdout: DIR/keep.out"]);
    let mut d = Daemon::start("reload-nodir", &config(&[keep]));
    wait_running(&mut d, &["keep"], secs(10.0));
    let before = snapshot(&mut d);

    // The stdout moves into a directory that does not exist, and a program is added.
    let moved = config(&[
        prog(
            "keep",
            &["cmd: TESTPROG sleep", "stdout: DIR/logs/keep.out"],
        ),
        prog("extra", &["cmd: TESTPROG sleep"]),
    ]);
    write_config(&d, &moved);
    let reply = reload(&mut d);
    assert_eq!(
        reply.first().map(String::as_str),
        Some("ERROR (reload failed; nothing changed)"),
        "{reply:?}"
    );
    let missing = d.path("logs");
    let said = format!("its directory {} does not exist", missing.display());
    assert!(
        reply
            .iter()
            .any(|l| l.contains("programs.keep.stdout") && l.contains(&said)),
        "{reply:?}"
    );
    assert!(names_file_and_line(&reply, &d.config), "{reply:?}");
    assert_eq!(snapshot(&mut d), before);
    assert!(!missing.exists(), "no directory may be created");
    assert_eq!(d.finish(secs(20.0)), 0);
}
