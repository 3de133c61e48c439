//! The pump thread: drains one child's output into its files and ring buffers.
//!
//! A child must never block because nobody reads its output, and a flood of
//! gigabytes must land whole in its file. So the pump takes what the child writes
//! as fast as it comes, blocking in `poll`/`read`/`splice` (never waking up
//! periodically). A stream with a file of its own is moved pipe → file by
//! `splice` (`sink.rs`): no byte passes through the pump's memory, and followers
//! are woken per batch to read the file. Any other stream is read, one chunk at a
//! time, into the ring buffer (a short memcpy under the lock) and then written to
//! its file if it has one (outside the lock, so `tail -f` and `attach` never wait
//! for the disk).
//!
//! Through a pty the child's `\n` arrives as `\r\n` (ONLCR): the ring buffer keeps the
//! bytes as the terminal would show them (for `attach`), the file gets `\r\n` folded
//! back to `\n`.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use log::warn;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::sink::{CrlfFolder, Sink, Spliced};
use super::{OutputBuffers, OutputFiles, Stream};

/// Size of the read buffer (on the heap: pump stacks are small).
const READ_BUF: usize = 1024 * 1024;
/// The pipe capacity asked for a chatty child (the unprivileged maximum by
/// default, `/proc/sys/fs/pipe-max-size`).
const BIG_PIPE: i32 = 1024 * 1024;
/// What a pump reads with (a shared buffer) until its child proves chatty.
pub(super) const FIRST_READ_BUF: usize = 4 * 1024;
/// A splice this large filled a default pipe: the child is chatty.
const DEFAULT_PIPE: usize = 64 * 1024;

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
    start_pump_with(name, source, Sink::new(name, files), buffers, drained)
}

/// [`start_pump`] going on with the files of a run whose first output was
/// already handled (`quiet.rs`): same streams, same rotation and timestamp state.
pub(super) fn start_pump_with(
    name: &str,
    source: PumpSource,
    sink: Sink,
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
                run(&name, source, sink, &buffers)
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
pub(super) struct Input {
    pub(super) stream: Stream,
    pub(super) fd: Arc<OwnedFd>,
    /// A pty master: `EIO` means end of stream, and file output is CRLF-folded.
    pub(super) pty: bool,
}

pub(super) enum ReadOutcome {
    Data(usize),
    End,
    /// Only for a descriptor someone made non-blocking: poll before reading again.
    Again,
}

fn run(name: &str, source: PumpSource, mut sink: Sink, buffers: &OutputBuffers) {
    let pty = matches!(source, PumpSource::Pty { .. });
    // A pty's held-back `\r` is handed from the pump before an upgrade in place.
    let mut folder = CrlfFolder::holding(pty && buffers.held_cr.swap(false, Ordering::SeqCst));
    let mut inputs: Vec<Input> = match source {
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
    let streams: Vec<Stream> = inputs.iter().map(|i| i.stream).collect();
    sink.choose(&streams, pty, buffers);
    // Reads go into a small shared buffer until the child fills one; only then
    // does the pump get a buffer of its own, growing with the child's output.
    let mut own: Vec<u8> = Vec::new();
    let mut grown = false;
    // A read is only made once `poll` said it will not block: a blocking read
    // would sit inside the upgrade's gate (below), which could then never close.
    let mut poll_failed = false;

    while !inputs.is_empty() {
        let ready = match wait_readable(&inputs) {
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
        };

        // Everything done to the descriptors, up to closing an ended one, is
        // done inside the upgrade's gate: no byte is ever held here across an exec.
        let _inside = super::exec_gate::enter();
        let mut ended = [false; 2];
        for (i, input) in inputs.iter().enumerate() {
            if !ready[i] {
                continue;
            }
            if sink.is_spliced(input.stream) {
                match sink.splice_from(input.stream, &input.fd, buffers) {
                    Spliced::Data(n) => {
                        if n >= DEFAULT_PIPE && !grown {
                            grown = true;
                            inputs.iter().for_each(|input| grow_pipe(&input.fd));
                        }
                    }
                    Spliced::End => ended[i] = true,
                    Spliced::Again => {}
                    // Read and copied from the next round on.
                    Spliced::Copy => {}
                }
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
                ReadOutcome::Again => {}
            }
            if let Some(small) = small {
                give_small_buffer(small);
            }
            if let Some(len) = grow_to {
                own.resize(len, 0);
                if len == READ_BUF && !grown {
                    grown = true;
                    inputs.iter().for_each(|input| grow_pipe(&input.fd));
                }
            }
        }
        for i in (0..inputs.len()).rev() {
            if ended[i] {
                inputs.remove(i);
            }
        }
        if pty {
            buffers.held_cr.store(folder.holds_cr(), Ordering::SeqCst);
        }
    }
    buffers.held_cr.store(false, Ordering::SeqCst);

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

pub(super) fn take_small_buffer() -> Box<[u8]> {
    let pooled = SMALL_BUFFERS.lock().pop();
    pooled.unwrap_or_else(|| vec![0u8; FIRST_READ_BUF].into_boxed_slice())
}

pub(super) fn give_small_buffer(buf: Box<[u8]>) {
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

pub(super) fn read_some(name: &str, input: &Input, buf: &mut [u8]) -> ReadOutcome {
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

#[cfg(test)]
#[path = "pump_tests.rs"]
mod tests;
