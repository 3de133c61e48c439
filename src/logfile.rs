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

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::SystemTime;

use log::Record;

#[derive(Debug)]
pub struct AppendOnlyLog {
    file: File,
}

impl AppendOnlyLog {
    /// Opens (creating it if needed) `path` for appending. Its directory must
    /// exist: taskmaster never creates directories (the config check says so).
    pub fn open(path: &Path) -> std::io::Result<AppendOnlyLog> {
        // Never a FIFO or a trap planted in a shared directory (see `safe_file`).
        let nofollow = crate::output::in_shared_directory(path);
        let file = crate::safe_file::open_for_writing(
            path,
            crate::safe_file::Mode::Append,
            0o666,
            nofollow,
        )?;
        Ok(AppendOnlyLog { file })
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
        // One write: a short write to a regular file only happens when the disk is
        // full, and then the rest would fail too.
        // The offset is ignored: the file is O_APPEND (see the module comment).
        self.file
            .write_all_at(line(record, SystemTime::now()).as_bytes(), 0)?;
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
}
