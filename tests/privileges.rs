//! `user:` (README: Security): as root, a program runs with the user's uid, gid and groups,
//! and its output file, opened by taskmaster before the drop, keeps working.
//! Not root: naming another user is a config error.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn program_runs_as_nobody_with_nobodys_groups() {
    if !is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .expect("a nobody user");
    let drop = TempDir::new("priv-drop");
    std::fs::set_permissions(&drop.0, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let report = drop.path("report.json");
    let mut d = Daemon::start(
        "priv",
        &format!(
            "programs:\n  low:\n    cmd: TESTPROG report {}\n    user: nobody\n    starttime: 0\n    stdout: low.out\n  mine:\n    cmd: TESTPROG print hello\n    starttime: 0\n    stdout: low.out\n",
            report.display()
        ),
    );
    d.wait_state("low", "RUNNING", secs(10.0));
    let text = wait_for("the report", secs(10.0), || {
        std::fs::read_to_string(&report).ok()
    });
    let r: serde_json::Value = serde_json::from_str(&text).expect("report is JSON");
    assert_eq!(r["uid"], nobody.uid.as_raw());
    assert_eq!(r["gid"], nobody.gid.as_raw());
    let groups: Vec<u64> = r["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g.as_u64())
        .collect();
    assert!(
        groups.iter().all(|&g| g == u64::from(nobody.gid.as_raw())),
        "groups {groups:?}"
    );
    assert_eq!(r["fds"], serde_json::json!([0, 1, 2]));
    // The output file was opened by taskmaster (root) before the drop: still written.
    let out = d.path("low.out");
    wait_for("root-owned output file written", secs(10.0), || {
        read(&out).contains("hello").then_some(())
    });
    assert_eq!(
        std::fs::metadata(&out)
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .ok(),
        Some(0)
    );
    assert_eq!(d.finish(secs(20.0)), 0);
}

#[test]
fn unknown_user_is_a_config_error() {
    let dir = TempDir::new("priv-bad");
    let config = dir.path("taskmaster.yaml");
    std::fs::write(
        &config,
        "programs:\n  x:\n    cmd: sleep 1\n    user: no-such-user-here\n",
    )
    .expect("write");
    let out = std::process::Command::new(TASKMASTER)
        .arg("--check")
        .arg("-c")
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("programs.x.user") && err.contains(":4:"),
        "{err}"
    );
}
