//! The daemon as a whole: what a child sees at exec (README: Process states, Security), shutdown by signal,
//! end of input or command (README: Command line; docs/ARCHITECTURE.md), scale, `--check` and bad configs (README: Command line,
//! §3), the subject's example config, pty children, and bad command lines.

mod checks;
mod exec;
mod shutdown;

use crate::common::*;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Writes the config (after `prepare` ran on the fresh temp dir) and starts the daemon.
pub fn start_prepared(tag: &str, yaml: &str, prepare: impl FnOnce(&Path)) -> Daemon {
    let dir = TempDir::new(tag);
    prepare(&dir.0);
    let config = write_config_file(&dir.0, yaml);
    Daemon::start_in(dir, config)
}

/// Waits for the JSON a `report FILE` child writes (atomically) and parses it.
pub fn wait_report(path: &Path) -> Value {
    wait_for(&format!("report {}", path.display()), secs(10.0), || {
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).expect("report is JSON"))
    })
}

/// Runs taskmaster with `args` and stdin closed, with a deadline; returns (code, stdout, stderr).
pub fn run_taskmaster(args: &[&std::ffi::OsStr], timeout: Duration) -> (i32, String, String) {
    let mut child = Command::new(TASKMASTER)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run taskmaster");
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let status = wait_for("taskmaster to exit", timeout, || {
        child.try_wait().expect("try_wait")
    });
    (
        status.code().unwrap_or(-1),
        out.join().expect("stdout reader"),
        err.join().expect("stderr reader"),
    )
}

pub fn check(config: &Path) -> (i32, String, String) {
    run_taskmaster(
        &["--check".as_ref(), "-c".as_ref(), config.as_os_str()],
        secs(20.0),
    )
}

/// Every pid of `status --json` (instances that have one).
pub fn pids(d: &mut Daemon) -> Vec<i32> {
    d.status()
        .iter()
        .filter_map(|i| i["pid"].as_i64())
        .map(|p| p as i32)
        .collect()
}

/// After the daemon exited: none of `pids` is alive, none is a zombie.
pub fn assert_all_gone(pids: &[i32]) {
    for &pid in pids {
        assert!(
            !alive(pid),
            "child {pid} is still alive after the daemon exited"
        );
        assert!(
            !zombie(pid),
            "child {pid} is a zombie after the daemon exited"
        );
    }
}

/// The signal numbers set in a `/proc/PID/status` mask (`SigBlk`, `SigIgn`: hex, bit
/// n-1 for signal n).
pub fn signals_in(mask: &Value) -> Vec<u32> {
    let hex = mask
        .as_str()
        .unwrap_or_else(|| panic!("signal mask is not a string: {mask}"));
    let bits =
        u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("signal mask is not hex: {hex}"));
    (1..=64).filter(|n| bits & (1u64 << (n - 1)) != 0).collect()
}

pub fn canonical(p: impl AsRef<Path>) -> PathBuf {
    std::fs::canonicalize(p.as_ref())
        .unwrap_or_else(|e| panic!("canonicalize {}: {e}", p.as_ref().display()))
}
