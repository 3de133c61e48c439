//! A bounded queue of lines to one reader that may fall behind (`maintail -f`,
//! `notices`): a line that finds the queue full is dropped and counted, and the
//! next line that fits is preceded by one saying how many were skipped. So the
//! daemon never waits for such a reader, nor keeps more than the queue for it.

use std::sync::mpsc::{SyncSender, TrySendError};

pub struct SkippingSender {
    tx: SyncSender<String>,
    /// Lines dropped since the last one that went in.
    skipped: u64,
}

impl SkippingSender {
    pub fn new(tx: SyncSender<String>) -> SkippingSender {
        SkippingSender { tx, skipped: 0 }
    }

    /// Queues `line`, after the line `note` makes of the count skipped before
    /// it, if any. False once the reader is gone.
    pub fn offer(&mut self, line: &str, note: impl FnOnce(u64) -> String) -> bool {
        if self.skipped > 0 {
            match self.tx.try_send(note(self.skipped)) {
                Ok(()) => self.skipped = 0,
                Err(TrySendError::Full(_)) => {
                    self.skipped += 1;
                    return true;
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
        match self.tx.try_send(line.to_string()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.skipped += 1;
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}
