//! Notices: one line for each event a person at a shell should see as it happens —
//! a FATAL, an unexpected exit, a spawn error, a restart for `max_memory`, a
//! failed SIGHUP reload, the
//! daemon's own messages — sent to every subscriber (the daemon's shell, each
//! `notices` stream on the socket), stamped with the time it happened.
//!
//! A subscriber of the hub ([`crate::hub`]). Its list of sinks has a lock of its
//! own, taken only when a notice is sent (rare events) or a sink subscribes.
//!
//! Each sink is a bounded queue ([`NOTICE_QUEUE`]): a client that subscribed and
//! stopped reading, or a shell attached for hours beside a crash loop, loses
//! notices — and is told how many — but never makes the daemon keep them all.

use std::sync::mpsc::SyncSender;

use parking_lot::Mutex;

use crate::hub::{Event, Subscriber};
use crate::skipping_sender::SkippingSender;
use crate::watch::state::Report;

/// Notices queued for one sink before the next ones are dropped.
pub const NOTICE_QUEUE: usize = 256;

#[derive(Default)]
pub struct Notices {
    sinks: Mutex<Vec<SkippingSender>>,
}

impl Notices {
    pub fn subscribe(&self, sink: SyncSender<String>) {
        self.sinks.lock().push(SkippingSender::new(sink));
    }

    /// Sends one notice to every sink, stamped with the time it happened (to the
    /// second: a notice read later must say when, not just what).
    fn send(&self, text: &str) {
        let stamp = crate::sys::time::timestamp(std::time::SystemTime::now());
        let stamp = stamp.split('.').next().unwrap_or_default();
        let text = format!("{stamp} {text}");
        let note = |n: u64| {
            let s = if n == 1 { "" } else { "s" };
            format!("{stamp} taskmaster: {n} notice{s} skipped (not read in time)")
        };
        self.sinks.lock().retain_mut(|sink| sink.offer(&text, note));
    }
}

/// The notice of an instance's report, if it makes one.
fn of_report(name: &str, report: &Report, write_line: bool) -> Option<String> {
    match report {
        Report::GaveUp { .. } => Some(crate::eventlog::fatal_text(name, report)),
        // A crash loop's exits past the limiter's few a second are counted, not
        // shown one by one above the shell's prompt either.
        Report::Exited {
            pid,
            status,
            expected: false,
        } if write_line => Some(format!("{name}: exited unexpectedly (pid {pid}, {status})")),
        Report::SpawnError { reason } => Some(format!("{name}: spawn error ({reason})")),
        Report::MemoryOver { used, limit } => {
            Some(crate::eventlog::memory_over_text(name, *used, *limit))
        }
        Report::Unhealthy {
            failures,
            reason,
            on_failure,
        } if *on_failure != crate::config::OnFailure::Nothing => Some(
            crate::eventlog::unhealthy_text(name, *failures, reason, *on_failure),
        ),
        _ => None,
    }
}

impl Subscriber for Notices {
    fn event(&self, event: &Event<'_>) {
        let text = match event {
            Event::Report {
                name,
                report,
                write_line,
                ..
            } => of_report(name, report, *write_line),
            Event::SighupReloadFailed { why } => Some(format!("reload after SIGHUP failed: {why}")),
            Event::DaemonNotice { text } => Some(text.to_string()),
            _ => None,
        };
        if let Some(text) = text {
            self.send(&text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_sink_loses_notices_counts_them_and_says_so_before_the_next() {
        let notices = Notices::default();
        let (tx, rx) = std::sync::mpsc::sync_channel(NOTICE_QUEUE);
        notices.subscribe(tx);
        for i in 0..NOTICE_QUEUE + 5 {
            notices.send(&format!("notice {i}"));
        }
        let queued: Vec<String> = rx.try_iter().collect();
        assert_eq!(queued.len(), NOTICE_QUEUE);
        assert!(queued[0].ends_with(" notice 0"), "{}", queued[0]);
        notices.send("after");
        let next: Vec<String> = rx.try_iter().collect();
        assert_eq!(next.len(), 2, "{next:?}");
        assert!(
            next[0].ends_with(" taskmaster: 5 notices skipped (not read in time)"),
            "{}",
            next[0]
        );
        assert!(next[1].ends_with(" after"), "{}", next[1]);
    }

    #[test]
    fn a_sink_whose_reader_is_gone_is_forgotten() {
        let notices = Notices::default();
        let (tx, rx) = std::sync::mpsc::sync_channel(NOTICE_QUEUE);
        notices.subscribe(tx);
        drop(rx);
        notices.send("nobody");
        assert!(notices.sinks.lock().is_empty());
    }
}
