//! A fixed-capacity byte ring that keeps the most recent output of one stream.
//!
//! Thousands of instances each own two of these, and most programs print little, so
//! the storage grows only as output arrives (never allocated up front) and stops
//! growing at `capacity`; from then on new bytes overwrite the oldest ones.
//!
//! Every byte ever pushed has a stream offset (`0, 1, 2, …`); `total()` is the offset
//! of the next byte. Followers (`tail -f`, `attach`) remember an offset and ask for
//! what came after it, and learn how much they missed when they fell behind.

/// The last `capacity` bytes of a stream, plus the count of all bytes ever pushed.
#[derive(Debug, Clone)]
pub struct RingBuffer {
    /// Grows (in doubling steps, never past `capacity`) until full, then wraps.
    buf: Vec<u8>,
    capacity: usize,
    /// Index in `buf` of the oldest byte; stays 0 until `buf` is full.
    head: usize,
    /// Bytes ever pushed: the stream offset one past the newest byte.
    total: u64,
}

/// First allocation size, so a program printing a few short lines does not make
/// the vector reallocate for every line. Small, because the common case is a
/// thousand instances that each print a line or two at start-up: 4 KiB here was
/// 4 MiB of RSS (a touched page per ring), 256 bytes is a quarter of one; a
/// chatty program pays four extra doublings on its way to 4 KiB.
const MIN_ALLOC: usize = 256;

impl RingBuffer {
    /// An empty ring that will keep at most `capacity` bytes. Allocates nothing.
    pub fn new(capacity: usize) -> Self {
        RingBuffer {
            buf: Vec::new(),
            capacity,
            head: 0,
            total: 0,
        }
    }

    /// The most bytes this ring keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes of storage currently allocated (grows lazily up to `capacity`).
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes currently held (at most `capacity`).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends `data`, dropping the oldest bytes beyond `capacity`.
    pub fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        if self.capacity == 0 || data.is_empty() {
            return;
        }
        // Only the last `capacity` bytes of a big chunk can survive anyway.
        let mut data = &data[data.len().saturating_sub(self.capacity)..];

        // Filling phase: the vector grows, the oldest byte is at index 0.
        if self.buf.len() < self.capacity {
            let take = (self.capacity - self.buf.len()).min(data.len());
            self.reserve_for(take);
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if data.is_empty() {
                return;
            }
        }

        // Wrapping phase: `buf` is full and `data.len() <= capacity`; overwrite
        // from the oldest byte on, continuing at the start of the vector.
        let first = (self.capacity - self.head).min(data.len());
        self.buf[self.head..self.head + first].copy_from_slice(&data[..first]);
        let rest = data.len() - first;
        self.buf[..rest].copy_from_slice(&data[first..]);
        self.head = (self.head + data.len()) % self.capacity;
    }

    /// Grows the allocation for `extra` more bytes: at least doubling (so pushes
    /// stay amortised O(1)) but never beyond `capacity`, which `Vec`'s own growth
    /// policy would not respect.
    fn reserve_for(&mut self, extra: usize) {
        let needed = self.buf.len() + extra;
        if needed <= self.buf.capacity() {
            return;
        }
        let target = needed
            .max(self.buf.capacity().saturating_mul(2))
            .max(MIN_ALLOC)
            .min(self.capacity);
        self.buf.reserve_exact(target - self.buf.len());
    }

    /// Forgets the bytes held (`clear`), keeping the stream offsets: a follower
    /// goes on from where it was, and a reader sees nothing older than this.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.head = 0;
    }

    /// Bytes ever pushed: a stream offset to follow from.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The stream offset of the oldest byte still held.
    pub fn oldest(&self) -> u64 {
        self.total - self.buf.len() as u64
    }

    /// The held bytes as (older part, newer part), oldest first.
    fn slices(&self) -> (&[u8], &[u8]) {
        (&self.buf[self.head..], &self.buf[..self.head])
    }

    /// Copies the held bytes from logical index `from` (0 = oldest) to the end.
    fn copy_from(&self, from: usize) -> Vec<u8> {
        let (a, b) = self.slices();
        let mut out = Vec::with_capacity(a.len() + b.len() - from.min(a.len() + b.len()));
        if from < a.len() {
            out.extend_from_slice(&a[from..]);
            out.extend_from_slice(b);
        } else {
            out.extend_from_slice(&b[(from - a.len()).min(b.len())..]);
        }
        out
    }

    /// Everything held, oldest to newest.
    pub fn contents(&self) -> Vec<u8> {
        self.copy_from(0)
    }

    /// The last `max` bytes held (all of them when fewer).
    pub fn last_bytes(&self, max: usize) -> Vec<u8> {
        self.copy_from(self.buf.len().saturating_sub(max))
    }

    /// The bytes pushed at or after stream offset `offset`, and how many bytes
    /// between `offset` and the oldest byte held were already overwritten (lost).
    /// An offset at or past `total()` yields nothing.
    pub fn since(&self, offset: u64) -> (Vec<u8>, u64) {
        if offset >= self.total {
            return (Vec::new(), 0);
        }
        let oldest = self.oldest();
        if offset < oldest {
            return (self.contents(), oldest - offset);
        }
        // offset - oldest < len <= capacity, so it fits in usize.
        (self.copy_from((offset - oldest) as usize), 0)
    }

    /// The last `n` lines held. A line ends with `'\n'`; a trailing partial line
    /// counts as one line. Fewer lines held than `n` gives everything held (whose
    /// first line may have lost its beginning to the wrap-around).
    pub fn last_lines(&self, n: usize) -> Vec<u8> {
        let (a, b) = self.slices();
        let len = a.len() + b.len();
        if n == 0 || len == 0 {
            return Vec::new();
        }
        let last = if b.is_empty() {
            a[a.len() - 1]
        } else {
            b[b.len() - 1]
        };
        // A final '\n' ends the last line; it does not start a new one.
        let scan_end = if last == b'\n' { len - 1 } else { len };

        // Walk back over the newer part, then the older one, counting newlines;
        // the n-th newline found is where the wanted lines start.
        let mut wanted = n;
        let mut start = 0;
        let b_end = scan_end.saturating_sub(a.len());
        let a_end = scan_end.min(a.len());
        if let Some(i) = nth_newline_from_end(&b[..b_end], &mut wanted) {
            start = a.len() + i + 1;
        } else if let Some(i) = nth_newline_from_end(&a[..a_end], &mut wanted) {
            start = i + 1;
        }
        self.copy_from(start)
    }
}

/// Index of the `*wanted`-th `'\n'` counting from the end of `s`; if there are
/// fewer, returns `None` and decreases `*wanted` by the number seen.
fn nth_newline_from_end(s: &[u8], wanted: &mut usize) -> Option<usize> {
    for (i, &c) in s.iter().enumerate().rev() {
        if c == b'\n' {
            *wanted -= 1;
            if *wanted == 0 {
                return Some(i);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_lazily_and_never_past_capacity() {
        let mut r = RingBuffer::new(1 << 20);
        assert_eq!(r.allocated(), 0, "nothing allocated up front");
        r.push(b"hello\n");
        assert!(r.allocated() >= 6 && r.allocated() < (1 << 20));
        for _ in 0..100 {
            r.push(&[b'x'; 50_000]);
        }
        assert_eq!(r.len(), 1 << 20);
        assert!(r.allocated() >= 1 << 20);
        assert!(r.allocated() < (1 << 20) + MIN_ALLOC, "{}", r.allocated());
        let mut small = RingBuffer::new(10);
        small.push(b"abc");
        assert!(small.allocated() <= 10);
    }

    #[test]
    fn cleared_it_holds_nothing_and_keeps_its_offsets() {
        let mut r = RingBuffer::new(8);
        r.push(b"abcdefghij");
        r.clear();
        assert!(r.is_empty() && r.last_lines(5).is_empty());
        assert_eq!((r.total(), r.oldest()), (10, 10));
        assert_eq!(r.since(10), (Vec::new(), 0));
        r.push(b"kl\n");
        assert_eq!(r.contents(), b"kl\n");
        assert_eq!(r.since(10), (b"kl\n".to_vec(), 0));
    }

    #[test]
    fn wraps_around_keeping_the_newest_bytes() {
        let mut r = RingBuffer::new(8);
        r.push(b"abcde");
        assert_eq!(r.contents(), b"abcde");
        r.push(b"fghij");
        assert_eq!(r.contents(), b"cdefghij");
        r.push(b"kl");
        assert_eq!(r.contents(), b"efghijkl");
        r.push(b"0123456789ABC"); // bigger than the ring
        assert_eq!(r.contents(), b"56789ABC");
        assert_eq!(r.total(), 25);
        assert_eq!(r.oldest(), 17);
        // Byte-at-a-time pushes agree with one big push.
        let mut one = RingBuffer::new(7);
        let mut many = RingBuffer::new(7);
        let data: Vec<u8> = (0..100u8).collect();
        one.push(&data);
        for chunk in data.chunks(3) {
            many.push(chunk);
        }
        assert_eq!(one.contents(), many.contents());
        assert_eq!(one.contents(), &data[93..]);
    }

    #[test]
    fn zero_capacity_only_counts() {
        let mut r = RingBuffer::new(0);
        r.push(b"abc");
        assert_eq!(r.total(), 3);
        assert!(r.contents().is_empty());
        assert_eq!(r.since(0), (Vec::new(), 3));
        assert!(r.last_lines(5).is_empty());
    }

    #[test]
    fn since_reports_lost_bytes() {
        let mut r = RingBuffer::new(4);
        r.push(b"ab");
        assert_eq!(r.since(0), (b"ab".to_vec(), 0));
        assert_eq!(r.since(1), (b"b".to_vec(), 0));
        assert_eq!(r.since(2), (Vec::new(), 0));
        assert_eq!(r.since(99), (Vec::new(), 0));
        r.push(b"cdefg"); // holds "defg", offsets 3..7
        assert_eq!(r.since(0), (b"defg".to_vec(), 3));
        assert_eq!(r.since(2), (b"defg".to_vec(), 1));
        assert_eq!(r.since(3), (b"defg".to_vec(), 0));
        assert_eq!(r.since(5), (b"fg".to_vec(), 0));
        assert_eq!(r.since(7), (Vec::new(), 0));
    }

    #[test]
    fn last_lines_counts_lines() {
        let mut r = RingBuffer::new(64);
        assert!(r.last_lines(3).is_empty());
        r.push(b"one\ntwo\nthree\n");
        assert_eq!(r.last_lines(0), b"");
        assert_eq!(r.last_lines(1), b"three\n");
        assert_eq!(r.last_lines(2), b"two\nthree\n");
        assert_eq!(r.last_lines(3), b"one\ntwo\nthree\n");
        assert_eq!(r.last_lines(50), b"one\ntwo\nthree\n");
        r.push(b"part");
        assert_eq!(r.last_lines(1), b"part");
        assert_eq!(r.last_lines(2), b"three\npart");
        assert_eq!(r.last_lines(9), b"one\ntwo\nthree\npart");
        let mut blank = RingBuffer::new(64);
        blank.push(b"\n\n\n");
        assert_eq!(blank.last_lines(2), b"\n\n");
        assert_eq!(blank.last_lines(5), b"\n\n\n");
    }

    #[test]
    fn last_lines_across_the_wrap() {
        let mut r = RingBuffer::new(10);
        r.push(b"aaaa\nbbbb\n"); // full, head 0
        r.push(b"cc\nd"); // wraps: holds the last 10 bytes
        assert_eq!(r.contents(), b"\nbbbb\ncc\nd");
        assert_eq!(r.last_lines(1), b"d");
        assert_eq!(r.last_lines(2), b"cc\nd");
        assert_eq!(r.last_lines(3), b"bbbb\ncc\nd");
        assert_eq!(r.last_lines(4), b"\nbbbb\ncc\nd");
        assert_eq!(r.last_lines(5), b"\nbbbb\ncc\nd");
        r.push(b"\n");
        assert_eq!(r.last_lines(1), b"d\n");
        assert_eq!(r.last_lines(2), b"cc\nd\n");
    }
}
