//! `maintail [-f] [-N]`: the end of taskmaster's own event log — the last N bytes
//! of its file (1600 unless told, as supervisorctl), from the start of a line;
//! `-f` then follows the lines as they are written (the log's followers, see
//! `eventlog/followers.rs`), until the client ends it.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use super::{Continuation, Reply};
use crate::supervisor::Supervisor;

/// supervisorctl's default.
const DEFAULT_BYTES: u64 = 1600;
/// The most one reply carries (a reply is one line in memory, on both sides).
pub const MAX_BYTES: u64 = 1 << 20;

const USAGE: &str = "maintail [-f] [-N]";

pub fn maintail(sup: &Arc<Supervisor>, args: &[String]) -> Reply {
    let mut follow = false;
    let mut bytes = None;
    for arg in args {
        match arg.strip_prefix('-') {
            Some("f") if !follow => follow = true,
            Some(n)
                if bytes.is_none() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
            {
                match n.parse::<u64>() {
                    Ok(n) if n <= MAX_BYTES => bytes = Some(n),
                    _ => {
                        return Reply::usage(format!(
                            "Error: {arg}: at most -{MAX_BYTES} bytes ({USAGE})"
                        ))
                    }
                }
            }
            _ => return Reply::usage(format!("Error: bad argument {arg} ({USAGE})")),
        }
    }
    let path = sup.config().daemon.logfile.clone();
    let text = match last_bytes(&path, bytes.unwrap_or(DEFAULT_BYTES)) {
        Ok(text) => text,
        Err(e) => return Reply::error(format!("taskmaster: ERROR ({}: {e})", path.display())),
    };
    let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
    match follow {
        true => Reply::then(text, Continuation::FollowLog),
        false => Reply::ok(text),
    }
}

/// The last `n` bytes of the file, starting after the first newline in them
/// unless they begin the file (a line cut in two is left out; a single line
/// longer than `n` is shown cut).
fn last_bytes(path: &Path, n: u64) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking: a FIFO put at the path must not hold the command forever.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let len = meta.len();
    let from = len.saturating_sub(n);
    file.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::with_capacity(n.min(len) as usize);
    file.take(n).read_to_end(&mut buf)?;
    let start = match from {
        0 => 0,
        _ => match buf.iter().position(|&b| b == b'\n') {
            Some(i) if i + 1 < buf.len() => i + 1,
            _ => 0,
        },
    };
    Ok(String::from_utf8_lossy(&buf[start..]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_bytes_start_at_a_line() {
        let dir = std::env::temp_dir().join(format!("tm-maintail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        std::fs::write(&path, "first line\nsecond line\nthird\n").unwrap();
        assert_eq!(
            last_bytes(&path, 1600).unwrap(),
            "first line\nsecond line\nthird\n"
        );
        assert_eq!(last_bytes(&path, 10).unwrap(), "third\n");
        assert_eq!(last_bytes(&path, 4).unwrap(), "ird\n");
        assert_eq!(last_bytes(&path, 0).unwrap(), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
