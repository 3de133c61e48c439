//! A child's first output, handled on its watcher's thread until it proves chatty.
//!
//! A thread per child that printed a line costs two stack pages for as long as
//! the child lives: with a thousand instances that print a banner and go quiet,
//! most of the daemon's memory. So the watcher, which polls the silent pipes
//! anyway (`watch::unpumped`), also takes what trickles out of them — one read
//! into a shared small buffer, or one splice to the file — and starts a pump
//! thread only when a single take fills that buffer: a child writing faster than
//! the watcher wakes. The pump then goes on with the same files, rotation and
//! timestamp state ([`QuietOutput::into_pump`]).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::errno::Errno;

use super::pump::{give_small_buffer, start_pump_with, take_small_buffer, FIRST_READ_BUF};
use super::sink::{Sink, Spliced};
use super::{OutputBuffers, OutputFiles, PumpSource, PumpStartError, Stream};

/// What one take from a pipe gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Some bytes (or none, a spurious wake-up); `chatty` when they filled a
    /// whole small buffer: time for a pump thread.
    Bytes { chatty: bool },
    /// End of stream: the pipe can be closed.
    End,
}

/// The files of one run while its watcher handles its output.
pub struct QuietOutput {
    name: String,
    sink: Sink,
}

impl QuietOutput {
    /// At the run's first output: chooses, for each of `streams`, splice or copy.
    pub fn new(
        name: &str,
        files: OutputFiles,
        streams: &[Stream],
        buffers: &OutputBuffers,
    ) -> Self {
        let mut sink = Sink::new(name, files);
        sink.choose(streams, false, buffers);
        QuietOutput {
            name: name.to_string(),
            sink,
        }
    }

    /// Takes what `pipe` (readable, per `poll`) holds now, at most one small
    /// buffer's worth, into the stream's file or ring. Never blocks on the pipe.
    pub fn take(&mut self, stream: Stream, pipe: &OwnedFd, buffers: &OutputBuffers) -> Taken {
        if self.sink.is_spliced(stream) {
            match self.sink.splice_from(stream, pipe.as_fd(), buffers) {
                Spliced::Data(n) => {
                    return Taken::Bytes {
                        chatty: n >= FIRST_READ_BUF,
                    }
                }
                Spliced::End => return Taken::End,
                Spliced::Again => return Taken::Bytes { chatty: false },
                // Copied from now on: read it below.
                Spliced::Copy => {}
            }
        }
        let mut buf = take_small_buffer();
        let taken = loop {
            match nix::unistd::read(pipe, &mut buf) {
                Ok(0) => break Taken::End,
                Ok(n) => {
                    buffers.push(stream, &buf[..n]);
                    self.sink.write(stream, &buf[..n]);
                    break Taken::Bytes {
                        chatty: n == buf.len(),
                    };
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => break Taken::Bytes { chatty: false },
                Err(e) => {
                    log::warn!(
                        "{}: reading {stream} failed: {e}; no more output is collected from it",
                        self.name
                    );
                    break Taken::End;
                }
            }
        };
        give_small_buffer(buf);
        taken
    }

    /// Hands the pipes still open to a pump thread, which goes on with these files.
    pub fn into_pump(
        self,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
        buffers: Arc<OutputBuffers>,
        drained: Arc<AtomicBool>,
    ) -> Result<JoinHandle<()>, PumpStartError> {
        let source = PumpSource::Pipes { stdout, stderr };
        start_pump_with(&self.name, source, self.sink, buffers, drained)
    }
}
