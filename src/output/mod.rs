//! Child output (README: Output and the event log): pump threads, ring buffers, output files.
//!
//! Each supervised instance owns one [`OutputBuffers`] for its whole life (it
//! survives restarts, so `tail` still shows what the last run printed). While a
//! child runs, one pump thread ([`start_pump`]) drains its pipes or pty master into
//! the configured files ([`OutputFiles`]) and into those buffers. Readers (`tail`,
//! `tail -f`, `attach`) never touch the child's pipes: they only read the buffers,
//! so a slow or absent reader can never block a child.
//!
//! No thread here wakes up periodically: the pump blocks in `poll`/`read`, and
//! followers block on a condition variable that every push notifies.

pub mod files;
pub mod pump;
pub mod ring;

pub use files::{in_shared_directory, OutputFiles, RotatingPath};
pub use pump::{start_pump, PumpSource};
pub use ring::RingBuffer;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

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

    fn index(self) -> usize {
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

/// New output on one stream, as returned to a follower by
/// [`OutputBuffers::wait_since`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub stream: Stream,
    pub data: Vec<u8>,
    /// Bytes the follower missed because they were overwritten before it looked
    /// (it fell more than a ring's capacity behind). `data` follows the gap.
    pub lost: u64,
}

struct Inner {
    rings: [RingBuffer; 2],
    closed: bool,
    /// Bumped by [`OutputBuffers::interrupt`]: followers waiting since an older
    /// generation return, so none misses a wake-up that came between two waits.
    generation: u64,
}

/// The recent output of one instance: a ring per stream, shared by its pump thread
/// (the only writer) and any number of readers and followers.
pub struct OutputBuffers {
    inner: Mutex<Inner>,
    /// Notified on every push and on close; followers wait on it.
    changed: Condvar,
}

impl fmt::Debug for OutputBuffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("OutputBuffers")
            .field("stdout_total", &inner.rings[0].total())
            .field("stderr_total", &inner.rings[1].total())
            .field("closed", &inner.closed)
            .finish()
    }
}

impl OutputBuffers {
    /// Buffers keeping up to `capacity` bytes per stream (allocated as output comes).
    pub fn new(capacity: usize) -> Self {
        OutputBuffers {
            inner: Mutex::new(Inner {
                rings: [RingBuffer::new(capacity), RingBuffer::new(capacity)],
                closed: false,
                generation: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// Appends output and wakes every follower. Holds the lock only for the copy.
    pub fn push(&self, stream: Stream, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.inner.lock().rings[stream.index()].push(data);
        self.changed.notify_all();
    }

    /// Empties both rings (`clear NAME`); followers keep their place.
    pub fn clear(&self) {
        for ring in &mut self.inner.lock().rings {
            ring.clear();
        }
    }

    /// The last `lines` lines of `stream`.
    pub fn tail(&self, stream: Stream, lines: usize) -> Vec<u8> {
        self.inner.lock().rings[stream.index()].last_lines(lines)
    }

    /// The last `lines` lines and the offset right after them, taken atomically, so
    /// `tail -f` can print them and then follow without a gap or a repeat.
    pub fn tail_and_end(&self, stream: Stream, lines: usize) -> (Vec<u8>, u64) {
        let inner = self.inner.lock();
        let ring = &inner.rings[stream.index()];
        (ring.last_lines(lines), ring.total())
    }

    /// Everything held for `stream` and the offset right after it, atomically
    /// (what `attach` replays before going live).
    pub fn snapshot(&self, stream: Stream) -> (Vec<u8>, u64) {
        let inner = self.inner.lock();
        let ring = &inner.rings[stream.index()];
        (ring.contents(), ring.total())
    }

    /// The current end offset of `stream`: follow from here to see only new output.
    pub fn end(&self, stream: Stream) -> u64 {
        self.inner.lock().rings[stream.index()].total()
    }

    /// Blocks until bytes past `offsets[i]` exist on some `streams[i]`, or `timeout`
    /// passes (`None`: no limit), or [`close`](Self::close) was called. Returns the
    /// new bytes per stream (possibly none on timeout) and advances `offsets` past
    /// them. After `close` it returns an empty vector at once.
    ///
    /// `streams` and `offsets` are parallel; extra entries of the longer are ignored.
    pub fn wait_since(
        &self,
        streams: &[Stream],
        offsets: &mut [u64],
        timeout: Option<Duration>,
    ) -> Vec<Chunk> {
        self.wait_inner(streams, offsets, timeout, None)
    }

    /// Like [`wait_since`](Self::wait_since) without a timeout, but also returns
    /// (empty) once `cancel` is set, or once [`interrupt`](Self::interrupt) was called
    /// after [`generation`](Self::generation) returned `since`: how a follower
    /// (`tail -f`, attach) learns that its client went away or its child exited.
    pub fn wait_since_or_cancel(
        &self,
        streams: &[Stream],
        offsets: &mut [u64],
        cancel: &AtomicBool,
        since: u64,
    ) -> Vec<Chunk> {
        self.wait_inner(streams, offsets, None, Some((cancel, since)))
    }

    /// The current interrupt generation, to pass to `wait_since_or_cancel`.
    pub fn generation(&self) -> u64 {
        self.inner.lock().generation
    }

    /// Wakes every follower so it re-checks its cancel flag and what it follows.
    pub fn interrupt(&self) {
        self.inner.lock().generation += 1;
        self.changed.notify_all();
    }

    fn wait_inner(
        &self,
        streams: &[Stream],
        offsets: &mut [u64],
        timeout: Option<Duration>,
        cancel: Option<(&AtomicBool, u64)>,
    ) -> Vec<Chunk> {
        // A timeout too large for an Instant is the same as none.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut inner = self.inner.lock();
        loop {
            let cancelled = cancel
                .is_some_and(|(c, since)| c.load(Ordering::SeqCst) || inner.generation != since);
            if inner.closed || cancelled {
                return Vec::new();
            }
            let mut chunks = Vec::new();
            for (&stream, offset) in streams.iter().zip(offsets.iter_mut()) {
                let ring = &inner.rings[stream.index()];
                if ring.total() > *offset {
                    let (data, lost) = ring.since(*offset);
                    *offset = ring.total();
                    chunks.push(Chunk { stream, data, lost });
                }
            }
            if !chunks.is_empty() {
                return chunks;
            }
            match deadline {
                Some(d) => {
                    if Instant::now() >= d {
                        return chunks;
                    }
                    // Spurious or unrelated wake-ups just loop and re-check.
                    let _ = self.changed.wait_until(&mut inner, d);
                }
                None => self.changed.wait(&mut inner),
            }
        }
    }

    /// Wakes every follower for good: the instance is gone or the daemon is
    /// shutting down. Later pushes are still kept for `tail`, but `wait_since`
    /// returns empty at once from now on.
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.changed.notify_all();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn stream_names_round_trip() {
        for s in Stream::ALL {
            assert_eq!(s.name().parse::<Stream>(), Ok(s));
            assert_eq!(s.to_string(), s.name());
        }
        assert!("stdin".parse::<Stream>().is_err());
    }

    #[test]
    fn tail_and_end_per_stream() {
        let b = OutputBuffers::new(1024);
        b.push(Stream::Stdout, b"a\nb\nc\n");
        b.push(Stream::Stderr, b"oops\n");
        assert_eq!(b.tail(Stream::Stdout, 2), b"b\nc\n");
        assert_eq!(b.tail(Stream::Stderr, 2), b"oops\n");
        assert_eq!(b.end(Stream::Stdout), 6);
        assert_eq!(b.tail_and_end(Stream::Stderr, 1), (b"oops\n".to_vec(), 5));
        assert_eq!(b.snapshot(Stream::Stdout), (b"a\nb\nc\n".to_vec(), 6));
    }

    #[test]
    fn wait_since_returns_what_is_already_there() {
        let b = OutputBuffers::new(4);
        b.push(Stream::Stderr, b"123456");
        let mut offs = [0, 0];
        let got = b.wait_since(&Stream::ALL, &mut offs, None);
        assert_eq!(
            got,
            vec![Chunk {
                stream: Stream::Stderr,
                data: b"3456".to_vec(),
                lost: 2
            }]
        );
        assert_eq!(offs, [0, 6]);
    }

    #[test]
    fn wait_since_wakes_on_push_from_another_thread() {
        let b = Arc::new(OutputBuffers::new(1024));
        let mut offs = [b.end(Stream::Stdout), b.end(Stream::Stderr)];
        let writer = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                b.push(Stream::Stderr, b"late\n");
            })
        };
        let t0 = Instant::now();
        let got = b.wait_since(&Stream::ALL, &mut offs, Some(Duration::from_secs(20)));
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].stream, Stream::Stderr);
        assert_eq!(got[0].data, b"late\n");
        assert_eq!(offs, [0, 5]);
        writer.join().expect("writer");
    }

    #[test]
    fn wait_since_times_out_and_ignores_other_streams() {
        let b = OutputBuffers::new(1024);
        b.push(Stream::Stderr, b"not followed");
        let mut offs = [0];
        let t0 = Instant::now();
        let got = b.wait_since(
            &[Stream::Stdout],
            &mut offs,
            Some(Duration::from_millis(80)),
        );
        assert!(got.is_empty());
        assert!(t0.elapsed() >= Duration::from_millis(80));
        assert_eq!(offs, [0]);
    }

    #[test]
    fn close_wakes_followers_for_good() {
        let b = Arc::new(OutputBuffers::new(1024));
        let follower = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                let mut offs = [0, 0];
                b.wait_since(&Stream::ALL, &mut offs, None)
            })
        };
        thread::sleep(Duration::from_millis(50));
        assert!(!b.is_closed());
        b.close();
        assert!(b.is_closed());
        assert!(follower.join().expect("follower").is_empty());
        // Even with data there, a closed buffer never blocks (a wait with no timeout
        // returns) and returns nothing.
        b.push(Stream::Stdout, b"x");
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = Arc::clone(&b);
        thread::spawn(move || {
            let _ = tx.send(waiter.wait_since(&Stream::ALL, &mut [0, 0], None));
        });
        let got = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a closed buffer's wait returns");
        assert!(got.is_empty());
        assert_eq!(b.tail(Stream::Stdout, 1), b"x");
    }
}
