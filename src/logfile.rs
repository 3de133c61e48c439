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
//! file whatever offset it is given (a documented Linux exception, tested in
//! `logfile_tests.rs`: `lines_go_after_what_the_file_already_holds`): the same
//! atomic append, without the lock.
//!
//! The file is behind a read-write lock: every write shares it (one atomic add),
//! and only three rare things take it alone. Rotation (`logfile_maxbytes`): before
//! a line would take the file past its size, it is renamed `.1` (older ones shift,
//! as for the programs' files) and a new one opened; with several writers at once
//! the size is approximate. A full disk (ENOSPC) or a failing one (EIO): a line
//! that did not go in is counted, a short write (the disk filled in the middle of a
//! line) is completed or cut back off the end, so lines are lost whole, never torn;
//! once a line goes in again it is preceded by one saying how many were lost.
//!
//! A log that is not a regular file — the daemon's own output as a pipe, a socket
//! or a terminal (`/dev/stdout`) — has no size to rotate by, and a reader that
//! stops reading would stop every thread that logs: its lines go through a
//! bounded queue and a thread of its own instead (`stream_out`), each in one
//! `write`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use log::Record;
use parking_lot::RwLock;

use crate::config::Rotation;
use crate::stream_out::{Loss, StreamOut};

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
    /// Not a regular file (a pipe, a socket, a terminal): the queue and thread
    /// that write its lines, which are never rotated.
    stream: Option<StreamOut>,
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
        let stream = match meta.file_type().is_file() {
            true => None,
            false => {
                let target = crate::stream_out::Target::Own(Box::new(file.try_clone()?));
                let out = StreamOut::start("eventlog-out", target, STREAM_QUEUE, stream_loss_line);
                Some(out?)
            }
        };
        Ok(AppendOnlyLog {
            path: path.to_path_buf(),
            rotation,
            file: RwLock::new(file),
            size: AtomicU64::new(meta.len()),
            lost: AtomicU64::new(0),
            stream,
        })
    }

    /// Appends one whole line, or nothing of it. Never fails: a line that cannot
    /// be written is counted and reported by the next one that can.
    pub fn write_line(&self, text: &str) {
        if let Some(out) = &self.stream {
            out.push(text.to_owned());
            return;
        }
        let len = text.len() as u64;
        if self.lost.load(Ordering::Relaxed) > 0 {
            self.report_lost();
        }
        let max = self.rotation.maxbytes;
        if max > 0 && self.size.load(Ordering::Relaxed).saturating_add(len) > max {
            self.rotate(len);
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
        if append_alone(&file, notice.as_bytes()) {
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

    /// Lines still queued for a stream are written, within a bound (before an
    /// exit or an exec: `stream_out::flush_before_exit`).
    fn flush(&self) {
        if let Some(out) = &self.stream {
            out.flush(Instant::now() + crate::stream_out::FLUSH_TIME);
        }
    }
}

/// Lines waiting for a stream's reader: ~10 000 lines of the event log.
const STREAM_QUEUE: usize = 1 << 20;

fn stream_loss_line(count: u64, why: Loss) -> String {
    format!(
        "{} WARN  event log: {}\n",
        crate::sys::time::timestamp(SystemTime::now()),
        crate::stream_out::lost_text(count, why)
    )
}

#[cfg(test)]
#[path = "logfile_tests.rs"]
mod tests;
