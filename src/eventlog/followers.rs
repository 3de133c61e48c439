//! `maintail -f`: the event log's lines as they are written, to every client
//! following it. One more log4rs appender beside the file's, so a follower sees
//! exactly the file's lines, and nothing polls the file.
//!
//! A follower is a bounded channel: a client that reads too slowly loses lines
//! (and is told how many), it never holds up the daemon's logging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::SystemTime;

use log::Record;
use parking_lot::Mutex;

use crate::skipping_sender::SkippingSender;

/// Lines queued for one follower before the next ones are dropped.
pub const FOLLOWER_QUEUE: usize = 1024;

/// The clients following the event log. Its lock is a leaf: taken inside a log
/// call only, nothing taken under it.
#[derive(Default)]
pub struct LogFollowers {
    followers: Mutex<Vec<SkippingSender>>,
    /// How many there are, read without the lock on every line.
    count: AtomicUsize,
}

impl std::fmt::Debug for LogFollowers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogFollowers({})", self.count.load(Ordering::Relaxed))
    }
}

impl LogFollowers {
    /// Sends every line written from now on to `sink` (without its newline),
    /// until the receiver is dropped.
    pub fn follow(&self, sink: SyncSender<String>) {
        let mut followers = self.followers.lock();
        followers.push(SkippingSender::new(sink));
        self.count.store(followers.len(), Ordering::Relaxed);
    }

    /// Hands `line` to every follower; forgets those that went away.
    fn send(&self, line: &str) {
        let mut followers = self.followers.lock();
        let note = |n: u64| {
            format!("taskmaster: {n} event log lines skipped (this client reads too slowly)")
        };
        followers.retain_mut(|follower| follower.offer(line, note));
        self.count.store(followers.len(), Ordering::Relaxed);
    }
}

/// The appender: each record, worded as the file's line, to the followers.
#[derive(Debug)]
pub struct Tee(pub Arc<LogFollowers>);

impl log4rs::append::Append for Tee {
    fn append(&self, record: &Record) -> anyhow::Result<()> {
        if self.0.count.load(Ordering::Relaxed) > 0 {
            let line = crate::logfile::line(record, SystemTime::now());
            self.0.send(line.trim_end_matches('\n'));
        }
        Ok(())
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    #[test]
    fn a_slow_follower_loses_lines_and_is_told_how_many() {
        let followers = LogFollowers::default();
        let (tx, rx) = sync_channel(2);
        followers.follow(tx);
        for line in ["a", "b", "c", "d"] {
            followers.send(line);
        }
        assert_eq!(rx.try_recv().as_deref(), Ok("a"));
        assert_eq!(rx.try_recv().as_deref(), Ok("b"));
        followers.send("e");
        let note = rx.try_recv().expect("the note");
        assert!(note.contains("2 event log lines skipped"), "{note}");
        followers.send("f");
        assert_eq!(rx.try_recv().as_deref(), Ok("e"));
        drop(rx);
        followers.send("g");
        assert_eq!(
            followers.count.load(Ordering::Relaxed),
            0,
            "a gone follower is forgotten"
        );
    }
}
