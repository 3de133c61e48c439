//! The daemon's own counts for `/metrics`, kept by a subscriber of the hub:
//! reloads applied, reloads failed, and every event by the kind the event stream
//! gives it. Counted from the daemon's start whether or not metrics are served,
//! so turning them on by a reload shows the whole history.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::event_stream::kind_of;
use crate::hub::{Event, Subscriber};

/// More than the event stream has kinds: the list never grows past its first
/// allocation, so counting allocates nothing.
const KINDS_ROOM: usize = 48;

/// The counts. Its lock is a leaf, held for a short scan of at most a few dozen
/// kinds, inside its own `event` call or while a scrape copies the counts.
pub struct DaemonCounters {
    reloads: AtomicU64,
    failed_reloads: AtomicU64,
    /// By kind, in the order first seen.
    by_kind: Mutex<Vec<(&'static str, u64)>>,
}

impl Default for DaemonCounters {
    fn default() -> Self {
        DaemonCounters {
            reloads: AtomicU64::new(0),
            failed_reloads: AtomicU64::new(0),
            by_kind: Mutex::new(Vec::with_capacity(KINDS_ROOM)),
        }
    }
}

/// A copy of the counts, for one scrape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Configuration changes applied: one per `reload` (or SIGHUP, or a whole
    /// `update`), one per program changed by `update NAME`, `add` or `remove`.
    pub reloads: u64,
    /// Reloads refused or failed (nothing changed).
    pub failed_reloads: u64,
    /// Events by kind, sorted by kind.
    pub events: Vec<(&'static str, u64)>,
}

impl DaemonCounters {
    pub fn counts(&self) -> Counts {
        let mut events = self.by_kind.lock().clone();
        events.sort_unstable();
        Counts {
            reloads: self.reloads.load(Ordering::Relaxed),
            failed_reloads: self.failed_reloads.load(Ordering::Relaxed),
            events,
        }
    }
}

impl Subscriber for DaemonCounters {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Reloaded { .. } => self.reloads.fetch_add(1, Ordering::Relaxed),
            Event::ReloadFailed { .. } => self.failed_reloads.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        let Some(kind) = kind_of(event) else {
            return;
        };
        let mut by_kind = self.by_kind.lock();
        match by_kind.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => by_kind.push((kind, 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_and_events_are_counted_by_kind() {
        let counters = DaemonCounters::default();
        counters.event(&Event::Reloaded { text: "a" });
        counters.event(&Event::Reloaded { text: "b" });
        counters.event(&Event::ReloadFailed { text: "c" });
        counters.event(&Event::SighupReloadFailed { why: "c" });
        counters.event(&Event::StartRequested { name: "web" });
        let counts = counters.counts();
        assert_eq!(counts.reloads, 2);
        assert_eq!(counts.failed_reloads, 1);
        // The stream leaves the SIGHUP copy of a failure out, and so do these.
        assert_eq!(
            counts.events,
            [("reload", 2), ("reload_failed", 1), ("start_requested", 1)]
        );
    }
}
