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
//! A pipe's reader and writer take the same lock (the pipe's mutex) for every
//! copy, so a splice from the child's pipe straight into the file copies into the
//! file while the child cannot write: the two copies of each byte take turns.
//! While a child floods, the pump first moves a batch into a [`Relay`], a pipe of
//! its own (a move of page references, no copy), then copies from the relay into
//! the file while the child writes its next batch: the two copies overlap, on two
//! CPUs. The relay is made when a batch is large and dropped at the first small
//! one, so a quiet stream holds no descriptor for it.
//!
//! Any file where `splice` cannot be used — not a regular file (a terminal,
//! `/dev/null`), an append-only inode whose `O_APPEND` cannot be cleared, a
//! filesystem without splice support (EINVAL) — takes the copy path instead.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag, SpliceFFlags};
use nix::libc;

/// Largest batch moved under one lock, and in one splice: the biggest pipe the
/// pump asks for. 64 KiB splices had been chosen after 1 MiB writes into the page
/// cache ran several times slower on our VM; that was the VM handing freed pages
/// back to its host (README: Performance). With that held still, whole batches
/// read ~5 % faster than 64 KiB pieces (logs of 1 GiB, six alternating pairs:
/// 2 401–2 498 against 2 207–2 375 MiB/s), and no slower without it (five pairs).
pub const SPLICE_MAX: usize = 1024 * 1024;
/// The buffer of the rare copy out of a relay whose batch the file stopped taking.
const COPY_BUFFER: usize = 64 * 1024;

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

/// A batch at least this large goes through a [`Relay`]; a smaller one is spliced
/// straight from the child's pipe (and the relay, if any, is dropped).
pub const RELAY_MIN: usize = 128 * 1024;

/// The pump's own pipe between a flooding child's pipe and its file (see the
/// module's comment). Always empty between batches: each batch moved into it is
/// moved out to the file before [`move_to_end`] returns.
pub struct Relay {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Relay {
    /// `None` when no pipe can be made (out of descriptors): splice straight.
    pub fn new() -> Option<Relay> {
        let (read, write) = crate::sys::fds::pipe().ok()?;
        // Best effort, as for the child's pipe: a batch is at most what it holds.
        let _ = fcntl(&write, FcntlArg::F_SETPIPE_SZ(SPLICE_MAX as libc::c_int));
        let capacity = fcntl(&write, FcntlArg::F_GETPIPE_SZ).ok()?;
        Some(Relay {
            read,
            write,
            capacity: usize::try_from(capacity).ok()?,
        })
    }
}

/// Bytes waiting in `pipe` (0 when it cannot tell).
pub fn queued(pipe: impl AsFd) -> usize {
    rustix::io::ioctl_fionread(pipe).map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Moves what `pipe` holds, at most `max` bytes, to the end of `file`, which
/// `prepare` accepted, under one lock — through
/// `relay` when given. `room` is told the file's size before the batch (read
/// under the lock) and answers how many bytes may go, or `None` to have the
/// caller rotate first. EINVAL means this file cannot take a splice (nothing was
/// moved): the caller goes back to copying.
pub fn move_to_end(
    pipe: impl AsFd,
    file: &File,
    max: usize,
    relay: Option<&Relay>,
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
    let mut offset = size as libc::loff_t;
    let Some(relay) = relay else {
        return splice_to_file(pipe, file, &mut offset, room.min(max), false);
    };
    let limit = room.min(max).min(relay.capacity);
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    let batch = loop {
        match nix::fcntl::splice(&pipe, None, &relay.write, None, limit, flags) {
            Ok(0) => return Ok(Some(Moved::End)),
            Ok(n) => break n,
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Ok(Some(Moved::Empty)),
            Err(e) => return Err(e),
        }
    };
    // The relay holds the whole batch now: all of it goes to the file, by copy
    // if the splice fails part way, so that no byte stays behind in it.
    let spliced = match splice_to_file(&relay.read, file, &mut offset, batch, true)? {
        Some(Moved::Bytes(n)) => n,
        _ => 0,
    };
    if spliced < batch {
        copy_to_file(&relay.read, file, &mut offset, batch - spliced)?;
    }
    Ok(Some(Moved::Bytes(batch)))
}

/// Splices at most `limit` bytes from `pipe` to `file` at `offset`. With `whole`,
/// `pipe` holds at least `limit` bytes and the splices block until all are moved
/// (stopping early only at an error, after some bytes).
fn splice_to_file(
    pipe: impl AsFd,
    file: &File,
    offset: &mut libc::loff_t,
    limit: usize,
    whole: bool,
) -> Result<Option<Moved>, Errno> {
    let mut moved = 0;
    let mut flags = SpliceFFlags::SPLICE_F_MOVE;
    if !whole {
        flags |= SpliceFFlags::SPLICE_F_NONBLOCK;
    }
    while moved < limit {
        match nix::fcntl::splice(&pipe, None, file, Some(&mut *offset), limit - moved, flags) {
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

/// Reads `count` bytes out of `relay` and writes them to `file` at `offset`: a
/// batch the relay holds when the file stopped taking splices part way.
fn copy_to_file(
    relay: &OwnedFd,
    file: &File,
    offset: &mut libc::loff_t,
    mut count: usize,
) -> Result<(), Errno> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; COPY_BUFFER];
    while count > 0 {
        let want = count.min(buf.len());
        let got = match nix::unistd::read(relay, &mut buf[..want]) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        };
        let at = u64::try_from(*offset).map_err(|_| Errno::EOVERFLOW)?;
        file.write_all_at(&buf[..got], at).map_err(io_errno)?;
        *offset += got as libc::loff_t;
        count -= got;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn a_batch_through_the_relay_lands_whole_at_the_files_end_and_leaves_it_empty() {
        let dir = crate::testutil::TempDir::new("relay");
        let path = dir.path().join("out");
        std::fs::write(&path, b"before\n").unwrap();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        assert!(prepare(&file));
        let (reader, writer) = crate::sys::fds::pipe().unwrap();
        let _ = fcntl(&writer, FcntlArg::F_SETPIPE_SZ(SPLICE_MAX as libc::c_int));
        let bytes = pattern(300 * 1024);
        let mut w = File::from(writer);
        w.write_all(&bytes).unwrap();
        assert!(queued(&reader) >= RELAY_MIN);
        let relay = Relay::new().unwrap();
        // The room caps a batch, as a rotation size does.
        let moved = move_to_end(&reader, &file, SPLICE_MAX, Some(&relay), |size| {
            assert_eq!(size, 7);
            Some(200 * 1024)
        });
        assert_eq!(moved, Ok(Some(Moved::Bytes(200 * 1024))));
        assert_eq!(queued(&relay.read), 0, "the relay is empty between batches");
        let moved = move_to_end(&reader, &file, SPLICE_MAX, Some(&relay), |_| {
            Some(SPLICE_MAX)
        });
        assert_eq!(moved, Ok(Some(Moved::Bytes(100 * 1024))));
        let moved = move_to_end(&reader, &file, SPLICE_MAX, Some(&relay), |_| {
            Some(SPLICE_MAX)
        });
        assert_eq!(moved, Ok(Some(Moved::Empty)));
        drop(w);
        let moved = move_to_end(&reader, &file, SPLICE_MAX, Some(&relay), |_| {
            Some(SPLICE_MAX)
        });
        assert_eq!(moved, Ok(Some(Moved::End)));
        let mut all = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut all).unwrap();
        assert_eq!(&all[..7], b"before\n");
        assert!(all[7..] == bytes[..], "every byte, in order");
    }

    #[test]
    fn what_the_relay_holds_when_splicing_stops_is_copied_to_the_file() {
        let dir = crate::testutil::TempDir::new("relay");
        let path = dir.path().join("out");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        assert!(prepare(&file));
        let relay = Relay::new().unwrap();
        let bytes = pattern(100 * 1024);
        File::from(relay.write.try_clone().unwrap())
            .write_all(&bytes)
            .unwrap();
        let mut offset = 0;
        copy_to_file(&relay.read, &file, &mut offset, bytes.len()).unwrap();
        assert_eq!(offset as usize, bytes.len());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
