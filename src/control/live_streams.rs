//! The control socket's side of an upgrade in place, one per daemon, in `Hooks`:
//!
//! * the streams open on it (`tail -f`, `attach`, `notices`, `maintail -f`,
//!   `events`), so that the upgrade can end each with a last line telling its
//!   client to come back, before the exec closes the connection (an entry per
//!   streaming connection: bounded by `max_connections`);
//! * the accept thread's pause: while the instances are handed over, a new
//!   client waits in the socket's backlog and is served by the new daemon, rather
//!   than being accepted by the old one and cut off by the exec.

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
    /// The accept thread is asked to stop accepting, and whether it has.
    accept_paused: bool,
    accept_parked: bool,
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

    /// The upgrade did not happen: streams may open again, the accept thread
    /// goes on.
    pub fn upgrade_failed(&self) {
        let mut state = self.state.lock();
        state.upgrading = false;
        state.accept_paused = false;
        drop(state);
        self.changed.notify_all();
    }

    /// Stops the accept thread until the exec (or [`Self::upgrade_failed`]): it
    /// is woken out of `accept` by a connection of our own, which it recognises
    /// by its pid and drops. Waits at most `timeout` for it.
    pub fn pause_accepting(&self, socket: &std::path::Path, timeout: Duration) {
        self.state.lock().accept_paused = true;
        let Ok(wake) = std::os::unix::net::UnixStream::connect(socket) else {
            return;
        };
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        while !state.accept_parked {
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        drop(state);
        drop(wake);
    }

    /// The accept thread, for each connection accepted: false to serve it; true
    /// (after waiting until the upgrade failed) for the upgrade's own wake-up,
    /// which it drops.
    pub fn hold_accepting(&self, from_pid: Option<i32>) -> bool {
        let mut state = self.state.lock();
        if !state.accept_paused || from_pid != Some(std::process::id() as i32) {
            return false;
        }
        state.accept_parked = true;
        self.changed.notify_all();
        while state.accept_paused {
            self.changed.wait(&mut state);
        }
        state.accept_parked = false;
        true
    }
}
