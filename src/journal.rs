//! The children journal: which processes this taskmaster has running, on disk, so
//! that a run ended by SIGKILL (or a crash) is noticed by the next one.
//!
//! When taskmaster dies without its shutdown, its children keep running, reparented
//! to init: nobody restarts, stops or reaps them any more. The next taskmaster on
//! the same socket reads the journal and reports every such process still alive
//! (matching pid *and* start time, so a recycled pid is not mistaken for one), and
//! does not autostart the instances they belong to — no silent duplicates.
//!
//! The file is append-only (`+ PID START NAME` at spawn, `- PID` at reap; one
//! `O_APPEND` write per line), compacted now and then, and removed by a clean
//! shutdown.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use parking_lot::Mutex;

struct Journal {
    path: PathBuf,
    file: File,
    /// pid → (start time, instance name) of the children alive now.
    live: HashMap<i32, (u64, String)>,
    lines: usize,
}

static JOURNAL: OnceLock<Mutex<Journal>> = OnceLock::new();

/// A process of a previous run that is still alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub pid: i32,
    pub name: String,
}

/// The kernel's start time of `pid` (clock ticks since boot), to tell a process
/// from a later one that got the same pid; `None` when it is gone or a zombie.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (the state); the start time is field 22.
    let mut fields = rest.split_whitespace();
    if matches!(fields.next(), Some("Z") | Some("X")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Reads what a previous run left (if anything) and starts this run's journal at
/// `path`. Returns the previous run's processes that are still alive.
pub fn open(path: &Path) -> std::io::Result<Vec<Leftover>> {
    let planted = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let previous = if planted {
        Err(std::io::ErrorKind::InvalidData.into())
    } else {
        std::fs::read_to_string(path)
    };
    let leftovers = match previous {
        Ok(text) => replay(&text)
            .into_iter()
            .filter(|(pid, (start, _))| start_time(*pid) == Some(*start))
            .map(|(pid, (_, name))| Leftover { pid, name })
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .custom_flags_cloexec()
        .open(path)?;
    file.write_all(format!("# taskmaster {}\n", std::process::id()).as_bytes())?;
    let _ = JOURNAL.set(Mutex::new(Journal {
        path: path.to_path_buf(),
        file,
        live: HashMap::new(),
        lines: 1,
    }));
    let mut sorted = leftovers;
    sorted.sort_by(|a: &Leftover, b| a.name.cmp(&b.name));
    Ok(sorted)
}

fn replay(text: &str) -> HashMap<i32, (u64, String)> {
    let mut live = HashMap::new();
    for line in text.lines() {
        let mut words = line.splitn(4, ' ');
        match (
            words.next(),
            words.next().and_then(|p| p.parse::<i32>().ok()),
        ) {
            (Some("+"), Some(pid)) => {
                if let (Some(Ok(start)), Some(name)) =
                    (words.next().map(str::parse::<u64>), words.next())
                {
                    live.insert(pid, (start, name.to_string()));
                }
            }
            (Some("-"), Some(pid)) => {
                live.remove(&pid);
            }
            _ => {}
        }
    }
    live
}

/// Records a new child.
pub fn spawned(pid: i32, name: &str) {
    let Some(journal) = JOURNAL.get() else { return };
    let start = start_time(pid).unwrap_or(0);
    let mut j = journal.lock();
    j.live.insert(pid, (start, name.to_string()));
    j.append(&format!("+ {pid} {start} {name}\n"));
}

/// Records a reaped child.
pub fn exited(pid: i32) {
    let Some(journal) = JOURNAL.get() else { return };
    let mut j = journal.lock();
    if j.live.remove(&pid).is_some() {
        j.append(&format!("- {pid}\n"));
    }
}

/// A clean shutdown: nothing of ours is left running.
pub fn close() {
    if let Some(journal) = JOURNAL.get() {
        let _ = std::fs::remove_file(&journal.lock().path);
    }
}

impl Journal {
    fn append(&mut self, line: &str) {
        // A failing journal must never disturb supervision: it is advice for the
        // next run, nothing more.
        let _ = self.file.write_all(line.as_bytes());
        self.lines += 1;
        if self.lines > 4 * self.live.len() + 4096 {
            self.compact();
        }
    }

    /// Rewrites the file with only the live children (tmp + rename).
    fn compact(&mut self) {
        let tmp = self.path.with_extension("compact");
        let mut text = format!("# taskmaster {}\n", std::process::id());
        for (pid, (start, name)) in &self.live {
            text.push_str(&format!("+ {pid} {start} {name}\n"));
        }
        let reopened = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .custom_flags_cloexec()
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .and_then(|()| {
                OpenOptions::new()
                    .append(true)
                    .custom_flags_cloexec()
                    .open(&self.path)
            });
        if let Ok(file) = reopened {
            self.file = file;
            self.lines = self.live.len() + 1;
        }
    }
}

trait CloexecExt {
    fn custom_flags_cloexec(&mut self) -> &mut Self;
}

impl CloexecExt for OpenOptions {
    /// Close-on-exec, and never through a symlink: the journal is always our own
    /// file, and it may sit in a directory others can write to (a socket in /tmp).
    fn custom_flags_cloexec(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(nix::libc::O_CLOEXEC | nix::libc::O_NOFOLLOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_only_children_never_reaped() {
        let live =
            replay("# taskmaster 1\n+ 10 500 web\n+ 11 501 db:0\n- 10\n+ 12 502 a b\nbogus\n");
        assert_eq!(live.len(), 2);
        assert_eq!(live.get(&11), Some(&(501, "db:0".to_string())));
        assert_eq!(live.get(&12), Some(&(502, "a b".to_string())));
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let dir = std::env::temp_dir().join(format!("tm-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").expect("victim");
        let path = dir.join("tm.sock.children");
        std::os::unix::fs::symlink(&victim, &path).expect("symlink");
        assert!(open(&path).is_err());
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn our_own_start_time_is_readable() {
        assert!(start_time(std::process::id() as i32).is_some_and(|t| t > 0));
    }
}
