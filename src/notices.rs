//! Notices: one line for each event a person at a shell should see as it happens —
//! a FATAL, an unexpected exit, a spawn error, a restart for `max_memory`, a
//! failed SIGHUP reload, the
//! daemon's own messages — sent to every subscriber (the daemon's shell, each
//! `notices` stream on the socket), stamped with the time it happened.
//!
//! A subscriber of the hub ([`crate::hub`]). Its list of sinks has a lock of its
//! own, taken only when a notice is sent (rare events) or a sink subscribes.

use std::sync::mpsc::Sender;

use parking_lot::Mutex;

use crate::hub::{Event, Subscriber};
use crate::watch::state::Report;

#[derive(Default)]
pub struct Notices {
    sinks: Mutex<Vec<Sender<String>>>,
}

impl Notices {
    pub fn subscribe(&self, sink: Sender<String>) {
        self.sinks.lock().push(sink);
    }

    /// Sends one notice to every sink, stamped with the time it happened (to the
    /// second: a notice read later must say when, not just what).
    fn send(&self, text: &str) {
        let stamp = crate::sys::time::timestamp(std::time::SystemTime::now());
        let stamp = stamp.split('.').next().unwrap_or_default();
        let text = format!("{stamp} {text}");
        self.sinks
            .lock()
            .retain(|sink| sink.send(text.clone()).is_ok());
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
