//! The children journal: which processes this taskmaster has running, on disk, so
//! that a run ended by SIGKILL (or a crash) is noticed by the next one.
//!
//! When taskmaster dies without its shutdown, its children keep running, reparented
//! to init: nobody restarts, stops or reaps them any more. The next taskmaster on
//! the same socket reads the journal and reports every such process still alive
//! (matching pid *and* identity, so a recycled pid is not mistaken for one), and
//! does not autostart the instances they belong to — no silent duplicates.
//!
//! The file is append-only (`+ PID IDENTITY NAME` at spawn; one `O_APPEND` write
//! per line), compacted now and then, and removed by a clean shutdown. (`- PID`
//! lines, written by earlier versions at reap, are still understood.)
//!
//! A previous run's process still alive stays in the journal of every later run
//! until it is gone, however many runs and crashes come in between: each run
//! copies the survivors it found into its own journal (and a clean shutdown keeps
//! a file with just them), so a third run after two crashes still knows the first
//! run's orphans.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::hub::{Event, Subscriber};
use crate::safe_file::Mode;

struct Journal {
    path: PathBuf,
    file: File,
    /// pid → (identity, instance name) of the children alive now.
    live: HashMap<i32, (String, String)>,
    /// Processes of earlier runs that were alive when this run began: carried
    /// over until they are gone.
    orphans: HashMap<i32, (String, String)>,
    lines: usize,
}

/// The journal of one daemon: a subscriber of the hub ([`crate::hub`]), writing
/// a line when a child is spawned (before its watcher publishes it) and
/// forgetting it when it is reaped. Does nothing until [`ChildrenJournal::open`].
#[derive(Default)]
pub struct ChildrenJournal {
    journal: OnceLock<Mutex<Journal>>,
}

impl Subscriber for ChildrenJournal {
    fn event(&self, event: &Event<'_>) {
        match *event {
            Event::Spawned { name, pid, pidfd } => self.spawned(pid, pidfd, name),
            Event::Reaped { pid, .. } => self.exited(pid),
            _ => {}
        }
    }
}

impl ChildrenJournal {
    /// Reads what a previous run left (if anything) and starts this run's journal at
    /// `path`. Returns the previous run's processes that are still alive.
    pub fn open(&self, path: &Path) -> std::io::Result<Vec<Leftover>> {
        // Not through a symlink, not a FIFO (which would block the start-up), and not
        // more than a journal of a huge run could hold.
        let previous = crate::safe_file::read_regular(path, JOURNAL_READ_LIMIT);
        let orphans: HashMap<i32, (String, String)> = match previous {
            Ok(text) => replay(&text)
                .into_iter()
                .filter(|(pid, (id, _))| current_identity(*pid).as_ref() == Some(id))
                .collect(),
            Err(_) => HashMap::new(),
        };
        let mut file = open_own(path, Mode::Truncate)?;
        // The survivors go first, in one write, so a crash of this run right away
        // still leaves them in the file.
        file.write_all(contents(&orphans, &HashMap::new()).as_bytes())?;
        let mut leftovers: Vec<Leftover> = orphans
            .iter()
            .map(|(&pid, (identity, name))| Leftover {
                pid,
                identity: identity.clone(),
                name: name.clone(),
            })
            .collect();
        leftovers.sort_by(|a, b| a.name.cmp(&b.name).then(a.pid.cmp(&b.pid)));
        let _ = self.journal.set(Mutex::new(Journal {
            path: path.to_path_buf(),
            file,
            live: HashMap::new(),
            lines: 1 + orphans.len(),
            orphans,
        }));
        Ok(leftovers)
    }

    /// Records a new child.
    fn spawned(&self, pid: i32, pidfd: BorrowedFd<'_>, name: &str) {
        let Some(journal) = self.journal.get() else {
            return;
        };
        let id = identity(pid, pidfd).unwrap_or_else(|| "unknown".to_string());
        let line = format!("+ {pid} {id} {name}\n");
        let mut j = journal.lock();
        // A process an upgrade in place handed over is this run's again.
        j.orphans.remove(&pid);
        j.live.insert(pid, (id, name.to_string()));
        j.append(&line);
    }

    /// Records a reaped child — in memory only: the next run checks every `+` line's
    /// identity anyway, so a reaped child's line matches nothing, and leaving out the
    /// `- PID` line spares a write under the journal's lock at every exit (a thousand
    /// at once in `stop all`). Compaction drops such lines.
    fn exited(&self, pid: i32) {
        let Some(journal) = self.journal.get() else {
            return;
        };
        journal.lock().live.remove(&pid);
    }

    /// A clean shutdown: nothing of ours is left running. Orphans of earlier runs
    /// that still live stay in the file, for the next run; with none, it is removed.
    pub fn close(&self) {
        let Some(journal) = self.journal.get() else {
            return;
        };
        let mut j = journal.lock();
        j.forget_dead_orphans();
        j.live.clear();
        if j.orphans.is_empty() {
            let _ = std::fs::remove_file(&j.path);
        } else {
            j.compact();
        }
    }

    /// The processes of earlier runs still alive that were instance `name`'s.
    pub fn orphans_of(&self, name: &str) -> Vec<i32> {
        let Some(journal) = self.journal.get() else {
            return Vec::new();
        };
        let mut pids: Vec<i32> = journal
            .lock()
            .orphans
            .iter()
            .filter(|(_, (_, n))| n == name)
            .map(|(&pid, _)| pid)
            .collect();
        pids.retain(|&pid| self.is_live_orphan(pid));
        pids.sort_unstable();
        pids
    }

    /// Stops an earlier run's process by its journal identity: `signal` (and SIGCONT)
    /// to it and its process group, SIGKILL after `grace`, then forgets it. Returns
    /// false, and signals nothing, when `pid` is not (or no longer) that process.
    pub fn stop_orphan(&self, pid: i32, signal: Signal, grace: Duration) -> bool {
        let Some(journal) = self.journal.get() else {
            return false;
        };
        let Some(known) = journal.lock().orphans.get(&pid).map(|(id, _)| id.clone()) else {
            return false;
        };
        let Ok(pidfd) = crate::sys::pidfd::pidfd_open(pid) else {
            return false;
        };
        let fd = std::os::fd::AsFd::as_fd(&pidfd);
        if crate::sys::pidfd::pidfd_exited(fd) || identity(pid, fd).as_ref() != Some(&known) {
            return false;
        }
        // The process checked through the pidfd we hold; it led its own group (every
        // child of taskmaster does), so the group goes with it.
        let group = |sig: Signal| {
            let _ = crate::sys::process_group::signal_group(pid, sig);
        };
        group(signal);
        group(Signal::SIGCONT);
        let deadline = Instant::now() + grace;
        while !crate::sys::pidfd::pidfd_exited(fd) && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            wait_readable(fd, left);
        }
        if !crate::sys::pidfd::pidfd_exited(fd) {
            group(Signal::SIGKILL);
            wait_readable(fd, Duration::from_secs(5));
        }
        journal.lock().orphans.remove(&pid);
        true
    }

    /// Whether `pid` is an earlier run's process still alive with the identity the
    /// journal knows it by (so a recycled pid is never taken for it).
    pub fn is_live_orphan(&self, pid: i32) -> bool {
        let Some(journal) = self.journal.get() else {
            return false;
        };
        let known = journal.lock().orphans.get(&pid).map(|(id, _)| id.clone());
        known.is_some_and(|id| current_identity(pid).as_ref() == Some(&id))
    }
}

/// The most of a previous journal read back (a line is under 300 bytes; a run of
/// a hundred thousand children, compacted, fits many times over).
const JOURNAL_READ_LIMIT: u64 = 256 << 20;

/// A process of a previous run that is still alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub pid: i32,
    /// What tells this process from a later one with the same pid (see `identity`).
    pub identity: String,
    pub name: String,
}

/// `statfs` type of pidfs, where every process's pidfd has an inode number of its
/// own that is never reused while the system runs (Linux 6.9+).
const PIDFS_MAGIC: nix::sys::statfs::FsType = nix::sys::statfs::FsType(0x5049_4446);

/// What tells the process behind `pidfd` from a later one that got the same pid:
/// `ino:N`, its pidfs inode number, or on older kernels `start:N`, its start time
/// in clock ticks since boot. The inode costs two `fstat`s; reading `/proc/PID`
/// would also leave dentries the kernel must flush when the child is reaped.
fn identity(pid: i32, pidfd: BorrowedFd<'_>) -> Option<String> {
    let on_pidfs =
        nix::sys::statfs::fstatfs(pidfd).is_ok_and(|fs| fs.filesystem_type() == PIDFS_MAGIC);
    let ino = match on_pidfs {
        true => nix::sys::stat::fstat(pidfd).ok().map(|st| st.st_ino),
        false => None,
    };
    match ino {
        Some(ino) => Some(format!("ino:{ino}")),
        None => start_time(pid).map(|t| format!("start:{t}")),
    }
}

/// The identity of `pid` now, if it is alive and not a zombie.
fn current_identity(pid: i32) -> Option<String> {
    let pidfd = crate::sys::pidfd::pidfd_open(pid).ok()?;
    let pidfd = std::os::fd::AsFd::as_fd(&pidfd);
    // Exited: it waits, as a zombie, for init to reap it.
    if crate::sys::pidfd::pidfd_exited(pidfd) {
        return None;
    }
    identity(pid, pidfd)
}

/// The kernel's start time of `pid` (clock ticks since boot); `None` when it is
/// gone or a zombie.
fn start_time(pid: i32) -> Option<u64> {
    crate::sys::proc_stat::read_stat(pid)
        .filter(|s| !s.exited())
        .map(|s| s.start_ticks)
}

/// The journal's text: a header, then a `+` line for every process listed.
fn contents(
    orphans: &HashMap<i32, (String, String)>,
    live: &HashMap<i32, (String, String)>,
) -> String {
    let mut text = format!("# taskmaster {}\n", std::process::id());
    for (pid, (id, name)) in orphans.iter().chain(live) {
        text.push_str(&format!("+ {pid} {id} {name}\n"));
    }
    text
}

fn replay(text: &str) -> HashMap<i32, (String, String)> {
    let mut live = HashMap::new();
    for line in text.lines() {
        let mut words = line.splitn(4, ' ');
        match (
            words.next(),
            words.next().and_then(|p| p.parse::<i32>().ok()),
        ) {
            (Some("+"), Some(pid)) => {
                if let (Some(id), Some(name)) = (words.next(), words.next()) {
                    live.insert(pid, (id.to_string(), name.to_string()));
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

/// Waits until `fd` is readable (a pidfd: its process exited) or `timeout`.
fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) {
    let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
}

impl Journal {
    fn append(&mut self, line: &str) {
        // A failing journal must never disturb supervision: it is advice for the
        // next run, nothing more.
        let _ = self.file.write_all(line.as_bytes());
        self.lines += 1;
        if self.lines > 4 * (self.live.len() + self.orphans.len()) + 4096 {
            self.compact();
        }
    }

    /// Drops the orphans that have exited (or whose pid now belongs to another
    /// process).
    fn forget_dead_orphans(&mut self) {
        self.orphans
            .retain(|pid, (id, _)| current_identity(*pid).as_ref() == Some(id));
    }

    /// Rewrites the file with only the live children and the orphans still alive
    /// (tmp + rename).
    fn compact(&mut self) {
        self.forget_dead_orphans();
        let tmp = self.path.with_extension("compact");
        let text = contents(&self.orphans, &self.live);
        let reopened = open_own(&tmp, Mode::Truncate)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .and_then(|()| open_own(&self.path, Mode::Append));
        if let Ok(file) = reopened {
            self.file = file;
            self.lines = self.live.len() + self.orphans.len() + 1;
        }
    }
}

/// The journal is always our own file, and it may sit in a directory others can
/// write to (a socket in /tmp): never through a symlink, never a FIFO, mode 0600.
fn open_own(path: &Path, mode: Mode) -> std::io::Result<File> {
    crate::safe_file::open_for_writing(path, mode, 0o600, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_keeps_only_children_never_reaped() {
        let live =
            replay("# taskmaster 1\n+ 10 ino:500 web\n+ 11 ino:501 db:0\n- 10\n+ 12 start:502 a b\nbogus\n");
        assert_eq!(live.len(), 2);
        let entry = |id: &str, name: &str| Some((id.to_string(), name.to_string()));
        assert_eq!(live.get(&11).cloned(), entry("ino:501", "db:0"));
        assert_eq!(live.get(&12).cloned(), entry("start:502", "a b"));
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let tmp = crate::testutil::TempDir::new("journal");
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, b"precious").expect("victim");
        let path = tmp.path().join("tm.sock.children");
        std::os::unix::fs::symlink(&victim, &path).expect("symlink");
        assert!(ChildrenJournal::default().open(&path).is_err());
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
    }

    #[test]
    fn our_own_start_time_is_readable() {
        assert!(start_time(std::process::id() as i32).is_some_and(|t| t > 0));
        let sleep = crate::testutil::OddlyNamedSleep::start();
        assert!(
            start_time(sleep.pid()).is_some_and(|t| t > 0),
            "a name not UTF-8"
        );
    }

    #[test]
    fn a_live_process_keeps_its_identity_and_a_reaped_one_has_none() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        let first = current_identity(pid).expect("identity of a live child");
        assert_eq!(current_identity(pid), Some(first.clone()), "stable");
        assert!(
            first.starts_with("ino:") || first.starts_with("start:"),
            "{first}"
        );
        let _ = child.kill();
        let _ = child.wait();
        assert_ne!(
            current_identity(pid),
            Some(first),
            "a reaped child matches no more"
        );
    }
}
