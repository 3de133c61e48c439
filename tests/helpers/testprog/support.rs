//! What every mode shares: a line on stdout that exits 3 when stdout is unusable,
//! sleeping until killed, the time of day, and files readers never see half-written.

use nix::unistd;
use std::fs;
use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Writes `line` and a newline to stdout and flushes; exits 3 if stdout is unusable.
pub fn say(line: &str) {
    let mut out = io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(3);
    }
}

pub fn sleep_forever() -> ! {
    loop {
        unistd::pause();
    }
}

pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// Writes `path.tmp`, then renames it over `path`, so readers never see a partial file.
pub fn write_atomically(path: &str, contents: &str) -> Result<(), String> {
    let tmp = format!("{path}.tmp");
    fs::write(&tmp, contents).map_err(|e| format!("write {tmp}: {e}"))?;
    fs::rename(&tmp, path).map_err(|e| format!("rename {tmp} -> {path}: {e}"))
}
