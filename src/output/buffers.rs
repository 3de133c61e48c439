//! [`OutputBuffers`]: one instance's recent output as its readers see it — a ring
//! per stream, or, while a stream goes to a file by `splice`, that file.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::file_tail::{self, FileCursor, FileFollow, FileSource};
use super::ring::RingBuffer;
use super::Stream;

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

/// A follower's place in one stream: an offset in its ring, and its place in the
/// stream's file while the stream goes to a file.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    ring: u64,
    /// The stream's file change count last looked at.
    seen: u64,
    file: FileFollow,
}

impl Cursor {
    /// A place in the ring: stream offset `ring`.
    pub fn at(ring: u64) -> Cursor {
        Cursor {
            ring,
            ..Cursor::default()
        }
    }

    /// Steps back `n` bytes, to read again a partial line that was held back.
    pub fn back(&mut self, n: u64) {
        match &mut self.file.cursor {
            Some(file) => file.offset = file.offset.saturating_sub(n),
            None => self.ring = self.ring.saturating_sub(n),
        }
    }

    /// The ring offset (for tests and messages).
    pub fn ring_offset(&self) -> u64 {
        self.ring
    }
}

/// The last lines of a stream and where a follower goes on from.
#[derive(Debug)]
pub struct Tail {
    pub text: Vec<u8>,
    pub cursor: Cursor,
    /// Why the stream's file could not be read (deleted, moved away…).
    pub problem: Option<String>,
}

struct StreamState {
    ring: RingBuffer,
    /// Set while the stream's bytes go to this file only: readers read the file.
    file: Option<Arc<FileSource>>,
    /// Bumped for every batch moved to the file and every change of file: what
    /// followers of a file-backed stream wait on (no byte is copied here).
    file_changes: u64,
    /// `Inner::writes` at this stream's latest output: which stream spoke last
    /// (`top`'s last line).
    last_write: u64,
}

struct Inner {
    streams: [StreamState; 2],
    closed: bool,
    /// Bumped by [`OutputBuffers::interrupt`]: followers waiting since an older
    /// generation return, so none misses a wake-up that came between two waits.
    generation: u64,
    /// Output batches so far, both streams: orders their `last_write`.
    writes: u64,
}

impl Inner {
    /// Records that `stream` just got output.
    fn wrote(&mut self, stream: Stream) {
        self.writes += 1;
        self.streams[stream.index()].last_write = self.writes;
    }
}

/// The recent output of one instance: a ring per stream, shared by its pump thread
/// (the only writer) and any number of readers and followers.
pub struct OutputBuffers {
    inner: Mutex<Inner>,
    /// Notified on every push and on close; followers wait on it.
    changed: Condvar,
    /// A pty's pump holds back a `\r` (to see whether `\n` follows): handed
    /// over by an upgrade in place, so the next pump starts with it.
    pub held_cr: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for OutputBuffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("OutputBuffers")
            .field("stdout_total", &inner.streams[0].ring.total())
            .field("stderr_total", &inner.streams[1].ring.total())
            .field("closed", &inner.closed)
            .finish()
    }
}

impl OutputBuffers {
    /// Buffers keeping up to `capacity` bytes per stream (allocated as output comes).
    pub fn new(capacity: usize) -> Self {
        let stream = || StreamState {
            ring: RingBuffer::new(capacity),
            file: None,
            file_changes: 0,
            last_write: 0,
        };
        OutputBuffers {
            inner: Mutex::new(Inner {
                streams: [stream(), stream()],
                closed: false,
                generation: 0,
                writes: 0,
            }),
            changed: Condvar::new(),
            held_cr: Default::default(),
        }
    }

    /// Appends output and wakes every follower. Holds the lock only for the copy.
    pub fn push(&self, stream: Stream, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        inner.streams[stream.index()].ring.push(data);
        inner.wrote(stream);
        drop(inner);
        self.changed.notify_all();
    }

    /// Empties both rings (`clear NAME`); followers keep their place.
    pub fn clear(&self) {
        for state in &mut self.inner.lock().streams {
            state.ring.clear();
        }
    }

    /// From now on `stream` goes to `source` only (`None`: to the ring again).
    pub fn use_file(&self, stream: Stream, source: Option<FileSource>) {
        let mut inner = self.inner.lock();
        let state = &mut inner.streams[stream.index()];
        state.file = source.map(Arc::new);
        state.file_changes += 1;
        drop(inner);
        self.changed.notify_all();
    }

    /// A batch went to `stream`'s file: wakes its followers, who read it there.
    pub fn moved_to_file(&self, stream: Stream) {
        let mut inner = self.inner.lock();
        inner.streams[stream.index()].file_changes += 1;
        inner.wrote(stream);
        drop(inner);
        self.changed.notify_all();
    }

    /// Whether `stream` currently goes to a file only.
    pub fn file_of(&self, stream: Stream) -> Option<FileSource> {
        let inner = self.inner.lock();
        inner.streams[stream.index()].file.as_deref().cloned()
    }

    /// The last `lines` lines of `stream` (from its file while it has one; empty
    /// if that file cannot be read).
    pub fn tail(&self, stream: Stream, lines: usize) -> Vec<u8> {
        self.tail_and_end(stream, lines).text
    }

    /// The last `lines` lines and the place right after them, taken together, so
    /// `tail -f` can print them and then follow without a gap or a repeat. A stream
    /// that goes to a file is read from the file (at most `tail_buffer` bytes).
    pub fn tail_and_end(&self, stream: Stream, lines: usize) -> Tail {
        let (source, ring_tail, ring_end, capacity, seen) = {
            let inner = self.inner.lock();
            let state = &inner.streams[stream.index()];
            let ring = &state.ring;
            let ring_tail = match state.file {
                None => ring.last_lines(lines),
                Some(_) => Vec::new(),
            };
            (
                state.file.clone(),
                ring_tail,
                ring.total(),
                ring.capacity(),
                state.file_changes,
            )
        };
        let mut cursor = Cursor {
            ring: ring_end,
            seen,
            ..Cursor::default()
        };
        let Some(source) = source else {
            return Tail {
                text: ring_tail,
                cursor,
                problem: None,
            };
        };
        match file_tail::last_lines(&source, lines, capacity) {
            Ok((text, file, size)) => {
                cursor.file.cursor = Some(FileCursor::new(file, &source, size));
                Tail {
                    text,
                    cursor,
                    problem: None,
                }
            }
            Err(problem) => {
                cursor.file.told_gone = true;
                Tail {
                    text: Vec::new(),
                    cursor,
                    problem: Some(problem),
                }
            }
        }
    }

    /// At most the last `max` bytes of the stream that got output last (stdout on
    /// a tie): read from the ring under its lock, or from the stream's file
    /// outside it (empty when that file cannot be read). What `top` takes its
    /// last line from, so it never copies more than `max` bytes an instance.
    pub fn newest(&self, max: usize) -> Vec<u8> {
        let source = {
            let inner = self.inner.lock();
            let [out, err] = &inner.streams;
            let state = if err.last_write > out.last_write {
                err
            } else {
                out
            };
            match &state.file {
                Some(source) => Arc::clone(source),
                None => return state.ring.last_bytes(max),
            }
        };
        file_tail::last_lines(&source, 1, max)
            .map(|(text, _, _)| text)
            .unwrap_or_default()
    }

    /// Everything the ring holds for `stream` and the offset right after it,
    /// atomically.
    pub fn snapshot(&self, stream: Stream) -> (Vec<u8>, u64) {
        let inner = self.inner.lock();
        let ring = &inner.streams[stream.index()].ring;
        (ring.contents(), ring.total())
    }

    /// The current end offset of `stream`'s ring.
    pub fn end(&self, stream: Stream) -> u64 {
        self.inner.lock().streams[stream.index()].ring.total()
    }

    /// Bytes of ring storage allocated, both streams (for memory checks).
    pub fn allocated(&self) -> usize {
        let inner = self.inner.lock();
        inner.streams.iter().map(|s| s.ring.allocated()).sum()
    }

    /// Blocks until bytes past `cursors[i]` exist on some `streams[i]`, or `timeout`
    /// passes (`None`: no limit), or [`close`](Self::close) was called. Returns the
    /// new bytes per stream (possibly none on timeout) and advances `cursors` past
    /// them. After `close` it returns an empty vector at once.
    ///
    /// `streams` and `cursors` are parallel; extra entries of the longer are ignored.
    pub fn wait_since(
        &self,
        streams: &[Stream],
        cursors: &mut [Cursor],
        timeout: Option<Duration>,
    ) -> Vec<Chunk> {
        self.wait_inner(streams, cursors, timeout, None)
    }

    /// Like [`wait_since`](Self::wait_since) without a timeout, but also returns
    /// (empty) once `cancel` is set, or once [`interrupt`](Self::interrupt) was called
    /// after [`generation`](Self::generation) returned `since`: how a follower
    /// (`tail -f`, attach) learns that its client went away or its child exited.
    pub fn wait_since_or_cancel(
        &self,
        streams: &[Stream],
        cursors: &mut [Cursor],
        cancel: &AtomicBool,
        since: u64,
    ) -> Vec<Chunk> {
        self.wait_inner(streams, cursors, None, Some((cancel, since)))
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
        cursors: &mut [Cursor],
        timeout: Option<Duration>,
        cancel: Option<(&AtomicBool, u64)>,
    ) -> Vec<Chunk> {
        // A timeout too large for an Instant is the same as none.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let mut chunks = Vec::new();
            // Streams whose file has news: read outside the lock, so neither the
            // pump nor other readers wait for this one's disk reads.
            let mut due = Vec::new();
            {
                let mut inner = self.inner.lock();
                loop {
                    let cancelled = cancel.is_some_and(|(c, since)| {
                        c.load(Ordering::SeqCst) || inner.generation != since
                    });
                    if inner.closed || cancelled {
                        return Vec::new();
                    }
                    for (i, (&stream, cursor)) in streams.iter().zip(cursors.iter_mut()).enumerate()
                    {
                        let state = &inner.streams[stream.index()];
                        match &state.file {
                            Some(source) => {
                                if state.file_changes != cursor.seen || cursor.file.behind {
                                    cursor.seen = state.file_changes;
                                    due.push((i, Arc::clone(source)));
                                }
                            }
                            None => {
                                cursor.file.cursor = None;
                                let ring = &state.ring;
                                if ring.total() > cursor.ring {
                                    let (data, lost) = ring.since(cursor.ring);
                                    cursor.ring = ring.total();
                                    chunks.push(Chunk { stream, data, lost });
                                }
                            }
                        }
                    }
                    if !chunks.is_empty() || !due.is_empty() {
                        break;
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
            for (i, source) in due {
                let data = cursors[i].file.read_since(&source);
                if !data.is_empty() {
                    chunks.push(Chunk {
                        stream: streams[i],
                        data,
                        lost: 0,
                    });
                }
            }
            if !chunks.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
                return chunks;
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
#[path = "buffers_tests.rs"]
mod tests;
