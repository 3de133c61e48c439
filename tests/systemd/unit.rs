//! The unit file in docs/ (README: Under systemd), read by systemd's own checker.

use crate::common::*;
use std::process::Command;

/// `systemd-analyze` (installed by `scripts/systemd-analyze`), or why there is none.
fn systemd_analyze() -> Result<String, String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/systemd-analyze");
    let out = Command::new(script).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn the_unit_file_in_docs_is_one_systemd_reads_without_a_complaint() {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/taskmaster.service"),
    )
    .expect("docs/taskmaster.service");
    // What the README says it is.
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=mixed",
        "WatchdogSec=30",
        "Restart=on-failure",
    ] {
        assert!(unit.lines().any(|l| l == line), "no {line} in the unit");
    }
    let analyze = match systemd_analyze() {
        Ok(path) => path,
        Err(why) => {
            eprintln!("skipped: the unit file is not checked by systemd-analyze: {why}");
            return;
        }
    };
    // systemd checks that ExecStart names an executable: the one built here.
    let dir = TempDir::new("systemd-unit");
    let path = dir.path("taskmaster.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/taskmaster", TASKMASTER)).expect("write");
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze verify");
    let said = String::from_utf8_lossy(&out.stderr);
    let complaints: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("taskmaster.service"))
        .collect();
    assert!(out.status.success() && complaints.is_empty(), "{said}");
}
