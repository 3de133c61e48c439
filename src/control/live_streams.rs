//! The streams open on the control socket (`tail -f`, `attach`, `notices`,
//! `maintail -f`, `events`), so that an upgrade in place can end each with a
//! last line telling its client to come back, before the exec closes the
//! connection. One per daemon, in `Hooks`; each entry is one connection's stream,
//! so the list is bounded by `max_connections`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// Ends a stream early (its copy loop returns, then its thread writes the last line).
pub type Cancel = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub struct LiveStreams {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    next: u64,
    open: BTreeMap<u64, Option<Cancel>>,
    /// An upgrade is ending the streams: a stream that ends now says so.
    upgrading: bool,
}

/// What a stream's last line says when an upgrade ended it.
pub const UPGRADE_NOTICE: &str = "[taskmaster is upgrading in place: connect again]";

impl LiveStreams {
    /// Registers a stream; with an upgrade under way it is ended at once.
    pub fn join(&self, cancel: Cancel) -> u64 {
        let mut state = self.state.lock();
        let id = state.next;
        state.next += 1;
        if state.upgrading {
            drop(state);
            cancel();
            self.state.lock().open.insert(id, None);
            return id;
        }
        state.open.insert(id, Some(cancel));
        id
    }

    /// The stream has written its last line (or its client went away).
    pub fn leave(&self, id: u64) {
        self.state.lock().open.remove(&id);
        self.changed.notify_all();
    }

    /// Whether an upgrade ended the streams.
    pub fn upgrading(&self) -> bool {
        self.state.lock().upgrading
    }

    /// Ends every stream and waits, at most `timeout`, until each has written
    /// its last line.
    pub fn end_for_upgrade(&self, timeout: Duration) {
        let cancels: Vec<Cancel> = {
            let mut state = self.state.lock();
            state.upgrading = true;
            state.open.values_mut().filter_map(Option::take).collect()
        };
        cancels.into_iter().for_each(|cancel| cancel());
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        while !state.open.is_empty() {
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                return;
            }
        }
    }

    /// The upgrade did not happen: streams may open again.
    pub fn upgrade_failed(&self) {
        self.state.lock().upgrading = false;
    }
}
