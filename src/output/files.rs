//! The files a child's output is appended to (README: Output and the event log).
//!
//! Files are opened by the daemon, not by the child, so the pump can keep a copy in
//! the ring buffer and the child never holds a descriptor to its own log. They are
//! opened `O_APPEND`, so every write lands at the end even when the file is shared
//! (by both streams, by several instances, or with `>>` from a shell), and
//! `O_CLOEXEC`, so no other child inherits them.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Mode of created files, before the daemon's umask: owner rw, group r.
const FILE_MODE: u32 = 0o640;

/// Where one child's two streams are written besides the ring buffer. `None`
/// discards the stream (it still reaches the ring). When both streams go to the
/// same file, both fields hold the same `Arc`, so the file is opened once and the
/// two streams interleave chunk by chunk in the order the pump read them.
#[derive(Debug, Clone, Default)]
pub struct OutputFiles {
    pub stdout: Option<Arc<File>>,
    pub stderr: Option<Arc<File>>,
    /// Rotation of each stream's file (stdout, stderr), when it has one.
    pub rotate: [Option<RotatingPath>; 2],
    /// Prefix each line written to the files with the time it was read.
    pub timestamps: bool,
    /// The path each stream's file was opened at (stdout, stderr): where `tail`
    /// reads a stream whose bytes go to its file without a copy in memory.
    pub paths: [Option<PathBuf>; 2],
}

impl OutputFiles {
    /// Whether a write to every file here ends without waiting for anyone: a
    /// regular file does (at worst the disk's time); a terminal someone stopped
    /// with Ctrl-S, or a FIFO whose reader is slow, can hold a write for ever.
    /// Only such files may be written by a watcher (`QuietOutput`): a watcher
    /// that waits cannot stop or restart its child.
    pub fn writes_never_wait(&self) -> bool {
        [&self.stdout, &self.stderr]
            .into_iter()
            .flatten()
            .all(|f| is_regular(f))
    }

    /// Drops the rotation of a stream whose file is not a regular file (a
    /// terminal, `/dev/null`, the daemon's own output as a pipe): it has no size to
    /// rotate by, and its path (`/dev/stdout`) must never be renamed.
    pub fn rotate_only_regular_files(&mut self) {
        for (rotate, file) in self.rotate.iter_mut().zip([&self.stdout, &self.stderr]) {
            if !file.as_ref().is_some_and(|f| is_regular(f)) {
                *rotate = None;
            }
        }
    }
}

/// A regular file: a write to it never waits for a reader, and it has a size.
fn is_regular(file: &File) -> bool {
    file.metadata().is_ok_and(|m| m.file_type().is_file())
}

/// Where a rotated file lives and its limits (see `config::Rotation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatingPath {
    pub path: PathBuf,
    pub maxbytes: u64,
    pub backups: u32,
}

/// Shifts `path.1` … `path.(backups-1)` up by one (the oldest is overwritten) and
/// renames `path` to `path.1`; with no backups, `path` is simply removed. The
/// caller then opens a fresh `path`.
pub fn rotate_files(path: &Path, backups: u32) -> io::Result<()> {
    let numbered = |n: u32| backup_path(path, n);
    let ignore_missing = |r: io::Result<()>| match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    if backups == 0 {
        return ignore_missing(std::fs::remove_file(path));
    }
    for n in (1..backups).rev() {
        ignore_missing(std::fs::rename(numbered(n), numbered(n + 1)))?;
    }
    ignore_missing(std::fs::rename(path, numbered(1)))
}

/// `path.N`: the `n`-th most recent backup of a rotated file.
pub fn backup_path(path: &Path, n: u32) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{n}"));
    PathBuf::from(p)
}

impl OutputFiles {
    /// No files: both streams only reach the ring buffer.
    pub fn none() -> OutputFiles {
        OutputFiles::default()
    }

    /// Opens each path `O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC`, mode 0640 less the
    /// process umask. The same path for both streams (after canonicalising the
    /// parent directory, or found to be the same inode once opened) yields one
    /// shared file. Errors name the path.
    pub fn open(stdout: Option<&Path>, stderr: Option<&Path>) -> io::Result<OutputFiles> {
        let out = stdout.map(open_append).transpose()?;
        let err = match (stderr, stdout, &out) {
            (Some(e), Some(o), Some(file)) if same_path(o, e) => Some(Arc::clone(file)),
            (Some(e), _, _) => {
                let opened = open_append(e)?;
                match &out {
                    // Different spelling, same file (a symlink, a hard link):
                    // still share one descriptor.
                    Some(file) if same_inode(file, &opened) => Some(Arc::clone(file)),
                    _ => Some(opened),
                }
            }
            (None, _, _) => None,
        };
        Ok(OutputFiles {
            stdout: out,
            stderr: err,
            rotate: [None, None],
            timestamps: false,
            paths: [stdout.map(Path::to_path_buf), stderr.map(Path::to_path_buf)],
        })
    }

    /// The file a stream goes to, if any.
    pub fn get(&self, stream: super::Stream) -> Option<&Arc<File>> {
        match stream {
            super::Stream::Stdout => self.stdout.as_ref(),
            super::Stream::Stderr => self.stderr.as_ref(),
        }
    }
}

/// Opens one output file for appending; the error message names the path.
pub(super) fn open_append(path: &Path) -> io::Result<Arc<File>> {
    // In /tmp and the like anyone may plant a symlink where our file will be:
    // never follow one there (README: Security). Elsewhere a symlink is the user's. A FIFO
    // or another user's file planted there is refused by `safe_file`.
    let nofollow = in_shared_directory(path);
    crate::safe_file::open_for_writing(path, crate::safe_file::Mode::Append, FILE_MODE, nofollow)
        .map(Arc::new)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Whether the file's directory is writable by others than us and root (like
/// `/tmp`), or owned by someone else: a place where a symlink may be planted.
pub fn in_shared_directory(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) => {
            let me = nix::unistd::geteuid().as_raw();
            m.mode() & 0o022 != 0 || (m.uid() != me && m.uid() != 0)
        }
        Err(_) => true,
    }
}

/// The path with its parent directory canonicalised (the file itself may not
/// exist yet, so it cannot be canonicalised); the path as given if that fails.
fn normalised(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b || normalised(a) == normalised(b)
}

fn same_inode(a: &File, b: &File) -> bool {
    match (a.metadata(), b.metadata()) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A printable name for an open file, for messages: its current path as the kernel
/// knows it (`/proc/self/fd`), so the pump needs no path of its own.
pub fn describe(file: &File) -> String {
    let fd = file.as_raw_fd();
    match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
        Ok(p) => p.display().to_string(),
        Err(_) => format!("fd {fd}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use nix::fcntl::OFlag;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    /// The process umask, read without changing it (other tests run in parallel).
    fn current_umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            .unwrap_or(0o022)
    }

    #[test]
    fn only_a_regular_file_keeps_its_rotation() {
        let dir = TempDir::new("files-rotate-kind");
        let log = dir.path().join("out.log");
        let mut files = OutputFiles::open(Some(&log), Some(Path::new("/dev/null"))).expect("open");
        let rotation = |path: &Path| {
            Some(RotatingPath {
                path: path.to_path_buf(),
                maxbytes: 10,
                backups: 1,
            })
        };
        files.rotate = [rotation(&log), rotation(Path::new("/dev/null"))];
        files.rotate_only_regular_files();
        assert!(files.rotate[0].is_some(), "a regular file rotates");
        assert!(files.rotate[1].is_none(), "a device is never renamed");
    }

    #[test]
    fn same_path_opens_one_shared_file() {
        let dir = TempDir::new("files-same");
        let p = dir.path().join("both.log");
        let alias = dir.path().join(".").join("both.log");
        let files = OutputFiles::open(Some(&p), Some(&alias)).expect("open");
        let (o, e) = (files.stdout.expect("stdout"), files.stderr.expect("stderr"));
        assert!(Arc::ptr_eq(&o, &e), "one descriptor for both streams");
        (&*o).write_all(b"out\n").expect("write");
        (&*e).write_all(b"err\n").expect("write");
        (&*o).write_all(b"out2\n").expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"out\nerr\nout2\n");
    }

    #[test]
    fn symlinked_name_shares_too_and_different_paths_do_not() {
        let dir = TempDir::new("files-link");
        let p = dir.path().join("real.log");
        let link = dir.path().join("link.log");
        std::fs::write(&p, b"").expect("create");
        std::os::unix::fs::symlink(&p, &link).expect("symlink");
        let files = OutputFiles::open(Some(&p), Some(&link)).expect("open");
        assert!(Arc::ptr_eq(
            files.stdout.as_ref().expect("stdout"),
            files.stderr.as_ref().expect("stderr")
        ));
        let other = dir.path().join("other.log");
        let files = OutputFiles::open(Some(&p), Some(&other)).expect("open");
        assert!(!Arc::ptr_eq(
            files.stdout.as_ref().expect("stdout"),
            files.stderr.as_ref().expect("stderr")
        ));
        let only_err = OutputFiles::open(None, Some(&other)).expect("open");
        assert!(only_err.stdout.is_none() && only_err.stderr.is_some());
        let none = OutputFiles::open(None, None).expect("open");
        assert!(none.stdout.is_none() && none.stderr.is_none());
    }

    #[test]
    fn created_0640_less_umask_cloexec_and_appending() {
        let dir = TempDir::new("files-mode");
        let p = dir.path().join("out.log");
        std::fs::write(dir.path().join("pre.log"), b"old\n").expect("pre");
        let files = OutputFiles::open(Some(&p), Some(&dir.path().join("pre.log"))).expect("open");
        let mode = std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
        let umask = current_umask();
        assert_eq!(mode, FILE_MODE & !umask);
        if umask == 0o022 {
            assert_eq!(mode, 0o640);
        }
        let out = files.stdout.expect("stdout");
        let flags = nix::fcntl::fcntl(&*out, nix::fcntl::FcntlArg::F_GETFD).expect("getfd");
        assert!(flags & nix::fcntl::FdFlag::FD_CLOEXEC.bits() != 0);
        let fl = nix::fcntl::fcntl(&*out, nix::fcntl::FcntlArg::F_GETFL).expect("getfl");
        assert!(fl & OFlag::O_APPEND.bits() != 0);
        // Appends after what was there, even after someone else wrote to the file.
        let err = files.stderr.expect("stderr");
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("pre.log"))
            .and_then(|mut f| f.write_all(b"other\n"))
            .expect("other writer");
        (&*err).write_all(b"new\n").expect("write");
        assert_eq!(
            std::fs::read(dir.path().join("pre.log")).expect("read"),
            b"old\nother\nnew\n"
        );
        assert!(describe(&err).ends_with("pre.log"), "{}", describe(&err));
    }

    #[test]
    fn errors_name_the_path() {
        let dir = TempDir::new("files-err");
        let bad = dir.path().join("missing-dir").join("x.log");
        let e = OutputFiles::open(Some(&bad), None).expect_err("must fail");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("missing-dir/x.log"), "{e}");
        let good = dir.path().join("ok.log");
        let e = OutputFiles::open(Some(&good), Some(dir.path())).expect_err("a directory");
        assert!(
            e.to_string().contains(&dir.path().display().to_string()),
            "{e}"
        );
    }
}

#[cfg(test)]
mod symlink_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_symlink_planted_in_a_world_writable_directory_is_not_followed() {
        let tmp = crate::testutil::TempDir::new("nofollow");
        let dir = tmp.path();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").expect("victim");
        let planted = dir.join("app.log");
        std::os::unix::fs::symlink(&victim, &planted).expect("symlink");
        let Err(err) = OutputFiles::open(Some(&planted), None) else {
            panic!("a planted symlink was followed");
        };
        assert!(err.to_string().contains("app.log"), "{err}");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"precious");
    }
}
