//! Telling the service manager (systemd, README: Under systemd) what the daemon is
//! doing, when it started us with `NOTIFY_SOCKET` set: `READY=1` once the autostart
//! has been applied, `RELOADING=1` … `READY=1` around a reload, `STOPPING=1` when
//! the shutdown begins, `STATUS=` with the instance counts, and `WATCHDOG=1` when
//! it asks for keep-alives. Without `NOTIFY_SOCKET` nothing here does anything: no
//! thread, no socket, and the hub subscriber returns at its first test.
//!
//! READY, RELOADING and STOPPING are sent by the threads that do those things
//! (main, `reload`). The counts and the watchdog have one thread, `service-manager`,
//! made only when the manager listens: it sleeps on a condvar until the counts may
//! have changed or a keep-alive is due, so with no watchdog an idle daemon wakes it
//! never.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::warn;
use parking_lot::{Condvar, Mutex};

use crate::hub::{Event, Subscriber};
use crate::supervisor::Supervisor;
use crate::sys::sd_notify::{self, NotifySocket};
use crate::watch::State;

/// The least time between two `STATUS=` messages: a thousand instances changing
/// state at once make a handful of messages, not a thousand.
const STATUS_GAP: Duration = Duration::from_millis(250);

/// The daemon's line to the service manager; inert when it did not start us.
pub struct ServiceManager {
    socket: Option<NotifySocket>,
    /// A failed send is logged once: a manager that cannot be reached is no reason
    /// to fill the event log, nor to stop.
    warned: AtomicBool,
    /// Once the shutdown has begun, a reload that ends meanwhile says no `READY=1`.
    stopping: AtomicBool,
    counts: Arc<CountsChanged>,
}

impl ServiceManager {
    /// Reads `NOTIFY_SOCKET` (after the event log is up: a value taskmaster cannot
    /// use is logged, and then ignored).
    pub fn from_env() -> Arc<ServiceManager> {
        let socket = sd_notify::NotifySocket::from_env().unwrap_or_else(|e| {
            warn!("service manager: {e}; not notifying it");
            None
        });
        let counts = Arc::new(CountsChanged {
            enabled: socket.is_some(),
            ..CountsChanged::default()
        });
        Arc::new(ServiceManager {
            socket,
            warned: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            counts,
        })
    }

    /// The hub subscriber that wakes the `service-manager` thread when the counts
    /// may have changed.
    pub fn subscriber(&self) -> Arc<dyn Subscriber> {
        self.counts.clone()
    }

    /// Starts the `service-manager` thread (counts, watchdog) when the manager
    /// listens; without it, does nothing.
    pub fn start(self: &Arc<Self>, sup: &Arc<Supervisor>) -> Result<(), String> {
        if self.socket.is_none() {
            return Ok(());
        }
        let watchdog = sd_notify::watchdog_period();
        let (me, sup) = (self.clone(), sup.clone());
        crate::daemon::spawn_thread("service-manager", move || me.serve(&sup, watchdog))
    }

    /// The autostart has been applied: the daemon serves commands and has started
    /// what it starts at once.
    pub fn ready(&self) {
        if !self.stopping.load(Ordering::SeqCst) {
            self.send("READY=1");
        }
    }

    /// A reload begins; the manager hears `READY=1` again when the returned guard
    /// is dropped, whatever the reload's outcome (a failed one keeps the old
    /// configuration running).
    pub fn reloading(&self) -> Reloading<'_> {
        if self.socket.is_some() {
            let now = sd_notify::monotonic_usec();
            self.send(&format!("RELOADING=1\nMONOTONIC_USEC={now}"));
        }
        Reloading(self)
    }

    /// The shutdown has begun.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.send("STOPPING=1");
    }

    fn send(&self, message: &str) {
        let Some(socket) = &self.socket else { return };
        if let Err(e) = socket.send(message) {
            if !self.warned.swap(true, Ordering::SeqCst) {
                warn!(
                    "service manager: cannot notify it at NOTIFY_SOCKET={}: {e}; \
                     going on without (this is said once)",
                    socket.name
                );
            }
        }
    }

    /// The `service-manager` thread: `STATUS=` when the counts changed (at most
    /// one per [`STATUS_GAP`], the last change always told), `WATCHDOG=1` every
    /// half `period`.
    fn serve(&self, sup: &Supervisor, period: Option<Duration>) {
        let mut next_ping = period.map(|_| Instant::now());
        let mut next_status = Instant::now();
        let mut last_status = String::new();
        // The first counts, whatever happens next.
        self.counts.changed.store(true, Ordering::SeqCst);
        loop {
            let now = Instant::now();
            if let (Some(at), Some(period)) = (next_ping, period) {
                if now >= at {
                    // The registry's lock, taken by every command, reload and
                    // start: a daemon deadlocked on it stops answering the
                    // watchdog, and the manager restarts it.
                    drop(sup.instances());
                    self.send("WATCHDOG=1");
                    next_ping = Some(now + period / 2);
                }
            }
            if now >= next_status && self.counts.changed.swap(false, Ordering::SeqCst) {
                let text = status_text(sup);
                if text != last_status {
                    self.send(&format!("STATUS={text}"));
                    last_status = text;
                    next_status = now + STATUS_GAP;
                }
            }
            let mut guard = self.counts.lock.lock();
            let status_due = self
                .counts
                .changed
                .load(Ordering::SeqCst)
                .then_some(next_status);
            match next_ping.into_iter().chain(status_due).min() {
                Some(at) if at <= Instant::now() => continue,
                Some(at) => drop(self.counts.wake.wait_until(&mut guard, at)),
                None => self.counts.wake.wait(&mut guard),
            }
        }
    }
}

/// Sends `READY=1` when dropped: the reload is over.
pub struct Reloading<'a>(&'a ServiceManager);

impl Drop for Reloading<'_> {
    fn drop(&mut self) {
        self.0.ready();
    }
}

/// `3 running, 1 fatal (5 instances)`.
fn status_text(sup: &Supervisor) -> String {
    let instances = sup.instances();
    let states: Vec<State> = instances.iter().map(|i| i.status().state).collect();
    let running = states.iter().filter(|s| **s == State::Running).count();
    let fatal = states.iter().filter(|s| **s == State::Fatal).count();
    format!(
        "{running} running, {fatal} fatal ({} instances)",
        states.len()
    )
}

/// The hub subscriber: marks the counts as changed and wakes the thread, once per
/// burst (an atomic swap per event after the first; the lock only to wake it).
#[derive(Default)]
struct CountsChanged {
    enabled: bool,
    changed: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Subscriber for CountsChanged {
    fn event(&self, event: &Event<'_>) {
        if !self.enabled {
            return;
        }
        let counts_may_change = match event {
            Event::StateChanged { from, to, .. } => {
                let counted = |s: &State| matches!(s, State::Running | State::Fatal);
                from != to && (counted(from) || counted(to))
            }
            // Instances added or removed.
            Event::Reloaded { .. } => true,
            _ => false,
        };
        if counts_may_change && !self.changed.swap(true, Ordering::SeqCst) {
            let _guard = self.lock.lock();
            self.wake.notify_one();
        }
    }
}
