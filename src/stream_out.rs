//! Lines for a pipe, a socket or a terminal that may stop reading, written
//! without the writer ever waiting for the reader.
//!
//! A write to a regular file returns once the page cache has it; a write to a
//! pipe waits for room, and a reader that stops (a `docker logs` pipeline that
//! stalls, a terminal stopped with ^S, a `taskmaster | less` left on its first
//! page) makes it wait forever. The event log is written by the threads that
//! make the events — the watchers, the command threads — so with
//! `logfile: /dev/stdout` and such a reader, every watcher would stop at its next
//! line and nothing would be restarted or stopped any more; the main thread
//! stopped at "shutdown begun" would never shut down.
//!
//! So a [`StreamOut`] takes each line into a bounded queue and one thread of its
//! own writes them, each line in one `write` (a pipe takes up to 4 KiB at once,
//! so lines never mix with what others write into the same pipe). A line that
//! would pass the bound is dropped and counted, and the next line that fits is
//! preceded by one saying how many were lost; a write that fails is counted and
//! said the same way. The thread sleeps while there is nothing to write. Before
//! the process exits or execs, [`StreamOut::flush`] gives the thread a bounded
//! time to write what is queued.

use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// Why lines were lost, for the line that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// The queue was full: the reader was not keeping up.
    NotRead,
    /// The write failed (the reader is gone, the device fails).
    WriteFailed,
}

/// Makes the line that says `count` lines were lost, and why.
pub type LossLine = fn(count: u64, why: Loss) -> String;

/// Where the thread writes.
pub enum Target {
    /// A writer of its own (the event log's `/dev/stdout`, a descriptor of its
    /// own).
    Own(Box<dyn Write + Send>),
    /// The daemon's descriptor 1 itself, whatever it points to when written: if
    /// the daemon loses its terminal, descriptor 1 becomes /dev/null
    /// (`headless`), and so does this.
    Stdout,
}

impl Target {
    fn write_line(&mut self, line: &[u8]) -> bool {
        match self {
            Target::Own(out) => out.write_all(line).is_ok(),
            Target::Stdout => {
                // SAFETY: descriptors 0–2 are open for the life of the process
                // (`ensure_std_fds_open`); written without std's stdout lock,
                // which the shell's own printing takes.
                let fd = unsafe { BorrowedFd::borrow_raw(1) };
                let mut rest = line;
                while !rest.is_empty() {
                    match nix::unistd::write(fd, rest) {
                        Ok(0) => return false,
                        Ok(n) => rest = &rest[n..],
                        Err(nix::errno::Errno::EINTR) => {}
                        Err(_) => return false,
                    }
                }
                true
            }
        }
    }
}

/// A queue of lines and the thread that writes them; see the module's comment.
pub struct StreamOut {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StreamOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamOut")
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
    }
}

struct Shared {
    queue: Mutex<Queue>,
    /// Lines were queued, or the writer was closed.
    more: Condvar,
    /// Everything queued is written.
    drained: Condvar,
    capacity: usize,
    loss_line: LossLine,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<String>,
    bytes: usize,
    /// Lines dropped for want of room, not yet said.
    not_read: u64,
    /// The thread is writing lines it took from the queue.
    writing: bool,
    closed: bool,
}

impl StreamOut {
    /// Starts the thread `name` writing to `target`, with room for `capacity`
    /// bytes of lines waiting.
    pub fn start(
        name: &str,
        target: Target,
        capacity: usize,
        loss_line: LossLine,
    ) -> std::io::Result<StreamOut> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            more: Condvar::new(),
            drained: Condvar::new(),
            capacity,
            loss_line,
        });
        let writer = shared.clone();
        std::thread::Builder::new()
            .name(name.into())
            .stack_size(crate::stack::THREAD_STACK)
            .spawn(move || writer.write_until_closed(target))?;
        Ok(StreamOut { shared })
    }

    /// Queues one whole line (ending in a newline); never waits for the reader.
    pub fn push(&self, line: String) {
        let shared = &*self.shared;
        let mut queue = shared.queue.lock();
        if queue.bytes.saturating_add(line.len()) > shared.capacity {
            queue.not_read += 1;
            return;
        }
        if queue.not_read > 0 {
            let said = (shared.loss_line)(std::mem::take(&mut queue.not_read), Loss::NotRead);
            queue.bytes += said.len();
            queue.lines.push_back(said);
        }
        queue.bytes += line.len();
        queue.lines.push_back(line);
        drop(queue);
        shared.more.notify_one();
    }

    /// Waits until everything queued is written, at most until `deadline`.
    /// Whether it was.
    pub fn flush(&self, deadline: Instant) -> bool {
        let mut queue = self.shared.queue.lock();
        while !queue.lines.is_empty() || queue.writing {
            if self
                .shared
                .drained
                .wait_until(&mut queue, deadline)
                .timed_out()
            {
                return false;
            }
        }
        true
    }
}

impl Drop for StreamOut {
    /// The thread writes what is queued, then ends.
    fn drop(&mut self) {
        self.shared.queue.lock().closed = true;
        self.shared.more.notify_one();
    }
}

impl Shared {
    fn write_until_closed(&self, mut target: Target) {
        let mut failed = 0;
        loop {
            let batch = {
                let mut queue = self.queue.lock();
                queue.writing = false;
                if queue.lines.is_empty() {
                    self.drained.notify_all();
                }
                while queue.lines.is_empty() && !queue.closed {
                    self.more.wait(&mut queue);
                }
                if queue.lines.is_empty() {
                    return;
                }
                queue.writing = true;
                queue.bytes = 0;
                std::mem::take(&mut queue.lines)
            };
            for line in batch {
                // The count goes where the lines went missing: while it cannot
                // be written, neither is the line after it.
                let said = failed == 0
                    || target.write_line((self.loss_line)(failed, Loss::WriteFailed).as_bytes());
                if said && target.write_line(line.as_bytes()) {
                    failed = 0;
                } else {
                    failed = if said { 1 } else { failed + 1 };
                }
            }
        }
    }
}

/// Room for the daemon's own messages on its standard output.
const STDOUT_CAPACITY: usize = 256 << 10;
/// How long an exit or an exec waits for queued lines to be written.
pub const FLUSH_TIME: Duration = Duration::from_secs(2);

static STDOUT: OnceLock<Option<StreamOut>> = OnceLock::new();

/// Writes one of the daemon's own messages (no newline) to its standard output,
/// without waiting for the reader (see the module's comment). Written directly
/// if the thread cannot be started.
pub fn stdout_line(text: &str) {
    let out = STDOUT.get_or_init(|| {
        StreamOut::start("stdout", Target::Stdout, STDOUT_CAPACITY, stdout_loss_line).ok()
    });
    let line = format!("{text}\n");
    match out {
        Some(out) => out.push(line),
        None => {
            Target::Stdout.write_line(line.as_bytes());
        }
    }
}

fn stdout_loss_line(count: u64, why: Loss) -> String {
    format!("taskmaster: {}\n", lost_text(count, why))
}

/// `3 lines lost (…why…)`.
pub fn lost_text(count: u64, why: Loss) -> String {
    let why = match why {
        Loss::NotRead => "the output was not read in time",
        Loss::WriteFailed => "could not be written",
    };
    format!(
        "{count} line{} lost ({why})",
        if count == 1 { "" } else { "s" }
    )
}

/// Before the process exits or execs: what the event log and the daemon's own
/// messages still hold in their queues is written, within [`FLUSH_TIME`].
pub fn flush_before_exit() {
    log::logger().flush();
    if let Some(Some(out)) = STDOUT.get() {
        out.flush(Instant::now() + FLUSH_TIME);
    }
}

#[cfg(test)]
#[path = "stream_out_tests.rs"]
mod tests;
