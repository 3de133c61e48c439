//! Processes a test knows by the pid its program wrote to a file, and waits to see
//! reaped: the grandchildren of `reaper.rs` and the daemons of `pidfile.rs`.

use std::path::Path;

use super::{secs, wait_file, wait_for};

/// The pid written to `path`, once the line is whole (ends with a newline).
pub fn pid_from_file(path: &Path) -> i32 {
    let text = wait_file(path, secs(10.0), |t| t.ends_with('\n'));
    text.trim().parse().expect("a pid")
}

/// Gone for good: neither running nor a zombie waiting to be reaped.
pub fn reaped(pid: i32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits until `pid` is reaped; `what` says why it should be, for the timeout.
pub fn wait_reaped(pid: i32, what: &str) {
    wait_for(&format!("{what} (pid {pid})"), secs(15.0), || {
        reaped(pid).then_some(())
    });
}
