//! Opening a file taskmaster writes to (a program's output file, the event log, the
//! children journal) so that no file planted at its path can freeze or fool it.
//!
//! A FIFO blocks `open(O_WRONLY)` until someone reads it, and anyone can make one in
//! `/tmp`: the thread opening it (a watcher, the reload, the shutdown) would hang
//! for good. So the open is non-blocking (a FIFO with no reader then fails at once
//! with ENXIO, one with a reader opens), and the descriptor is kept only if it is a
//! regular file or a character device such as `/dev/null`; blocking mode is set
//! back afterwards, as the writers expect.
//!
//! As root, in a sticky directory anyone can write to (`/tmp`), an existing file
//! owned by another user (and not by the directory's owner) is refused, as the
//! kernel's `protected_regular` would: otherwise any local user could have root
//! append to a file they prepared, or read what lands in it.
//!
//! One exception: the daemon's own standard output or error, named as
//! `/dev/stdout`, `/dev/stderr`, `/dev/fd/1|2` or `/proc/self/fd/1|2`. In a
//! container it is a pipe (`docker logs`) or the journal's socket, and writing
//! a program's output or the event log there is what such a setup is for. Nobody
//! can plant anything at those names, and the descriptor is already open: it is
//! duplicated, not opened again.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// How to open: append (output files), append and read back (the event log, which
/// checks its own tail after a short write), or truncate (the journal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Append,
    AppendRead,
    Truncate,
}

/// Opens `path` for writing (creating it with `perm` less the umask), refusing
/// anything but a regular file or a character device. `nofollow` refuses a symlink
/// as the last component. The error names why, not the path (callers add it).
pub fn open_for_writing(path: &Path, mode: Mode, perm: u32, nofollow: bool) -> io::Result<File> {
    if let Some(file) = own_stream(path, mode)? {
        return Ok(file);
    }
    let mut flags = OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    if nofollow {
        flags |= OFlag::O_NOFOLLOW;
    }
    let mut options = OpenOptions::new();
    options.create(true).mode(perm).custom_flags(flags.bits());
    match mode {
        Mode::Append => options.append(true),
        Mode::AppendRead => options.append(true).read(true),
        Mode::Truncate => options.write(true).truncate(true),
    };
    // A FIFO with a writer but no reader, or truncating a FIFO: refused below
    // anyway; ENXIO is what a FIFO with no reader answers.
    let file = options
        .open(path)
        .map_err(|e| match e.raw_os_error().map(Errno::from_raw) {
            Some(Errno::ENXIO) => not_a_file("a FIFO"),
            _ => e,
        })?;
    let meta = file.metadata()?;
    check_kind(&meta)?;
    check_owner(path, &meta)?;
    // Back to blocking writes; harmless for regular files, what a device expects.
    let current = fcntl(&file, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let blocking = OFlag::from_bits_truncate(current) & !OFlag::O_NONBLOCK;
    fcntl(&file, FcntlArg::F_SETFL(blocking)).map_err(io::Error::from)?;
    Ok(file)
}

/// For `--check`: an existing `path` that `open_for_writing` would refuse.
pub fn check_existing(path: &Path) -> io::Result<()> {
    if own_stream_fd(path).is_some_and(is_pipe_or_socket) {
        return Ok(());
    }
    match std::fs::metadata(path) {
        Ok(meta) => {
            check_kind(&meta)?;
            check_owner(path, &meta)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The daemon's standard stream `path` names, if it names one (see the module's
/// comment).
fn own_stream_fd(path: &Path) -> Option<i32> {
    match path.to_str()? {
        "/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1" => Some(1),
        "/dev/stderr" | "/dev/fd/2" | "/proc/self/fd/2" => Some(2),
        _ => None,
    }
}

fn is_pipe_or_socket(fd: i32) -> bool {
    // SAFETY: 1 and 2 stay open for the daemon's life (`fds::ensure_std_fds_open`),
    // and the borrow ends with this call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    nix::sys::stat::fstat(fd).is_ok_and(|st| {
        let kind = st.st_mode & nix::libc::S_IFMT;
        kind == nix::libc::S_IFIFO || kind == nix::libc::S_IFSOCK
    })
}

/// A duplicate of the daemon's standard stream `path` names, when that stream is
/// a pipe or a socket (a terminal or a file there is opened by its name, as any
/// path). Truncating it makes no sense: refused as a FIFO always was.
fn own_stream(path: &Path, mode: Mode) -> io::Result<Option<File>> {
    let Some(fd) = own_stream_fd(path).filter(|&fd| is_pipe_or_socket(fd)) else {
        return Ok(None);
    };
    if mode == Mode::Truncate {
        return Err(not_a_file("a FIFO"));
    }
    // SAFETY: as in `is_pipe_or_socket`.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let owned = borrowed.try_clone_to_owned()?;
    Ok(Some(File::from(owned)))
}

/// Reads a small file of ours (the previous journal) without blocking on a FIFO.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<String> {
    use std::io::Read;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW).bits())
        .open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(not_a_file("not a regular file"));
    }
    let mut text = String::new();
    file.take(limit).read_to_string(&mut text)?;
    Ok(text)
}

fn check_kind(meta: &std::fs::Metadata) -> io::Result<()> {
    let kind = meta.file_type();
    if kind.is_file() || kind.is_char_device() {
        return Ok(());
    }
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    Err(not_a_file(what))
}

fn not_a_file(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file: refused"),
    )
}

/// As root: an existing file in a sticky world-writable directory must be ours or
/// the directory owner's.
fn check_owner(path: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    let me = nix::unistd::geteuid().as_raw();
    if me != 0 || meta.uid() == me || !meta.file_type().is_file() {
        return Ok(());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(dir_meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    let sticky_shared = dir_meta.mode() & 0o1002 == 0o1002;
    if sticky_shared && meta.uid() != dir_meta.uid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "owned by uid {} in a sticky directory anyone can write to: refused",
                meta.uid()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn a_fifo_without_a_reader_is_refused_at_once() {
        let dir = TempDir::new("safe-fifo");
        let fifo = dir.path().join("out");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        for mode in [Mode::Append, Mode::Truncate] {
            let err = open_for_writing(&fifo, mode, 0o640, false).expect_err("a FIFO");
            assert!(err.to_string().contains("a FIFO"), "{err}");
        }
        assert!(check_existing(&fifo).is_err());
        assert!(read_regular(&fifo, 100).is_err());
    }

    #[test]
    fn a_fifo_with_a_reader_is_refused_too() {
        let dir = TempDir::new("safe-fifo-reader");
        let fifo = dir.path().join("out");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let _reader = OpenOptions::new()
            .read(true)
            .custom_flags(OFlag::O_NONBLOCK.bits())
            .open(&fifo)
            .expect("reader");
        let err = open_for_writing(&fifo, Mode::Append, 0o640, false).expect_err("a FIFO");
        assert!(err.to_string().contains("a FIFO"), "{err}");
    }

    #[test]
    fn regular_files_and_dev_null_open_blocking() {
        let dir = TempDir::new("safe-regular");
        let path = dir.path().join("out");
        let file = open_for_writing(&path, Mode::Append, 0o640, true).expect("regular");
        let flags = fcntl(&file, FcntlArg::F_GETFL).expect("flags");
        assert_eq!(flags & OFlag::O_NONBLOCK.bits(), 0);
        assert!(flags & OFlag::O_APPEND.bits() != 0);
        open_for_writing(Path::new("/dev/null"), Mode::Append, 0o640, false).expect("/dev/null");
        assert!(check_existing(&path).is_ok());
        assert!(check_existing(&dir.path().join("absent")).is_ok());
        let err = check_existing(dir.path()).expect_err("a directory");
        assert!(err.to_string().contains("a directory"), "{err}");
    }

    #[test]
    fn as_root_another_users_file_in_a_sticky_shared_directory_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = TempDir::new("safe-sticky");
        let sticky = dir.path().join("tmp");
        std::fs::create_dir(&sticky).expect("dir");
        std::fs::set_permissions(
            &sticky,
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .expect("chmod");
        let planted = sticky.join("out");
        std::fs::write(&planted, b"").expect("plant");
        let nobody = nix::unistd::Uid::from_raw(65534);
        nix::unistd::chown(&planted, Some(nobody), None).expect("chown");
        let err = open_for_writing(&planted, Mode::Append, 0o640, true).expect_err("planted");
        assert!(err.to_string().contains("uid 65534"), "{err}");
        assert!(check_existing(&planted).is_err());
        // Our own file there is fine.
        let ours = sticky.join("ours");
        open_for_writing(&ours, Mode::Append, 0o640, true).expect("ours");
    }
}
