//! Reading a stream whose bytes go only to its file (the splice path): its last
//! lines for `tail` and attach's replay, and what came after a follower's place.
//!
//! The file is found by its path and checked to be the very file the pump writes
//! (device and inode), so a file moved away or deleted underneath is reported as
//! such, never mistaken for another. Nothing here keeps a descriptor between two
//! reads, except a follower's cursor while it follows. Every read is bounded: the
//! last lines by the instance's `tail_buffer`, a follower's catch-up by
//! [`FOLLOW_READ`] per wake-up.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::backup_path;

/// Most bytes a follower reads from a file in one go.
pub const FOLLOW_READ: usize = 256 * 1024;
/// Block size when scanning a file backwards for its last lines.
const SCAN_BLOCK: usize = 64 * 1024;

/// The file a stream's output currently goes to, as the pump published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// The file's size when the pump began writing it (0 after a rotation): a
    /// follower that finds the stream newly in this file reads from here.
    pub start: u64,
    /// Rotated backups kept (`path.1` …): where `tail` finds lines a rotation
    /// just moved away.
    pub backups: u32,
}

impl FileSource {
    /// Describes `file`, open at `path`; `None` if it cannot be inspected.
    pub fn of(file: &File, path: &Path, backups: u32) -> Option<FileSource> {
        let meta = file.metadata().ok()?;
        Some(FileSource {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            start: meta.len(),
            backups,
        })
    }

    /// Opens the file for reading and checks that it is still the one written.
    pub fn open(&self) -> Result<File, String> {
        let gone = || {
            format!(
                "its file {} was deleted or moved away; its output can no longer be read",
                self.path.display()
            )
        };
        let file = open_regular(&self.path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => gone(),
            _ => format!("cannot read {}: {e}", self.path.display()),
        })?;
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        if meta.dev() != self.dev || meta.ino() != self.ino {
            return Err(gone());
        }
        Ok(file)
    }
}

/// Opens a regular file read-only without blocking on a FIFO planted at its path.
fn open_regular(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// The last `lines` lines of the stream's file, at most `max` bytes, and the
/// file (with its size when read) to follow from. When the file holds fewer lines
/// and was rotated, the rest comes from the newest backup.
pub fn last_lines(
    source: &FileSource,
    lines: usize,
    max: usize,
) -> Result<(Vec<u8>, Arc<File>, u64), String> {
    let file = source.open()?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let mut scan = Scan::new(lines, max);
    scan.backwards(&file, size).map_err(|e| e.to_string())?;
    if !scan.done() && source.backups > 0 {
        // Best effort: a backup that cannot be read just means fewer lines.
        if let Ok(backup) = open_regular(&backup_path(&source.path, 1)) {
            if let Ok(meta) = backup.metadata() {
                let _ = scan.backwards(&backup, meta.len());
            }
        }
    }
    Ok((scan.finish(), Arc::new(file), size))
}

/// Gathers the end of a sequence of files, newest first, until `lines` lines or
/// `max` bytes.
struct Scan {
    lines: usize,
    max: usize,
    /// Blocks read, newest first.
    blocks: Vec<Vec<u8>>,
    len: usize,
    newlines: usize,
    /// Whether the newest byte seen was a final '\n' (it ends a line, not begins one).
    skipped_final: Option<bool>,
}

impl Scan {
    fn new(lines: usize, max: usize) -> Scan {
        Scan {
            lines,
            max,
            blocks: Vec::new(),
            len: 0,
            newlines: 0,
            skipped_final: None,
        }
    }

    /// Enough lines (their start found) or bytes gathered.
    fn done(&self) -> bool {
        self.lines == 0 || self.newlines >= self.lines || self.len >= self.max
    }

    fn backwards(&mut self, file: &File, size: u64) -> io::Result<()> {
        let mut end = size;
        while end > 0 && !self.done() {
            let want = (SCAN_BLOCK as u64)
                .min(end)
                .min((self.max - self.len) as u64) as usize;
            let mut block = vec![0u8; want];
            file.read_exact_at(&mut block, end - want as u64)?;
            end -= want as u64;
            let mut scan = &block[..];
            if self.skipped_final.is_none() {
                let final_newline = block.last() == Some(&b'\n');
                self.skipped_final = Some(final_newline);
                if final_newline {
                    scan = &block[..block.len() - 1];
                }
            }
            self.newlines += scan.iter().filter(|&&b| b == b'\n').count();
            self.len += block.len();
            self.blocks.push(block);
        }
        Ok(())
    }

    /// The gathered bytes from the start of the wanted lines on.
    fn finish(self) -> Vec<u8> {
        if self.lines == 0 {
            return Vec::new();
        }
        let mut all = Vec::with_capacity(self.len);
        for block in self.blocks.iter().rev() {
            all.extend_from_slice(block);
        }
        let scan_end = if self.skipped_final == Some(true) {
            all.len() - 1
        } else {
            all.len()
        };
        let mut wanted = self.lines;
        for i in (0..scan_end).rev() {
            if all[i] == b'\n' {
                wanted -= 1;
                if wanted == 0 {
                    return all.split_off(i + 1);
                }
            }
        }
        all
    }
}

/// A follower's place in a stream's file.
#[derive(Debug, Clone)]
pub struct FileCursor {
    pub file: Arc<File>,
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

impl FileCursor {
    pub fn new(file: Arc<File>, source: &FileSource, offset: u64) -> FileCursor {
        FileCursor {
            file,
            dev: source.dev,
            ino: source.ino,
            offset,
        }
    }

    /// Whether this cursor reads the file `source` names.
    pub fn reads(&self, source: &FileSource) -> bool {
        self.dev == source.dev && self.ino == source.ino
    }

    /// Up to [`FOLLOW_READ`] bytes past the cursor, advancing it, and whether more
    /// is there; a note first if the file was truncated under it (it then reads
    /// from the start).
    pub fn read_more(&mut self) -> io::Result<(Vec<u8>, bool)> {
        let size = self.file.metadata()?.len();
        let mut out = Vec::new();
        if size < self.offset {
            out.extend_from_slice(
                b"\n[... the file was truncated; following from its start ...]\n",
            );
            self.offset = 0;
        }
        let want = (size - self.offset).min(FOLLOW_READ as u64) as usize;
        let at = out.len();
        out.resize(at + want, 0);
        let mut got = 0;
        while got < want {
            match self
                .file
                .read_at(&mut out[at + got..], self.offset + got as u64)
            {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        out.truncate(at + got);
        self.offset += got as u64;
        Ok((out, got > 0 && self.offset < size))
    }
}

/// A follower's state in a spliced stream: its place in a file, if it has one.
#[derive(Debug, Clone, Default)]
pub struct FileFollow {
    pub cursor: Option<FileCursor>,
    /// The cursor's file has more to read than one read took.
    pub behind: bool,
    /// The file's loss was reported already (once per follower).
    pub told_gone: bool,
}

impl FileFollow {
    /// What a follower of a file-backed stream has not read yet, at most
    /// [`FOLLOW_READ`] bytes: the rest of the file it was reading (after a
    /// rotation), then the stream's current file from where the pump began it. A file
    /// gone from under it is said once, in the output itself.
    pub fn read_since(&mut self, source: &FileSource) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(old) = self.cursor.as_mut().filter(|f| !f.reads(source)) {
            if let Ok((data, more)) = old.read_more() {
                if more {
                    self.behind = true;
                    return data;
                }
                out = data;
            }
            self.cursor = None;
        }
        if self.cursor.is_none() {
            match source.open() {
                Ok(file) => {
                    self.told_gone = false;
                    self.cursor = Some(FileCursor::new(Arc::new(file), source, source.start));
                }
                Err(problem) => {
                    if !self.told_gone {
                        self.told_gone = true;
                        out.extend_from_slice(format!("\n[taskmaster: {problem}]\n").as_bytes());
                    }
                    self.behind = false;
                    return out;
                }
            }
        }
        let Some(file) = self.cursor.as_mut() else {
            return out;
        };
        match file.read_more() {
            Ok((data, more)) => {
                self.behind = more;
                out.extend_from_slice(&data);
            }
            Err(e) => {
                self.behind = false;
                if !self.told_gone {
                    self.told_gone = true;
                    out.extend_from_slice(
                        format!("\n[taskmaster: cannot read its file: {e}]\n").as_bytes(),
                    );
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn source(path: &Path, backups: u32) -> FileSource {
        let f = File::open(path).expect("open");
        FileSource::of(&f, path, backups).expect("source")
    }

    #[test]
    fn last_lines_of_a_file_and_of_its_backup() {
        let dir = TempDir::new("file-tail");
        let p = dir.path().join("out.log");
        std::fs::write(&p, b"one\ntwo\nthree\n").expect("write");
        let s = source(&p, 1);
        assert_eq!(last_lines(&s, 2, 1024).expect("tail").0, b"two\nthree\n");
        assert_eq!(last_lines(&s, 0, 1024).expect("tail").0, b"");
        assert_eq!(
            last_lines(&s, 9, 1024).expect("tail").0,
            b"one\ntwo\nthree\n"
        );
        assert_eq!(last_lines(&s, 9, 6).expect("tail").0, b"three\n");
        // Just rotated: the new file has one line and a half; the rest is in .1.
        std::fs::rename(&p, backup_path(&p, 1)).expect("rotate");
        std::fs::write(&p, b"four\nfi").expect("write");
        let s = source(&p, 1);
        let (text, _, size) = last_lines(&s, 3, 1024).expect("tail");
        assert_eq!(text, b"three\nfour\nfi");
        assert_eq!(size, 7);
        // Without backups configured, fewer lines.
        let s0 = source(&p, 0);
        assert_eq!(last_lines(&s0, 3, 1024).expect("tail").0, b"four\nfi");
    }

    #[test]
    fn a_file_moved_away_or_replaced_is_reported() {
        let dir = TempDir::new("file-gone");
        let p = dir.path().join("out.log");
        std::fs::write(&p, b"x\n").expect("write");
        let s = source(&p, 0);
        // Replaced by another file (made while the first exists: another inode).
        let other = dir.path().join("other.log");
        std::fs::write(&other, b"another\n").expect("write");
        std::fs::rename(&other, &p).expect("replace");
        let e = last_lines(&s, 1, 100).expect_err("replaced");
        assert!(e.contains("deleted or moved away"), "{e}");
        std::fs::remove_file(&p).expect("rm");
        let e = last_lines(&s, 1, 100).expect_err("gone");
        assert!(e.contains("deleted or moved away"), "{e}");
    }

    #[test]
    fn a_cursor_reads_what_comes_and_survives_truncation() {
        let dir = TempDir::new("file-cursor");
        let p = dir.path().join("out.log");
        std::fs::write(&p, b"old\n").expect("write");
        let s = source(&p, 0);
        let (_, file, size) = last_lines(&s, 0, 100).expect("tail");
        let mut c = FileCursor::new(file, &s, size);
        assert_eq!(c.read_more().expect("read").0, b"");
        std::fs::write(&p, b"old\nnew\n").expect("write");
        assert_eq!(c.read_more().expect("read").0, b"new\n");
        let f = OpenOptions::new().write(true).open(&p).expect("open");
        f.set_len(0).expect("truncate");
        f.write_all_at(b"again\n", 0).expect("write");
        let got = String::from_utf8(c.read_more().expect("read").0).expect("utf8");
        assert!(
            got.contains("truncated") && got.ends_with("again\n"),
            "{got}"
        );
    }

    #[test]
    fn a_follower_finishes_the_rotated_file_then_reads_the_new_one() {
        let dir = TempDir::new("file-follow");
        let p = dir.path().join("out.log");
        std::fs::write(&p, b"a\n").expect("write");
        let mut first = source(&p, 1);
        first.start = 0;
        let mut follow = FileFollow::default();
        assert_eq!(follow.read_since(&first), b"a\n");
        std::fs::write(&p, b"a\nb\n").expect("write");
        std::fs::rename(&p, backup_path(&p, 1)).expect("rotate");
        std::fs::write(&p, b"c\n").expect("write");
        let mut second = source(&p, 1);
        second.start = 0;
        assert_eq!(follow.read_since(&second), b"b\nc\n");
        assert_eq!(follow.read_since(&second), b"");
        // Gone before the follower opened it: said once.
        let mut lost = FileFollow::default();
        std::fs::remove_file(&p).expect("rm");
        let note = String::from_utf8(lost.read_since(&second)).expect("utf8");
        assert!(note.contains("deleted or moved away"), "{note}");
        assert_eq!(lost.read_since(&second), b"");
    }
}
