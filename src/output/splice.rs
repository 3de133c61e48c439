//! Moving a child's output from its pipe to its file inside the kernel (`splice`),
//! so the bytes never pass through the pump's memory: the pump only counts them
//! (rotation by size) and wakes followers, who read the file itself.
//!
//! `splice` refuses a file opened `O_APPEND` (EINVAL), so a spliced file has
//! `O_APPEND` cleared and each batch is written at the file's end as `fstat` tells
//! it, under a whole-file lock on the open file description (an OFD lock): pumps of
//! several instances sharing one file, and the copy path of the same file (which
//! takes the same lock), never write over each other. The lock is held for one
//! batch, never while waiting for the child (the splice does not block on an empty
//! pipe: `SPLICE_F_NONBLOCK`, then the pump polls).
//!
//! Any file where `splice` cannot be used — not a regular file (a terminal,
//! `/dev/null`), an append-only inode whose `O_APPEND` cannot be cleared, a
//! filesystem without splice support (EINVAL) — takes the copy path instead.

use std::fs::File;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag, SpliceFFlags};
use nix::libc;

/// Largest batch moved under one lock: the biggest pipe the pump asks for.
pub const SPLICE_MAX: usize = 1024 * 1024;
/// Largest single splice. As for the copy path's writes (`sink.rs`,
/// `WRITE_SLICE`), a 1 MiB write into the page cache ran several times slower on
/// our VM than the same bytes in 64 KiB pieces.
const SPLICE_SLICE: usize = 64 * 1024;

/// Makes `file` a target `splice` accepts: a regular file with `O_APPEND` cleared.
/// False (and the file unchanged) when it is not one or the flag cannot be cleared.
pub fn prepare(file: &File) -> bool {
    if !file.metadata().is_ok_and(|m| m.file_type().is_file()) {
        return false;
    }
    set_append(file, false)
}

/// Gives `file` back its `O_APPEND` (the copy path's mode) after a failed splice.
pub fn restore(file: &File) {
    let _ = set_append(file, true);
}

fn set_append(file: &File, on: bool) -> bool {
    let Ok(bits) = fcntl(file, FcntlArg::F_GETFL) else {
        return false;
    };
    let mut flags = OFlag::from_bits_truncate(bits);
    flags.set(OFlag::O_APPEND, on);
    fcntl(file, FcntlArg::F_SETFL(flags)).is_ok()
}

/// A whole-file OFD write lock, released on drop. Best effort: a file that cannot
/// be locked (a device, a filesystem without locks) is written without.
pub struct FileLock<'a> {
    file: Option<&'a File>,
}

impl<'a> FileLock<'a> {
    /// Waits for the lock (held by other pumps for one batch at most).
    pub fn acquire(file: &'a File) -> FileLock<'a> {
        let held = loop {
            match fcntl(file, FcntlArg::F_OFD_SETLKW(&whole_file(libc::F_WRLCK))) {
                Err(Errno::EINTR) => continue,
                other => break other.is_ok(),
            }
        };
        FileLock {
            file: held.then_some(file),
        }
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        if let Some(file) = self.file {
            let _ = fcntl(file, FcntlArg::F_OFD_SETLK(&whole_file(libc::F_UNLCK)));
        }
    }
}

fn whole_file(kind: libc::c_int) -> libc::flock {
    // SAFETY: `flock` is a plain C struct of integers; all zeros is a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 0;
    lock.l_len = 0; // to the end of the file, however far it grows
    lock
}

/// What one `splice` attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum Moved {
    /// That many bytes are now in the file (the pipe may hold more).
    Bytes(usize),
    /// The pipe's writers are all gone and it is empty.
    End,
    /// The pipe is empty for now: poll before trying again.
    Empty,
}

/// Moves what `pipe` holds, at most `max` bytes, to the end of `file`, which
/// `prepare` accepted, in splices of [`SPLICE_SLICE`] under one lock. `room` is
/// told the file's size before the batch (read under the lock) and answers how
/// many bytes may go, or `None` to have the caller rotate first. EINVAL means this
/// file cannot take a splice (nothing was moved): the caller goes back to copying.
pub fn move_to_end(
    pipe: impl AsFd,
    file: &File,
    max: usize,
    room: impl FnOnce(u64) -> Option<usize>,
) -> Result<Option<Moved>, Errno> {
    if splice_turned_off() {
        return Err(Errno::EINVAL);
    }
    let _lock = FileLock::acquire(file);
    let size = file.metadata().map_err(io_errno)?.len();
    let Some(room) = room(size) else {
        return Ok(None);
    };
    let limit = room.min(max);
    let mut offset = size as libc::loff_t;
    let mut moved = 0;
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    while moved < limit {
        let piece = (limit - moved).min(SPLICE_SLICE);
        match nix::fcntl::splice(&pipe, None, file, Some(&mut offset), piece, flags) {
            Ok(0) if moved == 0 => return Ok(Some(Moved::End)),
            Ok(0) => break,
            Ok(n) => moved += n,
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) if moved == 0 => return Ok(Some(Moved::Empty)),
            Err(Errno::EAGAIN) => break,
            // What was moved is in the file; the error comes back with the next try.
            Err(_) if moved > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(Some(Moved::Bytes(moved)))
}

fn io_errno(e: std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// `TASKMASTER_NO_SPLICE=1` in the daemon's environment: every splice fails as on
/// a filesystem without splice support, so every file takes the copy path (README:
/// Output and the event log). An escape hatch for a filesystem whose splice
/// misbehaves, the switch the tests of the fallback use, and how `bench/run`
/// measures both paths in one run. Read once.
fn splice_turned_off() -> bool {
    static NO_SPLICE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *NO_SPLICE.get_or_init(|| std::env::var_os("TASKMASTER_NO_SPLICE").is_some_and(|v| v == "1"))
}
