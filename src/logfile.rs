//! The event log's file appender: one `pwrite(2)` per line on an `O_APPEND` file,
//! rotated by size, with no lock anybody waits on.
//!
//! log4rs's own file appenders format and write each record under a mutex. When a
//! thousand watchers log at once (`stop all`, a shutdown) they queue on that mutex,
//! spinning and yielding, for a third of the daemon's CPU. Here each thread formats
//! its line in its own buffer and hands it to the kernel in one write, which
//! `O_APPEND` makes atomic with respect to every other writer: lines never
//! interleave, each is on disk (in the page cache) when `info!` returns — "flushed
//! per line" — and nobody waits for anybody.
//!
//! `pwrite`, not `write`: a `write` to a file that threads share takes the file's
//! position lock (`f_pos_lock`) even with `O_APPEND`, so the thousand writers
//! still queued, now inside the kernel (perf, `stop all`: `fdget_pos` → mutex).
//! `pwrite` does not touch the position, and on Linux it appends to an `O_APPEND`
//! file whatever offset it is given (a documented Linux exception, tested below:
//! `lines_go_after_what_the_file_already_holds`): the same atomic append,
//! without the lock.
//!
//! The file is behind a read-write lock: every write shares it (one atomic add),
//! and only three rare things take it alone. Rotation (`logfile_maxbytes`): before
//! a line would take the file past its size, it is renamed `.1` (older ones shift,
//! as for the programs' files) and a new one opened; with several writers at once
//! the size is approximate. A full disk (ENOSPC) or a failing one (EIO): a line
//! that did not go in is counted, a short write (the disk filled in the middle of a
//! line) is completed or cut back off the end, so lines are lost whole, never torn;
//! once a line goes in again it is preceded by one saying how many were lost.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use log::Record;
use parking_lot::RwLock;

use crate::config::Rotation;

#[derive(Debug)]
pub struct AppendOnlyLog {
    path: PathBuf,
    rotation: Rotation,
    /// Shared by every write; exclusive to rotate, repair a short write, or report
    /// lost lines.
    file: RwLock<File>,
    /// Bytes in the current file (approximate while writers race).
    size: AtomicU64,
    /// Lines lost to write errors since the last line that went in.
    lost: AtomicU64,
    /// Not a regular file: the daemon's own output as a pipe, a socket or a
    /// terminal (`/dev/stdout`). Those take no `pwrite` and have no size to
    /// rotate by: each line is one `write`, and they are never rotated.
    stream: bool,
}

impl AppendOnlyLog {
    /// Opens (creating it if needed) `path` for appending, never rotated. Its
    /// directory must exist: taskmaster never creates directories.
    pub fn open(path: &Path) -> std::io::Result<AppendOnlyLog> {
        Self::open_rotating(path, Rotation::default())
    }

    /// Opens `path` for appending, rotated per `rotation` (`maxbytes` 0: never).
    pub fn open_rotating(path: &Path, rotation: Rotation) -> std::io::Result<AppendOnlyLog> {
        let file = open_file(path)?;
        let meta = file.metadata()?;
        Ok(AppendOnlyLog {
            path: path.to_path_buf(),
            rotation,
            file: RwLock::new(file),
            size: AtomicU64::new(meta.len()),
            lost: AtomicU64::new(0),
            stream: !meta.file_type().is_file(),
        })
    }

    /// Appends one whole line, or nothing of it. Never fails: a line that cannot
    /// be written is counted and reported by the next one that can.
    pub fn write_line(&self, text: &str) {
        let len = text.len() as u64;
        if self.lost.load(Ordering::Relaxed) > 0 {
            self.report_lost();
        }
        let max = self.rotation.maxbytes;
        if max > 0 && !self.stream && self.size.load(Ordering::Relaxed).saturating_add(len) > max {
            self.rotate(len);
        }
        if self.stream {
            // One write, whole: a pipe takes a line up to 4 KiB at once.
            use std::io::Write;
            if (&*self.file.read()).write_all(text.as_bytes()).is_err() {
                self.lost.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let written = self.file.read().write_at(text.as_bytes(), 0);
        let whole = match written {
            Ok(n) if n == text.len() => true,
            Ok(0) | Err(_) => false,
            Ok(n) => {
                let file = self.file.write();
                repair(&file, &text.as_bytes()[..n], &text.as_bytes()[n..])
            }
        };
        if whole {
            self.size.fetch_add(len, Ordering::Relaxed);
        } else {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes the count of lost lines, if it still has to be (the file held alone).
    fn report_lost(&self) {
        let file = self.file.write();
        let lost = self.lost.load(Ordering::Relaxed);
        if lost == 0 {
            return;
        }
        let notice = format!(
            "{} WARN  event log: {lost} line{} lost (could not be written: disk full or failing)\n",
            crate::sys::time::timestamp(SystemTime::now()),
            if lost == 1 { "" } else { "s" }
        );
        let written = match self.stream {
            true => std::io::Write::write_all(&mut &*file, notice.as_bytes()).is_ok(),
            false => append_alone(&file, notice.as_bytes()),
        };
        if written {
            self.lost.fetch_sub(lost, Ordering::Relaxed);
            self.size.fetch_add(notice.len() as u64, Ordering::Relaxed);
        }
    }

    /// Renames the file away and starts a new one, unless another writer just did
    /// (or the file is empty: a line larger than the limit still goes in whole).
    /// A failure leaves the current file in use: it grows past its size rather
    /// than lose lines.
    fn rotate(&self, incoming: u64) {
        let mut file = self.file.write();
        let size = self.size.load(Ordering::Relaxed);
        if size == 0 || size.saturating_add(incoming) <= self.rotation.maxbytes {
            return;
        }
        let rotated = crate::output::files::rotate_files(&self.path, self.rotation.backups)
            .and_then(|()| open_file(&self.path));
        if let Ok(new) = rotated {
            *file = new;
            self.size.store(0, Ordering::Relaxed);
        }
    }

    /// Lines lost and not yet reported.
    pub fn lost_lines(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

/// Never a FIFO or a trap planted in a shared directory (see `safe_file`); read
/// access too, to check its own tail after a short write.
fn open_file(path: &Path) -> std::io::Result<File> {
    let nofollow = crate::output::in_shared_directory(path);
    crate::safe_file::open_for_writing(path, crate::safe_file::Mode::AppendRead, 0o666, nofollow)
}

/// A write while holding the file alone: whole, or nothing left of it.
fn append_alone(file: &File, bytes: &[u8]) -> bool {
    match file.write_at(bytes, 0) {
        Ok(n) if n == bytes.len() => true,
        Ok(0) | Err(_) => false,
        Ok(n) => repair(file, &bytes[..n], &bytes[n..]),
    }
}

/// After a short write of `piece` (the file held alone): if the file still ends
/// with it, the `rest` is tried once more, else the piece is cut off again.
/// Whether the line is now whole in the file.
fn repair(file: &File, piece: &[u8], rest: &[u8]) -> bool {
    let Ok(size) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    let Some(start) = size.checked_sub(piece.len() as u64) else {
        return false;
    };
    let mut tail = vec![0; piece.len()];
    if file.read_exact_at(&mut tail, start).is_err() || tail != piece {
        // Not ours at the end any more: nothing safe to do.
        return false;
    }
    if file.write_all_at(rest, 0).is_ok() {
        return true;
    }
    // `write_all_at` may itself have added a part: cut back to before the line.
    let _ = file.set_len(start);
    false
}

/// `YYYY-MM-DD HH:MM:SS.mmm LEVEL MESSAGE\n`, the level padded to five columns.
pub fn line(record: &Record, now: SystemTime) -> String {
    format!(
        "{} {:<5} {}\n",
        crate::sys::time::timestamp(now),
        record.level(),
        record.args()
    )
}

impl log4rs::append::Append for AppendOnlyLog {
    fn append(&self, record: &Record) -> anyhow::Result<()> {
        self.write_line(&line(record, SystemTime::now()));
        Ok(())
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use log::Level;
    use log4rs::append::Append;

    #[test]
    fn lines_have_the_stamp_the_level_and_the_message() {
        let args = format_args!("spawned: 'web' with pid 42");
        let record = Record::builder().args(args).level(Level::Info).build();
        let text = line(&record, SystemTime::now());
        let (stamp, rest) = text.split_at(23);
        assert_eq!(rest, " INFO  spawned: 'web' with pid 42\n");
        assert_eq!(stamp.len(), 23, "{stamp}");
        assert_eq!(&stamp[4..5], "-");
        assert_eq!(&stamp[19..20], ".");
    }

    #[test]
    fn lines_from_many_threads_never_interleave() {
        let dir = TempDir::new("logfile");
        let path = dir.path().join("events.log");
        let log = std::sync::Arc::new(AppendOnlyLog::open(&path).expect("open"));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        let msg = format!("thread {t} line {i} {}", "x".repeat(100));
                        let args = format_args!("{msg}");
                        let record = Record::builder().args(args).level(Level::Warn).build();
                        log.append(&record).expect("append");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("writer");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 8 * 500);
        for l in text.lines() {
            let whole = l.get(23..).is_some_and(|r| r.starts_with(" WARN  thread "))
                && l.matches("thread ").count() == 1
                && l.ends_with(&"x".repeat(100));
            assert!(whole, "a torn or merged line: {l:?}");
        }
    }

    #[test]
    fn a_missing_directory_is_an_error_not_created() {
        let dir = TempDir::new("logfile-nodir");
        let path = dir.path().join("sub").join("events.log");
        let error = AppendOnlyLog::open(&path).expect_err("no directory");
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        assert!(!dir.path().join("sub").exists());
    }

    #[test]
    fn lines_go_after_what_the_file_already_holds() {
        // pwrite at offset 0 must still append (O_APPEND), never overwrite.
        let dir = TempDir::new("logfile-keep");
        let path = dir.path().join("events.log");
        std::fs::write(&path, "an earlier run\n").expect("seed");
        let log = AppendOnlyLog::open(&path).expect("open");
        for msg in ["first", "second"] {
            let args = format_args!("{msg}");
            let record = Record::builder().args(args).level(Level::Info).build();
            log.append(&record).expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text:?}");
        assert_eq!(lines[0], "an earlier run");
        assert!(lines[1].ends_with(" INFO  first"), "{text:?}");
        assert!(lines[2].ends_with(" INFO  second"), "{text:?}");
    }

    #[test]
    fn rotates_before_a_line_would_pass_the_size_and_keeps_the_backups() {
        let dir = TempDir::new("logfile-rotate");
        let path = dir.path().join("events.log");
        let rotation = Rotation {
            maxbytes: 300,
            backups: 2,
        };
        let log = AppendOnlyLog::open_rotating(&path, rotation).expect("open");
        for i in 0..40 {
            log.write_line(&format!("line {i:03} {}\n", "z".repeat(40)));
        }
        let numbered = |n: u32| dir.path().join(format!("events.log.{n}"));
        assert!(numbered(1).exists() && numbered(2).exists());
        assert!(!numbered(3).exists(), "only two backups");
        let mut kept = Vec::new();
        for p in [numbered(2), numbered(1), path.clone()] {
            let text = std::fs::read_to_string(&p).expect("read");
            assert!(
                text.len() <= 300,
                "{} holds {} bytes",
                p.display(),
                text.len()
            );
            kept.extend(text.lines().map(str::to_string));
        }
        // The newest lines, in order, none torn.
        let last = kept.last().cloned().unwrap_or_default();
        assert!(last.starts_with("line 039 "), "{last}");
        for pair in kept.windows(2) {
            assert!(pair[0] < pair[1], "out of order: {pair:?}");
        }
    }

    /// A tmpfs of four pages, mounted for the test (root only; elsewhere the
    /// test says so and passes, CI runs as root). Unmounted on drop.
    struct SmallDisk(std::path::PathBuf);

    impl SmallDisk {
        fn mount(dir: &Path) -> Option<SmallDisk> {
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success());
            ok.then(|| SmallDisk(dir.to_path_buf()))
        }
    }

    impl Drop for SmallDisk {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }

    #[test]
    fn a_full_disk_loses_whole_lines_and_says_how_many() {
        let dir = TempDir::new("logfile-full");
        let Some(_disk) = SmallDisk::mount(dir.path()) else {
            eprintln!("skipped: cannot mount a tmpfs (not root?)");
            return;
        };
        let filler = dir.path().join("filler");
        std::fs::write(&filler, vec![b'x'; 8192]).expect("filler");
        let path = dir.path().join("events.log");
        let log = AppendOnlyLog::open(&path).expect("open");
        // Lines of 97 bytes never end on a page boundary: some writes are short.
        let mut written = 0;
        while log.lost_lines() < 5 {
            log.write_line(&format!("line {written:06} {}\n", "y".repeat(84)));
            written += 1;
            assert!(written < 10_000, "the disk never filled");
        }
        let kept = std::fs::read_to_string(&path).expect("read");
        assert!(kept.ends_with('\n'), "a torn last line");
        for l in kept.lines() {
            assert_eq!(l.len(), 96, "a torn line: {l:?}");
        }
        let lost = log.lost_lines();
        assert_eq!(kept.lines().count() as u64 + lost, written as u64);

        // Room again: the next line is preceded by the count of lost ones.
        std::fs::remove_file(&filler).expect("free the disk");
        log.write_line("after\n");
        let text = std::fs::read_to_string(&path).expect("read");
        let tail: Vec<&str> = text.lines().rev().take(2).collect();
        assert_eq!(tail[0], "after");
        assert!(
            tail[1].ends_with(&format!(
                "WARN  event log: {lost} lines lost (could not be written: disk full or failing)"
            )),
            "{:?}",
            tail[1]
        );
        assert_eq!(log.lost_lines(), 0);
    }
}
