//! `tail` of several instances (`tail NAME:*`, `tail -f` of every program): their
//! output line by line, each line prefixed with its instance's name (`web:0 | line`),
//! the followed lines of all instances merged as they come.
//!
//! Each followed instance gets a thread of its own that cuts its output into whole
//! lines — a partial line waits for its end, so two instances never mix inside one
//! line — and hands them to the transport's thread through a bounded channel. The
//! memory a follower holds is bounded: a partial line longer than [`MAX_LINE`] is
//! cut there, and a follower whose client reads slowly waits on the channel; what
//! the ring buffer overwrote meanwhile is reported as lost, as for one instance.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

use super::tail::{Follow, FollowCancel, FollowEnd};
use crate::output::{Cursor, Stream};
use crate::watch::Instance;

/// A partial line is cut (and ended with a newline) once it is this long.
pub const MAX_LINE: usize = 16 * 1024;
/// Whole lines waiting for the client, for all followed instances together.
const CHANNEL_LINES: usize = 256;

/// Cuts one instance's output into whole lines, each prefixed with its name.
pub struct Lines {
    prefix: Vec<u8>,
    partial: Vec<u8>,
}

impl Lines {
    pub fn new(name: &str) -> Lines {
        Lines {
            prefix: format!("{name} | ").into_bytes(),
            partial: Vec::new(),
        }
    }

    /// The lines `data` completes, prefixed; the rest waits for its end, or for
    /// [`finish`](Self::finish), and is cut at [`MAX_LINE`].
    pub fn push(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let mut line = self.prefix.clone();
            line.append(&mut self.partial);
            line.extend_from_slice(&rest[..=i]);
            out.push(line);
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        while self.partial.len() >= MAX_LINE {
            let tail = self.partial.split_off(MAX_LINE);
            let mut line = self.prefix.clone();
            line.append(&mut self.partial);
            line.push(b'\n');
            out.push(line);
            self.partial = tail;
        }
        out
    }

    /// The partial line still held, ended with a newline.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if self.partial.is_empty() {
            return None;
        }
        let mut line = self.prefix.clone();
        line.append(&mut self.partial);
        line.push(b'\n');
        Some(line)
    }
}

/// A `tail -f` of several instances in progress.
#[derive(Clone)]
pub struct MergedFollow {
    /// Each instance with where its follow starts.
    sources: Vec<(Arc<Instance>, Cursor)>,
    stream: Stream,
    cancel: Arc<AtomicBool>,
}

impl MergedFollow {
    pub fn new(sources: Vec<(Arc<Instance>, Cursor)>, stream: Stream) -> MergedFollow {
        MergedFollow {
            sources,
            stream,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn canceller(&self) -> FollowCancel {
        let outputs = self.sources.iter().map(|(i, _)| i.output.clone());
        FollowCancel::new(self.cancel.clone(), outputs.collect())
    }

    /// Streams whole prefixed lines to `write` until cancelled, until every
    /// instance is closed, or until a write fails; partial lines held at the end
    /// are written then.
    pub fn run(&mut self, mut write: impl FnMut(&[u8]) -> std::io::Result<()>) -> FollowEnd {
        let (tx, rx) = sync_channel::<Vec<u8>>(CHANNEL_LINES);
        let mut threads = Vec::new();
        for (instance, cursor) in &self.sources {
            let name = instance.name();
            let follow = Follow::sharing(
                instance.clone(),
                self.stream,
                cursor.clone(),
                self.cancel.clone(),
            );
            let tx = tx.clone();
            let spawned = std::thread::Builder::new()
                .name("control-follow".into())
                .stack_size(crate::stack::THREAD_STACK)
                .spawn(move || follow_lines(follow, &name, tx));
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    let note = format!("[tail -f: cannot follow {}: {e}]\n", instance.name());
                    if write(note.as_bytes()).is_err() {
                        self.canceller().cancel();
                    }
                }
            }
        }
        drop(tx);
        let mut end = FollowEnd::Closed;
        // Ends once every follower has ended and sent its last partial line.
        for line in &rx {
            if write(&line).is_err() {
                end = FollowEnd::WriteFailed;
                self.canceller().cancel();
                break;
            }
        }
        drop(rx);
        for thread in threads {
            let _ = thread.join();
        }
        match end {
            FollowEnd::Closed if self.cancel.load(Ordering::SeqCst) => FollowEnd::Cancelled,
            end => end,
        }
    }
}

/// One instance's follower thread: its output as whole lines into `tx`.
fn follow_lines(mut follow: Follow, name: &str, tx: SyncSender<Vec<u8>>) {
    let mut lines = Lines::new(name);
    follow.run(|data| {
        for line in lines.push(data) {
            tx.send(line)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        }
        Ok(())
    });
    if let Some(rest) = lines.finish() {
        let _ = tx.send(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: Vec<Vec<u8>>) -> String {
        String::from_utf8(lines.concat()).unwrap()
    }

    #[test]
    fn whole_lines_are_prefixed_and_partial_ones_wait() {
        let mut lines = Lines::new("web:0");
        assert_eq!(text(lines.push(b"one\ntw")), "web:0 | one\n");
        assert_eq!(text(lines.push(b"o")), "");
        assert_eq!(
            text(lines.push(b"\nthree\nfo")),
            "web:0 | two\nweb:0 | three\n"
        );
        assert_eq!(lines.finish(), Some(b"web:0 | fo\n".to_vec()));
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn a_partial_line_is_cut_at_the_limit() {
        let mut lines = Lines::new("a");
        let out = lines.push(&vec![b'x'; 2 * MAX_LINE + 5]);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|l| l.len() == "a | ".len() + MAX_LINE + 1));
        assert_eq!(lines.partial.len(), 5);
    }
}
