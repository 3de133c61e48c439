//! Where a pump puts what it read: the output files of one run, each written
//! either by `splice` (pipe → file in the kernel, see `splice.rs`) or by copying
//! what the pump read (timestamps, a pty's folded line ends, a file `splice`
//! cannot take), with rotation by size and the "warn once, then skip" policy for
//! a file that fails.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::Arc;

use log::warn;
use nix::errno::Errno;

use super::file_tail::FileSource;
use super::files::{describe, open_append, rotate_files, RotatingPath};
use super::splice::{self, FileLock, Moved, SPLICE_MAX};
use super::{OutputBuffers, OutputFiles, Stream};

/// Largest single write to an output file. A chunk read from a chatty child (up to
/// 1 MiB) is written in pieces this size: measured on our 2-CPU VM, 1 GiB
/// through 1 MiB writes ran at 0.5–1.1 GB/s (the copy into the page cache
/// dominated, ~9× slower than a normal copy), through 64 KiB writes at 2.0–2.5
/// GB/s, with 128 KiB and 16–32 KiB in between. That was while the VM handed
/// every freed page back to its host at once (README: Performance); with that held
/// still, 1 MiB and 64 KiB writes ran the same (four alternating pairs, ~1 750
/// MiB/s through this path), so the pieces stay. A syscall per 64 KiB costs
/// nothing measurable either way.
const WRITE_SLICE: usize = 64 * 1024;

/// What one splice from a child's pipe did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Spliced {
    /// Bytes moved to the file.
    Data(usize),
    /// End of stream.
    End,
    /// The pipe is empty: poll before the next attempt.
    Again,
    /// This stream is copied from now on (its file cannot take a splice, or is gone).
    Copy,
}

/// The files of one run, with the "warn once, then skip" policy for write errors.
pub struct Sink {
    name: String,
    pub(super) files: [Option<Arc<File>>; 2],
    rotate: [Option<RotatingPath>; 2],
    /// Where each file was opened, for readers of a spliced stream.
    paths: [Option<std::path::PathBuf>; 2],
    /// Whether each stream is spliced into its file (not copied).
    spliced: [bool; 2],
    /// Whether `choose` ran (at the first output of the run).
    chosen: bool,
    /// Bytes in each stream's file, learnt from the file at its first write.
    sizes: [Option<u64>; 2],
    timestamps: bool,
    /// Whether the next byte of each stream starts a line (for `timestamps`).
    at_line_start: [bool; 2],
    /// The pump's own pipe while a spliced stream floods (`splice.rs`).
    relay: Option<splice::Relay>,
}

impl Sink {
    pub(super) fn new(name: &str, files: OutputFiles) -> Self {
        Sink {
            name: name.to_string(),
            chosen: false,
            files: [files.stdout, files.stderr],
            rotate: files.rotate,
            paths: files.paths,
            spliced: [false; 2],
            sizes: [None, None],
            timestamps: files.timestamps,
            at_line_start: [true, true],
            relay: None,
        }
    }

    /// `data` with the read time before every line that starts in it.
    fn stamped(&mut self, stream: Stream, data: &[u8]) -> Vec<u8> {
        let stamp = format!(
            "{} ",
            crate::sys::time::timestamp(std::time::SystemTime::now())
        );
        let start = &mut self.at_line_start[stream.index()];
        let mut out = Vec::with_capacity(data.len() + stamp.len() * 2);
        for line in data.split_inclusive(|&b| b == b'\n') {
            if *start {
                out.extend_from_slice(stamp.as_bytes());
            }
            out.extend_from_slice(line);
            *start = line.ends_with(b"\n");
        }
        out
    }

    /// Before a write of `incoming` bytes: rotates the stream's file if the write
    /// would take it past its `maxbytes` (a file already empty is never rotated, so
    /// a chunk larger than the limit is still written whole — no byte is lost).
    fn rotate_if_needed(&mut self, stream: Stream, incoming: usize) {
        let i = stream.index();
        let (Some(rot), Some(file)) = (&self.rotate[i], &self.files[i]) else {
            return;
        };
        if rot.maxbytes == 0 {
            return;
        }
        let mut size =
            self.sizes[i].unwrap_or_else(|| file.metadata().map(|m| m.len()).unwrap_or(0));
        if size != 0 && size + incoming as u64 > rot.maxbytes {
            // Asked again before rotating: the file may have been emptied since
            // (`clear`, or truncated by hand), and then it is not full.
            size = file.metadata().map_or(size, |m| m.len());
        }
        self.sizes[i] = Some(size);
        if size == 0 || size + incoming as u64 <= rot.maxbytes {
            return;
        }
        self.rotate_file(i);
    }

    /// Renames the stream's file away and opens a fresh one for every stream that
    /// shared it; on failure warns and writes on past the size.
    fn rotate_file(&mut self, i: usize) {
        let (Some(rot), Some(file)) = (&self.rotate[i], &self.files[i]) else {
            return;
        };
        let old = Arc::clone(file);
        let rotated = rotate_files(&rot.path, rot.backups).and_then(|()| open_append(&rot.path));
        match rotated {
            Ok(new) => {
                let spliced = self.spliced[i] && splice::prepare(&new);
                // Both streams move on to the new file when they shared the old one.
                for j in 0..2 {
                    if self.files[j].as_ref().is_some_and(|f| Arc::ptr_eq(f, &old)) {
                        self.files[j] = Some(Arc::clone(&new));
                        self.sizes[j] = Some(0);
                        self.spliced[j] = spliced;
                    }
                }
            }
            Err(e) => {
                warn!(
                    "{}: cannot rotate {}: {e}; writing on past its size",
                    self.name,
                    rot.path.display()
                );
                self.rotate[i] = None;
            }
        }
    }

    /// Writes the whole chunk (`write_all` retries short writes and EINTR). On
    /// error (disk full, I/O error…) warns once and drops the file — from both
    /// streams when they share it — so a broken file never stalls the child.
    pub(super) fn write(&mut self, stream: Stream, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let stamped;
        let data = if self.timestamps && self.files[stream.index()].is_some() {
            stamped = self.stamped(stream, data);
            &stamped[..]
        } else {
            data
        };
        self.rotate_if_needed(stream, data.len());
        let Some(file) = &self.files[stream.index()] else {
            return;
        };
        // The lock keeps a spliced writer of the same file (another instance's)
        // from writing over these bytes at an end it read before them.
        let lock = FileLock::acquire(file);
        let written = data
            .chunks(WRITE_SLICE)
            .try_for_each(|piece| (&**file).write_all(piece));
        drop(lock);
        if written.is_ok() {
            for (slot, size) in self.files.iter().zip(self.sizes.iter_mut()) {
                if let (Some(f), Some(n)) = (slot, size.as_mut()) {
                    if Arc::ptr_eq(f, file) {
                        *n += data.len() as u64;
                    }
                }
            }
        }
        if let Err(e) = written {
            let file = Arc::clone(file);
            self.give_up(stream, &file, &e.to_string());
        }
    }

    /// Warns once and drops a file that failed — from both streams when they
    /// share it — so a broken file never stalls the child.
    fn give_up(&mut self, stream: Stream, file: &Arc<File>, error: &str) {
        warn!(
            "{}: cannot write {stream} to {}: {error}; no more output goes to that file until the next start",
            self.name,
            describe(file)
        );
        for slot in &mut self.files {
            if slot.as_ref().is_some_and(|f| Arc::ptr_eq(f, file)) {
                *slot = None;
            }
        }
    }

    /// Chooses, for each stream the pump reads, between splicing into its file
    /// and copying, and tells `buffers` where its readers find it. A stream is
    /// spliced when it has a file `splice` can take and nothing needs its bytes in
    /// memory (no timestamps, not a pty).
    pub(super) fn choose(&mut self, streams: &[Stream], copy_only: bool, buffers: &OutputBuffers) {
        if std::mem::replace(&mut self.chosen, true) {
            return;
        }
        for &stream in streams {
            let i = stream.index();
            let splice = !copy_only && !self.timestamps;
            let source = match (&self.files[i], &self.paths[i]) {
                (Some(file), Some(path)) if splice && splice::prepare(file) => {
                    let backups = self.rotate[i].as_ref().map_or(0, |r| r.backups);
                    FileSource::of(file, path, backups)
                }
                _ => None,
            };
            self.spliced[i] = source.is_some();
            buffers.use_file(stream, source);
        }
    }

    /// Whether `stream` goes to its file by splice.
    pub(super) fn is_spliced(&self, stream: Stream) -> bool {
        self.spliced[stream.index()]
    }

    /// Moves what the pipe holds (up to 1 MiB) to the stream's file, rotating
    /// first when the file is full; wakes the stream's followers per batch.
    pub(super) fn splice_from(
        &mut self,
        stream: Stream,
        pipe: impl AsFd,
        buffers: &OutputBuffers,
    ) -> Spliced {
        let i = stream.index();
        loop {
            let Some(file) = self.files[i].clone() else {
                return self.copy_from_now_on(stream, buffers);
            };
            let maxbytes = self.rotate[i].as_ref().map_or(0, |r| r.maxbytes);
            let room = |size: u64| match maxbytes {
                0 => Some(SPLICE_MAX),
                // A file already empty is never rotated; a full one is, first.
                _ if size > 0 && size >= maxbytes => None,
                _ => Some((maxbytes - size).min(SPLICE_MAX as u64) as usize),
            };
            // A large batch goes through the relay (made now if need be); a
            // small one straight, and the relay is given back.
            if splice::queued(&pipe) < splice::RELAY_MIN {
                self.relay = None;
            } else if self.relay.is_none() {
                self.relay = splice::Relay::new();
            }
            let moved = splice::move_to_end(&pipe, &file, SPLICE_MAX, self.relay.as_ref(), room);
            if moved.is_err() {
                self.relay = None;
            }
            match moved {
                Ok(None) => {
                    // Full: rotate, then splice into the new file (or, when the
                    // rotation failed, on past the size: `rotate` is then off).
                    self.rotate_file(i);
                    if !self.spliced[i] {
                        return self.copy_from_now_on(stream, buffers);
                    }
                    self.publish(stream, buffers);
                }
                Ok(Some(Moved::Bytes(count))) => {
                    buffers.moved_to_file(stream);
                    return Spliced::Data(count);
                }
                Ok(Some(Moved::End)) => return Spliced::End,
                Ok(Some(Moved::Empty)) => return Spliced::Again,
                Err(Errno::EINVAL) => {
                    // Nothing was moved: copy instead, with O_APPEND back.
                    splice::restore(&file);
                    return self.copy_from_now_on(stream, buffers);
                }
                Err(e) => {
                    self.give_up(stream, &file, &e.desc().to_lowercase());
                    return self.copy_from_now_on(stream, buffers);
                }
            }
        }
    }

    /// Tells the readers of every stream on the same file as `stream` where it is now.
    fn publish(&self, stream: Stream, buffers: &OutputBuffers) {
        let i = stream.index();
        let (Some(file), Some(path)) = (&self.files[i], &self.paths[i]) else {
            return;
        };
        let backups = self.rotate[i].as_ref().map_or(0, |r| r.backups);
        for other in Stream::ALL {
            let j = other.index();
            if self.spliced[j] && self.files[j].as_ref().is_some_and(|f| Arc::ptr_eq(f, file)) {
                buffers.use_file(other, FileSource::of(file, path, backups));
            }
        }
    }

    /// Switches `stream` (and a stream sharing its file) to the copy path: its
    /// bytes go to the ring again, and to the file if it still has one.
    fn copy_from_now_on(&mut self, stream: Stream, buffers: &OutputBuffers) -> Spliced {
        let i = stream.index();
        for other in Stream::ALL {
            let j = other.index();
            let shared = j == i
                || match (&self.files[i], &self.files[j]) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    _ => false,
                };
            if shared && self.spliced[j] {
                if let Some(file) = &self.files[j] {
                    splice::restore(file);
                }
                self.spliced[j] = false;
                buffers.use_file(other, None);
            }
        }
        Spliced::Copy
    }
}

/// Folds `\r\n` to `\n` across chunk boundaries: a `\r` ending one chunk is held
/// back until the next chunk shows whether a `\n` follows.
#[derive(Debug, Default)]
pub(super) struct CrlfFolder {
    pending_cr: bool,
    /// Reused output buffer, so folding allocates only once.
    out: Vec<u8>,
}

impl CrlfFolder {
    pub(super) fn fold(&mut self, input: &[u8]) -> &[u8] {
        self.out.clear();
        if input.is_empty() {
            return &self.out;
        }
        if self.pending_cr {
            self.pending_cr = false;
            if input[0] != b'\n' {
                self.out.push(b'\r');
            }
        }
        let mut rest = input;
        while let Some(i) = rest.iter().position(|&c| c == b'\r') {
            self.out.extend_from_slice(&rest[..i]);
            match rest.get(i + 1) {
                None => self.pending_cr = true,
                Some(b'\n') => {} // drop the '\r'; the '\n' is copied next round
                Some(_) => self.out.push(b'\r'),
            }
            rest = &rest[i + 1..];
        }
        self.out.extend_from_slice(rest);
        &self.out
    }

    /// A folder that starts holding a `\r` back, or not (an upgrade in place).
    pub(super) fn holding(pending_cr: bool) -> CrlfFolder {
        CrlfFolder {
            pending_cr,
            out: Vec::new(),
        }
    }

    /// Whether a `\r` is held back now.
    pub(super) fn holds_cr(&self) -> bool {
        self.pending_cr
    }

    /// True if a `\r` is still held back (the stream ended right after it).
    pub(super) fn finish(&mut self) -> bool {
        std::mem::take(&mut self.pending_cr)
    }
}
