//! `events`: every event of the hub, as it happens, to each client following it
//! (`taskmasterctl events [--json]`), for log shippers and scripts.
//!
//! A subscriber of the hub ([`crate::hub`]). With nobody following, an event costs
//! one atomic load: no lock, no allocation. With followers, the publishing thread
//! makes one [`EventRecord`] (shared by every follower through an `Arc`) and offers
//! it to each follower's bounded queue without waiting: a follower whose queue is
//! full loses the event, counts it, and is told how many it lost
//! ([`Item::Lost`]) once it has room again. So a client that stops reading never
//! holds up a watcher. The follower's own thread (a connection's, or the daemon's
//! shell) turns the records into lines.
//!
//! How many follow is bounded by what holds a follower: each control connection
//! (at most `max_connections`) and the daemon's own shell. A follower leaves the
//! list as soon as its [`EventFeed`] is dropped.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::SystemTime;

use nix::sys::signal::Signal;
use parking_lot::RwLock;

use crate::hub::{Event, Subscriber};
use crate::watch::state::{ExitStatus, HealthState, Report, State};

/// Events queued for one follower before the next ones are dropped.
pub const FOLLOWER_QUEUE: usize = 256;

/// One event, as the stream tells it: plain owned data, made on the publishing
/// thread, written out on the follower's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub time: SystemTime,
    /// A stable snake_case name (README: Event stream).
    pub kind: &'static str,
    /// The instance it happened to; `None` for the daemon's own events.
    pub instance: Option<String>,
    pub pid: Option<i32>,
    /// A state change's states.
    pub from: Option<State>,
    pub to: Option<State>,
    /// How a process ended (`exited`, `stopped`).
    pub exit: Option<ExitStatus>,
    /// Whether an exit was expected (`exited`).
    pub expected: Option<bool>,
    /// A signal sent, or that could not be sent.
    pub signal: Option<Signal>,
    /// The health an instance went to (`healthy`, `unhealthy`), and why a
    /// check failed.
    pub health: Option<HealthState>,
    pub reason: Option<String>,
    /// In the event log's words where it has a line for the event.
    pub message: String,
}

/// What a follower's queue carries.
#[derive(Debug)]
pub enum Item {
    Event(Arc<EventRecord>),
    /// This many events were dropped for this follower (it read too slowly).
    Lost(u64),
    /// The follower is asked to end (its client went away): wakes its reader.
    End,
}

/// What a follower and the subscriber share.
#[derive(Default)]
struct Shared {
    /// Events dropped and not yet told.
    lost: AtomicU64,
    /// The feed was dropped: its entry goes at the next change of the list.
    gone: AtomicBool,
}

struct Follower {
    queue: SyncSender<Item>,
    shared: Arc<Shared>,
}

impl Follower {
    /// Queues `record` without waiting; counts it lost if the queue is full.
    fn offer(&self, record: &Arc<EventRecord>) {
        let lost = self.shared.lost.swap(0, Ordering::SeqCst);
        if lost > 0 {
            match self.queue.try_send(Item::Lost(lost)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.shared.lost.fetch_add(lost + 1, Ordering::SeqCst);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        if let Err(TrySendError::Full(_)) = self.queue.try_send(Item::Event(record.clone())) {
            self.shared.lost.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The clients following the event stream. Its lock is a leaf: the publishing
/// threads share it (a read lock, only while someone follows), a follower coming
/// or going takes it alone; nothing is taken under it.
#[derive(Default)]
pub struct EventFollowers {
    followers: RwLock<Vec<Follower>>,
    /// How many there are, read without the lock on every event.
    count: AtomicUsize,
}

impl EventFollowers {
    /// A new follower: every event from now on, until the feed is dropped.
    pub fn follow(self: &Arc<Self>) -> EventFeed {
        let (queue, rx) = std::sync::mpsc::sync_channel(FOLLOWER_QUEUE);
        let shared = Arc::new(Shared::default());
        let mut followers = self.followers.write();
        followers.push(Follower {
            queue: queue.clone(),
            shared: shared.clone(),
        });
        self.count.store(followers.len(), Ordering::SeqCst);
        EventFeed {
            rx,
            wake: queue,
            shared,
            followers: self.clone(),
        }
    }

    /// How many follow now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    fn forget_gone(&self) {
        let mut followers = self.followers.write();
        followers.retain(|f| !f.shared.gone.load(Ordering::SeqCst));
        self.count.store(followers.len(), Ordering::SeqCst);
    }
}

impl Subscriber for EventFollowers {
    fn event(&self, event: &Event<'_>) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Some(record) = record_of(event, SystemTime::now()) else {
            return;
        };
        let record = Arc::new(record);
        for follower in self.followers.read().iter() {
            follower.offer(&record);
        }
    }
}

/// One follower's end of the stream. Dropping it leaves the list at once.
pub struct EventFeed {
    rx: Receiver<Item>,
    /// To wake the reader from another thread ([`EventFeed::ender`]).
    wake: SyncSender<Item>,
    shared: Arc<Shared>,
    followers: Arc<EventFollowers>,
}

impl EventFeed {
    /// The next item: an event, or the count of those lost as soon as the queue
    /// has been read empty (so a client that catches up hears of them even if
    /// nothing more happens). Blocks until there is one.
    pub fn next(&self) -> Result<Item, RecvError> {
        match self.rx.try_recv() {
            Ok(item) => return Ok(item),
            Err(TryRecvError::Disconnected) => return Err(RecvError),
            Err(TryRecvError::Empty) => {}
        }
        match self.shared.lost.swap(0, Ordering::SeqCst) {
            0 => self.rx.recv(),
            lost => Ok(Item::Lost(lost)),
        }
    }

    /// Asks the reader to end: [`Item::End`] comes next (or, if the queue is full,
    /// the reader is busy with it and sees the end when its client is gone).
    pub fn ender(&self) -> impl FnOnce() + Send + 'static {
        let wake = self.wake.clone();
        move || {
            let _ = wake.try_send(Item::End);
        }
    }
}

impl Drop for EventFeed {
    fn drop(&mut self) {
        self.shared.gone.store(true, Ordering::SeqCst);
        self.followers.forget_gone();
    }
}

/// The kind of `event` as the stream names it (README: Event stream), or `None`
/// for one the stream leaves out. Exhaustive on purpose: a new kind of event
/// must say what it is here. Also what `taskmaster_events_total` counts by.
pub(crate) fn kind_of(event: &Event<'_>) -> Option<&'static str> {
    Some(match *event {
        Event::Report { report, .. } => match *report {
            Report::Spawned { .. } => "spawned",
            Report::SpawnError { .. } => "spawn_error",
            Report::Running { .. } => "running",
            Report::Exited { .. } => "exited",
            Report::Backoff { .. } => "backoff",
            Report::GaveUp { .. } => "fatal",
            Report::Throttled { .. } => "throttled",
            Report::Unthrottled => "unthrottled",
            Report::StopRequested { .. } => "stop_requested",
            Report::Stopped { .. } => "stopped",
            Report::Killed => "killed",
            Report::MemoryOver { .. } => "memory_over",
            Report::Following { .. } => "following",
            Report::Healthy => "healthy",
            Report::Unhealthy { .. } => "unhealthy",
        },
        // Said once a second by the event log when a crash loop's lines are
        // counted; the stream has every one of those events already.
        Event::LinesSuppressed { .. } => return None,
        Event::StartRequested { .. } => "start_requested",
        // The children journal's moment; the report `spawned` follows.
        Event::Spawned { .. } => return None,
        Event::Reaped { .. } => "reaped",
        Event::StateChanged { .. } => "state_changed",
        Event::SignalFailed { .. } => "signal_failed",
        Event::OutputLost { .. } => "output_lost",
        Event::GroupOutlived { .. } => "group_outlived",
        Event::GroupKilled { .. } => "group_killed",
        Event::AdoptedSignalled { .. } => "adopted_signalled",
        // The reports `healthy` and `unhealthy` say it, with the reason.
        Event::HealthChanged { .. } => return None,
        Event::WatcherFailed { .. } => "watcher_failed",
        Event::Reloaded { .. } => "reload",
        Event::ReloadFailed { .. } => "reload_failed",
        // Also published as `ReloadFailed`, with the same reason.
        Event::SighupReloadFailed { .. } => return None,
        Event::DaemonNotice { .. } => "daemon",
    })
}

/// The record of `event` (of kind [`kind_of`]), or `None` for one the stream
/// leaves out.
fn record_of(event: &Event<'_>, time: SystemTime) -> Option<EventRecord> {
    let kind = kind_of(event)?;
    let words = || crate::eventlog::words(event).map(|(_, text)| text);
    let base = |instance: &str, pid: Option<i32>| EventRecord {
        time,
        kind,
        instance: Some(instance.to_string()),
        pid,
        from: None,
        to: None,
        exit: None,
        expected: None,
        signal: None,
        health: None,
        reason: None,
        message: words().unwrap_or_default(),
    };
    let daemon = |message: &str| EventRecord {
        instance: None,
        message: message.to_string(),
        ..base("", None)
    };
    let record = match *event {
        Event::Report {
            name, pid, report, ..
        } => report_record(&base, name, pid, report),
        Event::LinesSuppressed { .. }
        | Event::Spawned { .. }
        | Event::SighupReloadFailed { .. } => return None,
        Event::StartRequested { name } => base(name, None),
        Event::Reaped { name, pid } => EventRecord {
            message: format!("reaped: {name} (pid {pid})"),
            ..base(name, Some(pid))
        },
        Event::StateChanged {
            name,
            pid,
            from,
            to,
        } => EventRecord {
            from: Some(from),
            to: Some(to),
            message: format!("{name}: {} -> {}", from.name(), to.name()),
            ..base(name, pid)
        },
        // The reports `healthy` and `unhealthy` say it, with the reason.
        Event::HealthChanged { .. } => return None,
        Event::SignalFailed { name, signal, .. } => EventRecord {
            signal: Some(signal),
            ..base(name, None)
        },
        Event::OutputLost { name, pid, .. } => base(name, Some(pid)),
        Event::GroupOutlived {
            name, pgid, signal, ..
        } => EventRecord {
            signal: Some(signal),
            ..base(name, Some(pgid))
        },
        Event::GroupKilled { name, pgid } => EventRecord {
            signal: Some(Signal::SIGKILL),
            ..base(name, Some(pgid))
        },
        Event::AdoptedSignalled { name, signal, .. } => EventRecord {
            signal: Some(signal),
            ..base(name, None)
        },
        Event::WatcherFailed { name, pid, .. } => base(name, pid),
        Event::Reloaded { text } | Event::ReloadFailed { text } | Event::DaemonNotice { text } => {
            daemon(text)
        }
    };
    Some(record)
}

/// The record of a watcher's report: what it says of the process.
fn report_record(
    base: &impl Fn(&str, Option<i32>) -> EventRecord,
    name: &str,
    pid: Option<i32>,
    report: &Report,
) -> EventRecord {
    match *report {
        Report::Spawned { pid } => base(name, Some(pid)),
        Report::SpawnError { .. } => base(name, None),
        Report::Exited {
            pid,
            status,
            expected,
        } => EventRecord {
            exit: Some(status),
            expected: Some(expected),
            ..base(name, Some(pid))
        },
        Report::Following { pid, .. } => base(name, Some(pid)),
        Report::StopRequested { signal } => EventRecord {
            signal: Some(signal),
            ..base(name, pid)
        },
        Report::Stopped { status } => EventRecord {
            exit: Some(status),
            ..base(name, pid)
        },
        Report::Killed => EventRecord {
            signal: Some(Signal::SIGKILL),
            ..base(name, pid)
        },
        // The report's own pid: the process that failed or gave up.
        Report::Backoff { pid, .. } | Report::GaveUp { pid } => base(name, pid),
        // A memory restart's message says how much it used and the limit.
        Report::Running { .. }
        | Report::Throttled { .. }
        | Report::Unthrottled
        | Report::MemoryOver { .. } => base(name, pid),
        Report::Healthy => EventRecord {
            health: Some(HealthState::Healthy),
            ..base(name, pid)
        },
        Report::Unhealthy { ref reason, .. } => EventRecord {
            health: Some(HealthState::Unhealthy),
            reason: Some(reason.clone()),
            ..base(name, pid)
        },
    }
}

#[cfg(test)]
#[path = "event_stream_tests.rs"]
pub(crate) mod tests;
