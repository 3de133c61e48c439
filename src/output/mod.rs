//! Child output (README: Output and the event log): pump threads, ring buffers, output files.
//!
//! Each supervised instance owns one [`OutputBuffers`] for its whole life (it
//! survives restarts, so `tail` still shows what the last run printed). While a
//! child runs, one pump thread ([`start_pump`]) drains its pipes or pty master. A
//! stream with a file of its own (no timestamps, no pty) is moved pipe → file
//! inside the kernel (`splice`), and its readers read that file's end
//! ([`file_tail`]); every other stream (discarded, timestamped, a pty) is copied
//! into a ring buffer, and to its file if it has one. Readers (`tail`, `tail -f`,
//! `attach`) never touch the child's pipes, so a slow or absent reader can never
//! block a child.
//!
//! No thread here wakes up periodically: the pump blocks in `poll`/`read`/`splice`,
//! and followers block on a condition variable that every push, and every batch
//! moved to a file, notifies.

mod buffers;
pub mod exec_gate;
pub mod file_tail;
pub mod files;
pub mod printable;
pub mod pump;
pub mod quiet;
pub mod ring;
mod sink;
mod splice;

pub use buffers::{Chunk, Cursor, OutputBuffers, Tail};
pub use file_tail::{FileCursor, FileSource};
pub use files::{in_shared_directory, OutputFiles, RotatingPath};
pub use pump::{start_pump, PumpSource, PumpStartError};
pub use quiet::{QuietOutput, Taken};
pub use ring::RingBuffer;

use std::fmt;
use std::str::FromStr;

/// One of a child's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// Both streams, in a fixed order.
    pub const ALL: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

    /// The name used in commands and messages.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The text given was neither `stdout` nor `stderr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseStreamError(pub String);

impl fmt::Display for ParseStreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown stream '{}' (expected stdout or stderr)", self.0)
    }
}

impl std::error::Error for ParseStreamError {}

impl FromStr for Stream {
    type Err = ParseStreamError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stdout" => Ok(Stream::Stdout),
            "stderr" => Ok(Stream::Stderr),
            other => Err(ParseStreamError(other.to_string())),
        }
    }
}
