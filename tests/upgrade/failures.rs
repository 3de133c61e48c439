//! Upgrades that do not happen: each leaves the daemon running as it was — same
//! processes, watchers and pumps going on, no descriptor left inheritable — and
//! the request is answered with why.

use std::os::unix::fs::PermissionsExt;

use super::{inherited_fds, lasting, upgrade};
use crate::common::*;

const TWO: &str = "programs:
  sleeper:
    cmd: TESTPROG sleep
    numprocs: 2
    starttime: 0
  talker:
    cmd: TESTPROG chatty
    starttime: 0
    stdout: DIR/talker.out
";

/// The daemon still works after a refused upgrade: same status, output still
/// flows, a restart still restarts (its watchers are not left parked).
fn still_works(d: &mut Daemon, before: &[serde_json::Value]) {
    assert_eq!(lasting(&d.status()), lasting(before));
    assert_eq!(inherited_fds(d.pid()), Vec::<String>::new());
    let size = |d: &Daemon| std::fs::metadata(d.path("talker.out")).map_or(0, |m| m.len());
    let talked = size(d);
    wait_for("the talker's output to grow", secs(10.0), || {
        (size(d) > talked).then_some(())
    });
    d.command_expect("restart sleeper:0", "sleeper:0: started", secs(20.0));
}

fn refused(d: &Daemon, binary: &std::path::Path, why: &str) {
    let out = upgrade(&d.socket(), Some(binary));
    assert_eq!(out.code, 1, "{out:?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("upgrade failed") && text.contains(why) && text.contains("goes on unchanged"),
        "expected {why:?} in {text:?}"
    );
}

#[test]
fn a_missing_or_unfit_binary_is_refused_and_the_daemon_goes_on() {
    let mut d = Daemon::start("upgrade-refused", TWO);
    d.wait_state("talker", "RUNNING", secs(10.0));
    d.wait_state("sleeper:1", "RUNNING", secs(10.0));
    let before = d.status();
    refused(&d, &d.path("no-such-binary"), "cannot run");
    let plain = d.path("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    refused(&d, &plain, "cannot run");
    // A program that is no taskmaster (it answers nothing about hand-overs).
    refused(
        &d,
        std::path::Path::new("/bin/true"),
        "cannot read this daemon's hand-over",
    );
    // A taskmaster that reads only a hand-over of another schema.
    let other = d.path("other-schema");
    std::fs::write(&other, "#!/bin/sh\necho 'upgrade-record-schemas: 99'\n").expect("write");
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    refused(&d, &other, "it reads [99]");
    still_works(&mut d, &before);
    let out = super::super::control::support::ctl(&d.socket(), &["upgrade", "a", "b"]);
    assert_eq!(out.code, 2, "{out:?}");
    d.finish(secs(20.0));
}

#[test]
fn a_changed_configuration_file_is_refused_until_reloaded() {
    let mut d = Daemon::start("upgrade-changed", TWO);
    d.wait_state("talker", "RUNNING", secs(10.0));
    let before = d.status();
    let text = std::fs::read_to_string(&d.config).expect("config");
    std::fs::write(&d.config, text.replace("numprocs: 2", "numprocs: 3")).expect("config");
    let out = upgrade(&d.socket(), None);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("reload it first"), "{out:?}");
    still_works(&mut d, &before);
    d.finish(secs(20.0));
}

/// `execve` itself failing (a failpoint of debug builds: every binary that
/// passes the check executes) after the watchers and pumps stopped: they go on,
/// and every descriptor is close-on-exec again.
#[test]
fn a_failed_exec_is_taken_back() {
    let mut d = Daemon::start_with("upgrade-exec-fails", TWO, |c| {
        c.env("TASKMASTER_TEST_UPGRADE_EXEC_FAILS", "1");
    });
    d.wait_state("talker", "RUNNING", secs(10.0));
    d.wait_state("sleeper:1", "RUNNING", secs(10.0));
    let before = d.status();
    let out = upgrade(&d.socket(), None);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("cannot execute") && out.stdout.contains("goes on unchanged"),
        "{out:?}"
    );
    still_works(&mut d, &before);
    d.finish(secs(20.0));
}

/// A new binary that starts but refuses the record it was handed (a failpoint of
/// debug builds: the check before the exec rules that out) starts as after a
/// crash: same daemon pid, the old process still running and named, not
/// started twice, and `stop` still stops it.
#[test]
fn a_new_binary_that_cannot_resume_starts_as_after_a_crash() {
    let mut d = Daemon::start_with(
        "upgrade-no-resume",
        "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n",
        |c| {
            c.env("TASKMASTER_TEST_RESUME_FAILS", "1");
        },
    );
    let old = d.wait_state("sleeper", "RUNNING", secs(10.0))["pid"]
        .as_i64()
        .expect("pid") as i32;
    let out = upgrade(&d.socket(), None);
    assert_ne!(out.code, 0, "no answer comes: {out:?}");
    let i = poll_until(secs(20.0), std::time::Duration::from_millis(20), || {
        let i = d.instance("sleeper");
        let said = i["description"].as_str().unwrap_or_default().to_string();
        said.contains(&format!("pid {old} of a previous run"))
            .then_some(i)
    })
    .expect("the old process named as a previous run's");
    assert_eq!(i["state"], "STOPPED", "{i}");
    assert!(alive(old));
    // (The old spawn helper, whose pid was in the refused record, stays a zombie.)
    let live: Vec<i32> = (program_children_of(d.pid()).into_iter())
        .filter(|&p| !zombie(p))
        .collect();
    assert_eq!(live, vec![old]);
    d.command_expect(
        "stop sleeper",
        &format!("sleeper: stopped (pid {old} of a previous run)"),
        secs(20.0),
    );
    // Gone, and reaped: no zombie of it is left behind.
    let proc_entry = std::path::PathBuf::from(format!("/proc/{old}"));
    wait_for("the old process reaped", secs(10.0), || {
        (!proc_entry.exists()).then_some(())
    });
    d.finish(secs(20.0));
}
