//! The event log on the journal (README: Under systemd): when the service manager
//! connected our stderr to its journal (`JOURNAL_STREAM` names that very stream),
//! every event-log line is also written there, as `<N>MESSAGE`: the journal reads
//! the syslog severity `N` from the prefix (the syslog copy's: err, warning, info)
//! and stamps the time itself. The event log file is written as before.
//!
//! Best effort, like syslog: a journal that does not read its stream never holds
//! up the thread that logs (a watcher, the main thread). A line that finds the
//! stream full is dropped, and the next one that goes through says how many were.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use log::Record;
use nix::errno::Errno;
use nix::sys::socket::MsgFlags;
use parking_lot::Mutex;

/// The log4rs appender writing to stderr with severity prefixes.
#[derive(Debug, Default)]
pub struct JournalStderr {
    /// One line at a time on the stream, so lines never interleave (a leaf lock).
    writing: Mutex<()>,
    /// Lines dropped since the last one written.
    lost: AtomicU64,
}

/// `<N>text\n`, each line of a message prefixed (the journal makes an entry of each).
fn entry(severity: u8, message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 8);
    for line in message.lines() {
        out.push_str(&format!("<{severity}>{line}\n"));
    }
    out
}

impl JournalStderr {
    /// Writes `bytes` whole, or not at all when the stream is full. Whether it was.
    fn write(&self, bytes: &[u8]) -> bool {
        // The journal's stream is a socket: a send that cannot wait. stderr made
        // something else since (a pipe, a file) is written as any stderr line.
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        match nix::sys::socket::send(2, bytes, flags) {
            Ok(n) if n == bytes.len() => true,
            // The journal took part of it, so it reads: the rest waits for it, or
            // the next line would be glued to half of this one.
            Ok(n) => std::io::stderr()
                .write_all(bytes.get(n..).unwrap_or_default())
                .is_ok(),
            Err(Errno::ENOTSOCK) => std::io::stderr().write_all(bytes).is_ok(),
            Err(_) => false,
        }
    }
}

impl log4rs::append::Append for JournalStderr {
    fn append(&self, record: &Record) -> anyhow::Result<()> {
        let severity = crate::syslog::severity(record.level());
        let text = entry(severity, &record.args().to_string());
        let _one_line_at_a_time = self.writing.lock();
        let lost = self.lost.load(Ordering::Relaxed);
        if lost > 0 {
            let note =
                format!("event log: {lost} lines not copied to the journal (its stream was full)");
            if !self.write(entry(4, &note).as_bytes()) {
                self.lost.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            self.lost.store(0, Ordering::Relaxed);
        }
        if !self.write(text.as_bytes()) {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_a_message_carries_the_severity() {
        assert_eq!(entry(3, "gave up: web"), "<3>gave up: web\n");
        assert_eq!(entry(6, "a\nb"), "<6>a\n<6>b\n");
    }
}
