//! The pump thread: drains one child's output into its files and ring buffers.
//!
//! A child must never block because nobody reads its output, and a flood of
//! gigabytes must land whole in its file. So the pump reads as fast as the child
//! writes, one 64 KiB chunk at a time, blocking in `poll`/`read` (never waking up
//! periodically), and hands every chunk to the ring buffer (a short memcpy under the
//! lock) and then to the file (outside the lock, so `tail -f` and `attach` never wait
//! for the disk).
//!
//! Through a pty the child's `\n` arrives as `\r\n` (ONLCR): the ring buffer keeps the
//! bytes as the terminal would show them (for `attach`), the file gets `\r\n` folded
//! back to `\n`.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use log::warn;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::files::{describe, open_append, rotate_files, RotatingPath};
use super::{OutputBuffers, OutputFiles, Stream};

/// Size of the read buffer (on the heap: pump stacks are small).
const READ_BUF: usize = 1024 * 1024;
/// The pipe capacity asked for a chatty child (the unprivileged maximum by
/// default, `/proc/sys/fs/pipe-max-size`).
const BIG_PIPE: i32 = 1024 * 1024;
/// What a pump reads with (a shared buffer) until its child proves chatty.
const FIRST_READ_BUF: usize = 4 * 1024;
/// Largest single write to an output file. A chunk read from a chatty child (up to
/// `READ_BUF`) is written in pieces this size: measured on our 2-CPU VM, 1 GiB
/// through 1 MiB writes ran at 0.5–1.1 GB/s (the copy into the page cache
/// dominated, ~9× slower than a normal copy), through 64 KiB writes at 2.0–2.5
/// GB/s, with 128 KiB and 16–32 KiB in between. Our reading: large writes get
/// large page-cache folios, which only the free blocks the VM hands back to its
/// host can supply, so each first touch faults in the hypervisor. A syscall per
/// 64 KiB costs nothing measurable either way.
const WRITE_SLICE: usize = 64 * 1024;

/// What the pump reads from. The pump owns (and finally closes) these descriptors;
/// the daemon must have dropped its copies of the write ends / pty slave, or the
/// pump never sees the end of the stream.
#[derive(Debug)]
pub enum PumpSource {
    /// Read ends of the child's stdout and stderr pipes (`None`: that one already
    /// ended, see `watch::unpumped`).
    Pipes {
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
    },
    /// A pty master; everything read counts as stdout. Shared with attach (input,
    /// window size): the child's one handle on it.
    Pty { master: Arc<OwnedFd> },
}

/// Starts the pump thread for instance `name`. It ends (and drops the descriptors
/// and files) once every source reached end of stream: EOF on a pipe; for a pty
/// master also `EIO`, which is how Linux reports that the slave side is gone.
///
/// A failed write to a file is logged once with `log::warn!` (naming the instance
/// and the file) and that file is skipped from then on; the pump keeps draining.
/// `drained` is set once every byte of the child's output is in the buffers (end
/// of stream on every source), and followers are woken then, so an attach session
/// can deliver a program's last words before reporting its exit.
pub fn start_pump(
    name: &str,
    source: PumpSource,
    files: OutputFiles,
    buffers: Arc<OutputBuffers>,
    drained: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, PumpStartError> {
    let name = name.to_string();
    // A thread name with a NUL byte makes spawn panic; config names are user text.
    let thread_name = format!("pump:{}", name.replace('\0', "?"));
    thread::Builder::new()
        .name(thread_name)
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(move || {
            // Whatever happens here, `drained` must be set: attach sessions wait
            // for it before they report the child's exit.
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&name, source, files, &buffers)
            }));
            if run.is_err() {
                log::error!(
                    "{name}: internal error in its output thread; its further output is lost"
                );
            }
            drained.store(true, Ordering::SeqCst);
            buffers.interrupt();
        })
        .map_err(PumpStartError)
}

/// No thread could be created for a child's output; in practice the process's
/// thread limit, which is what the message points the user to.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the output thread: {0} (thread limit reached? see `ulimit -u`)")]
pub struct PumpStartError(io::Error);

/// One descriptor being drained.
struct Input {
    stream: Stream,
    fd: Arc<OwnedFd>,
    /// A pty master: `EIO` means end of stream, and file output is CRLF-folded.
    pty: bool,
}

enum ReadOutcome {
    Data(usize),
    End,
    /// Only for a descriptor someone made non-blocking: poll before reading again.
    Again,
}

fn run(name: &str, source: PumpSource, files: OutputFiles, buffers: &OutputBuffers) {
    let mut sink = Sink::new(name, files);
    let mut folder = CrlfFolder::default();
    let mut inputs = match source {
        PumpSource::Pipes { stdout, stderr } => {
            [(Stream::Stdout, stdout), (Stream::Stderr, stderr)]
                .into_iter()
                .filter_map(|(stream, fd)| {
                    fd.map(|fd| Input {
                        stream,
                        fd: Arc::new(fd),
                        pty: false,
                    })
                })
                .collect()
        }
        PumpSource::Pty { master } => vec![Input {
            stream: Stream::Stdout,
            fd: master,
            pty: true,
        }],
    };
    // Reads go into a small shared buffer until the child fills one; only then
    // does the pump get a buffer of its own, growing with the child's output.
    let mut own: Vec<u8> = Vec::new();
    // With a single descriptor left a blocking read is enough: one syscall per
    // chunk instead of two.
    let mut must_poll = inputs.len() > 1;
    let mut poll_failed = false;

    while !inputs.is_empty() {
        let ready = if must_poll {
            match wait_readable(&inputs) {
                Ok(ready) => ready,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    // Cannot happen in practice (ENOMEM); fall back to reading in
                    // turn rather than spinning or giving up on the child.
                    if !poll_failed {
                        warn!("{name}: poll on output failed: {e}; reading in turn");
                        poll_failed = true;
                    }
                    [true; 2]
                }
            }
        } else {
            [true; 2]
        };

        let mut ended = [false; 2];
        let mut again = false;
        for (i, input) in inputs.iter().enumerate() {
            if !ready[i] {
                continue;
            }
            let mut small = own.is_empty().then(take_small_buffer);
            let buf: &mut [u8] = match small.as_mut() {
                Some(small) => small,
                None => &mut own,
            };
            let mut grow_to = None;
            match read_some(name, input, buf) {
                ReadOutcome::Data(n) => {
                    let full = n == buf.len();
                    let data = &buf[..n];
                    buffers.push(input.stream, data);
                    if input.pty {
                        sink.write(input.stream, folder.fold(data));
                    } else {
                        sink.write(input.stream, data);
                    }
                    if full && buf.len() < READ_BUF {
                        // A chatty child: read in larger chunks (4 KiB, 64 KiB, then
                        // 1 MiB) and, at the last step, let it write larger ones (a
                        // bigger pipe means fewer wake-ups for both).
                        grow_to = Some((buf.len() * 16).min(READ_BUF));
                    }
                }
                ReadOutcome::End => ended[i] = true,
                ReadOutcome::Again => again = true,
            }
            if let Some(small) = small {
                give_small_buffer(small);
            }
            if let Some(len) = grow_to {
                own.resize(len, 0);
                if len == READ_BUF {
                    inputs.iter().for_each(|input| grow_pipe(&input.fd));
                }
            }
        }
        for i in (0..inputs.len()).rev() {
            if ended[i] {
                inputs.remove(i);
            }
        }
        must_poll = inputs.len() > 1 || again;
    }

    // A '\r' held back at the very end was not followed by '\n': keep it.
    if folder.finish() {
        sink.write(Stream::Stdout, b"\r");
    }
}

/// Small read buffers shared by the pumps of children that print now and then: a
/// pump borrows one for each read, so a thousand mostly quiet pumps hold a few
/// buffers between them instead of 4 KiB each. Pumps of chatty children read into
/// buffers of their own. The mutex is a leaf, held for a push or a pop.
static SMALL_BUFFERS: parking_lot::Mutex<Vec<Box<[u8]>>> = parking_lot::Mutex::new(Vec::new());
/// How many idle small buffers are kept (more pumps than this reading at the same
/// instant allocate, and free, their own).
const SMALL_BUFFERS_KEPT: usize = 16;

fn take_small_buffer() -> Box<[u8]> {
    let pooled = SMALL_BUFFERS.lock().pop();
    pooled.unwrap_or_else(|| vec![0u8; FIRST_READ_BUF].into_boxed_slice())
}

fn give_small_buffer(buf: Box<[u8]>) {
    let mut pool = SMALL_BUFFERS.lock();
    if pool.len() < SMALL_BUFFERS_KEPT {
        pool.push(buf);
    }
}

/// Blocks until at least one input is readable (or hung up); which ones are.
fn wait_readable(inputs: &[Input]) -> Result<[bool; 2], Errno> {
    let mut fds: Vec<PollFd> = inputs
        .iter()
        .map(|i| PollFd::new(i.fd.as_fd(), PollFlags::POLLIN))
        .collect();
    poll(&mut fds, PollTimeout::NONE)?;
    let mut ready = [false; 2];
    for (slot, fd) in ready.iter_mut().zip(&fds) {
        // HUP/ERR/NVAL are ready too: the read then reports EOF or the error.
        *slot = fd.revents().is_some_and(|r| !r.is_empty());
    }
    Ok(ready)
}

/// Best effort: a pipe may not grow past the per-user limit of pipe memory, and a
/// pty is no pipe at all; either way the pump just goes on with what it has.
fn grow_pipe(fd: &OwnedFd) {
    let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(BIG_PIPE));
}

fn read_some(name: &str, input: &Input, buf: &mut [u8]) -> ReadOutcome {
    loop {
        match nix::unistd::read(&input.fd, buf) {
            Ok(0) => return ReadOutcome::End,
            Ok(n) => return ReadOutcome::Data(n),
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return ReadOutcome::Again,
            Err(Errno::EIO) if input.pty => return ReadOutcome::End,
            Err(e) => {
                warn!(
                    "{name}: reading {} failed: {e}; no more output is collected from it",
                    input.stream
                );
                return ReadOutcome::End;
            }
        }
    }
}

/// The files of one run, with the "warn once, then skip" policy for write errors.
struct Sink<'a> {
    name: &'a str,
    files: [Option<Arc<File>>; 2],
    rotate: [Option<RotatingPath>; 2],
    /// Bytes in each stream's file, learnt from the file at its first write.
    sizes: [Option<u64>; 2],
    timestamps: bool,
    /// Whether the next byte of each stream starts a line (for `timestamps`).
    at_line_start: [bool; 2],
}

impl<'a> Sink<'a> {
    fn new(name: &'a str, files: OutputFiles) -> Self {
        Sink {
            name,
            files: [files.stdout, files.stderr],
            rotate: files.rotate,
            sizes: [None, None],
            timestamps: files.timestamps,
            at_line_start: [true, true],
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
        let old = Arc::clone(file);
        let rotated = rotate_files(&rot.path, rot.backups).and_then(|()| open_append(&rot.path));
        match rotated {
            Ok(new) => {
                // Both streams move on to the new file when they shared the old one.
                for (slot, size) in self.files.iter_mut().zip(self.sizes.iter_mut()) {
                    if slot.as_ref().is_some_and(|f| Arc::ptr_eq(f, &old)) {
                        *slot = Some(Arc::clone(&new));
                        *size = Some(0);
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
    fn write(&mut self, stream: Stream, data: &[u8]) {
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
        let written = data
            .chunks(WRITE_SLICE)
            .try_for_each(|piece| (&**file).write_all(piece));
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
            warn!(
                "{}: cannot write {stream} to {}: {e}; no more output goes to that file until the next start",
                self.name,
                describe(&file)
            );
            for slot in &mut self.files {
                if slot.as_ref().is_some_and(|f| Arc::ptr_eq(f, &file)) {
                    *slot = None;
                }
            }
        }
    }
}

/// Folds `\r\n` to `\n` across chunk boundaries: a `\r` ending one chunk is held
/// back until the next chunk shows whether a `\n` follows.
#[derive(Debug, Default)]
struct CrlfFolder {
    pending_cr: bool,
    /// Reused output buffer, so folding allocates only once.
    out: Vec<u8>,
}

impl CrlfFolder {
    fn fold(&mut self, input: &[u8]) -> &[u8] {
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

    /// True if a `\r` is still held back (the stream ended right after it).
    fn finish(&mut self) -> bool {
        std::mem::take(&mut self.pending_cr)
    }
}

#[cfg(test)]
#[path = "pump_tests.rs"]
mod tests;
