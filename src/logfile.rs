//! The event log's file appender when the log does not rotate: one `pwrite(2)` per
//! line on an `O_APPEND` file, with no lock.
//!
//! log4rs's own file appender formats and writes each record under a mutex. When a
//! thousand watchers log at once (`stop all`, a shutdown) they queue on that mutex,
//! spinning and yielding, for a third of the daemon's CPU. Here each thread formats
//! its line in its own buffer and hands it to the kernel in one write, which
//! `O_APPEND` makes atomic with respect to every other writer: lines never
//! interleave, each is on disk (in the page cache) when `info!` returns — "flushed
//! per line" — and nobody waits for anybody. The format is the rolling appender's
//! pattern, so the file reads the same either way.
//!
//! `pwrite`, not `write`: a `write` to a file that threads share takes the file's
//! position lock (`f_pos_lock`) even with `O_APPEND`, so the thousand writers
//! still queued, now inside the kernel (perf, `stop all`: `fdget_pos` → mutex).
//! `pwrite` does not touch the position, and on Linux it appends to an `O_APPEND`
//! file whatever offset it is given (pwrite(2), BUGS): the same atomic append,
//! without the lock.
//!
//! A full disk (ENOSPC) or a failing one (EIO) loses whole lines, never part of
//! one: a line that did not go in is counted, and a short write (the disk filled
//! in the middle of a line) is cut back off the end of the file. Once a line goes
//! in again, it is preceded by one saying how many were lost. Ordinary writes share
//! a read lock (one atomic add: nobody waits for anybody); repairing a short write
//! takes it exclusively, so no other line can land between the piece that went in
//! and its repair.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::SystemTime;

use log::Record;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct AppendOnlyLog {
    file: File,
    /// Lines lost to write errors since the last line that went in.
    lost: AtomicU64,
    /// Shared by every write; exclusive to repair a short one or report losses.
    gate: RwLock<()>,
}

impl AppendOnlyLog {
    /// Opens (creating it if needed) `path` for appending. Its directory must
    /// exist: taskmaster never creates directories (the config check says so).
    pub fn open(path: &Path) -> std::io::Result<AppendOnlyLog> {
        // Never a FIFO or a trap planted in a shared directory (see `safe_file`).
        let nofollow = crate::output::in_shared_directory(path);
        let file = crate::safe_file::open_for_writing(
            path,
            crate::safe_file::Mode::AppendRead,
            0o666,
            nofollow,
        )?;
        Ok(AppendOnlyLog {
            file,
            lost: AtomicU64::new(0),
            gate: RwLock::new(()),
        })
    }

    /// Appends one whole line, or nothing of it. Never fails: a line that cannot
    /// be written is counted and reported by the next one that can.
    pub fn write_line(&self, text: &str) {
        if self.lost.load(Ordering::Relaxed) > 0 {
            let _alone = self.gate.write();
            let lost = self.lost.load(Ordering::Relaxed);
            if lost > 0 {
                let notice = format!(
                    "{} WARN  event log: {lost} line{} lost (could not be written: disk full or failing)\n",
                    crate::sys::timestamp(SystemTime::now()),
                    if lost == 1 { "" } else { "s" }
                );
                if !self.append_alone(notice.as_bytes()) {
                    self.lost.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                self.lost.fetch_sub(lost, Ordering::Relaxed);
            }
        }
        let written = {
            let _shared = self.gate.read();
            // The offset is ignored: the file is O_APPEND (see the module comment).
            self.file.write_at(text.as_bytes(), 0)
        };
        let whole = match written {
            Ok(n) if n == text.len() => true,
            Ok(0) | Err(_) => false,
            Ok(n) => {
                let _alone = self.gate.write();
                self.repair(&text.as_bytes()[..n], &text.as_bytes()[n..])
            }
        };
        if !whole {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A write while holding the gate exclusively: whole, or nothing left of it.
    fn append_alone(&self, bytes: &[u8]) -> bool {
        match self.file.write_at(bytes, 0) {
            Ok(n) if n == bytes.len() => true,
            Ok(0) | Err(_) => false,
            Ok(n) => self.repair(&bytes[..n], &bytes[n..]),
        }
    }

    /// After a short write of `piece` (the gate held exclusively): if the file
    /// still ends with it, the `rest` is tried once more, else the piece is cut off
    /// again. Whether the line is now whole in the file.
    fn repair(&self, piece: &[u8], rest: &[u8]) -> bool {
        let Ok(size) = self.file.metadata().map(|m| m.len()) else {
            return false;
        };
        let Some(start) = size.checked_sub(piece.len() as u64) else {
            return false;
        };
        let mut tail = vec![0; piece.len()];
        if self.file.read_exact_at(&mut tail, start).is_err() || tail != piece {
            // Not ours at the end any more: nothing safe to do.
            return false;
        }
        if self.file.write_all_at(rest, 0).is_ok() {
            return true;
        }
        // `write_all_at` may itself have added a part: cut back to before the line.
        let _ = self.file.set_len(start);
        false
    }

    /// Lines lost and not yet reported (for tests and `status`).
    pub fn lost_lines(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm LEVEL MESSAGE\n`, the level padded to five columns.
pub fn line(record: &Record, now: SystemTime) -> String {
    format!(
        "{} {:<5} {}\n",
        crate::sys::timestamp(now),
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
    fn lines_look_like_the_rolling_appenders() {
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
