//! The event hub: how what happens to instances (and to the daemon) leaves the
//! thread where it happened and reaches whoever cares — the event log, the
//! children journal, alerts, the dependency scheduler, notice subscribers, the
//! metrics counters.
//!
//! Producers (each watcher, the reloader, the shutdown's progress) hold a [`Hub`],
//! handed to them when they are made, and call [`Hub::publish`] with a plain
//! [`Event`] record. The hub calls every [`Subscriber`] in turn, synchronously, on
//! the producer's thread, in the order they were registered: a subscriber's work
//! is done when `publish` returns. So a producer that publishes before it changes
//! something visible (the journal line before the status is published) keeps that
//! order for everyone.
//!
//! The subscriber list is fixed when the hub is built and read without a lock (an
//! `Arc<[_]>`): a thousand watchers publishing at once contend on nothing here.
//! Each subscriber keeps its own state, and its own lock when it needs one. Adding
//! a subscriber touches no producer.

use std::os::fd::BorrowedFd;
use std::sync::mpsc::{Sender, SyncSender};
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::config::{DaemonSettings, Policy};
use crate::event_stream::{EventFeed, EventFollowers};
use crate::journal::ChildrenJournal;
use crate::metrics::DaemonCounters;
use crate::notices::Notices;
use crate::notify::Notifier;
use crate::watch::state::{HealthState, Report, State};
use crate::watch::Suppressed;

/// What happened, as a plain record. Borrowed: publishing allocates nothing.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A fact the state machine of instance `name` reported; `pid` is its live
    /// child's (if any). `write_line`: the watcher's crash-loop limiter lets this
    /// one's event-log line through (else it is counted, to be summed up later).
    Report {
        name: &'a str,
        pid: Option<i32>,
        report: &'a Report,
        policy: &'a Policy,
        write_line: bool,
    },
    /// The lines of a crash loop that were counted instead of written.
    LinesSuppressed {
        name: &'a str,
        counted: &'a Suppressed,
    },
    StartRequested {
        name: &'a str,
    },
    /// A child was spawned; `pidfd` is its pidfd (valid during the call).
    Spawned {
        name: &'a str,
        pid: i32,
        pidfd: BorrowedFd<'a>,
    },
    /// A child was reaped.
    Reaped {
        name: &'a str,
        pid: i32,
    },
    /// The published state of `name` went from `from` to `to` (published before);
    /// `pid`: its process in the new state, if any.
    StateChanged {
        name: &'a str,
        pid: Option<i32>,
        from: State,
        to: State,
    },
    /// The published health of `name` changed (published before, as a state
    /// change is); `None`: no check runs.
    HealthChanged {
        name: &'a str,
        to: Option<HealthState>,
    },
    SignalFailed {
        name: &'a str,
        signal: Signal,
        errno: Errno,
    },
    /// Nothing can read the output of `pid` any more: it is killed.
    OutputLost {
        name: &'a str,
        pid: i32,
        reason: &'a str,
    },
    /// The leader `pgid` of a group exited on its own and `members` of it live on.
    GroupOutlived {
        name: &'a str,
        pgid: i32,
        members: usize,
        signal: Signal,
    },
    GroupKilled {
        name: &'a str,
        pgid: i32,
    },
    /// `count` adopted processes of `name` (outside its group: `orphans`) were
    /// sent `signal`, with its stop or at its `stoptime`.
    AdoptedSignalled {
        name: &'a str,
        count: usize,
        signal: Signal,
    },
    /// The watcher of `name` panicked (`watch/watcher/crash.rs`).
    WatcherFailed {
        name: &'a str,
        pid: Option<i32>,
        what: &'a str,
    },
    /// A reload (or `update`, `add`, `remove`) was applied; `text` says what
    /// changed, in the event log's words.
    Reloaded {
        text: &'a str,
    },
    /// A reload failed or was refused; nothing changed (`text` says why).
    ReloadFailed {
        text: &'a str,
    },
    /// A reload asked for by SIGHUP failed: nobody waits for its reply.
    SighupReloadFailed {
        why: &'a str,
    },
    /// A message of the daemon itself (`taskmaster: …`) for notice subscribers.
    DaemonNotice {
        text: &'a str,
    },
}

/// Something that wants to know what happens. Called on the producer's thread:
/// it must be quick and never block on anything another producer may hold.
pub trait Subscriber: Send + Sync {
    fn event(&self, event: &Event<'_>);

    /// The daemon's settings, at start and on every reload.
    fn configure(&self, _settings: &DaemonSettings) {}
}

/// The hub: cheap to clone (a few `Arc`s), one per daemon.
#[derive(Clone)]
pub struct Hub {
    subscribers: Arc<[Arc<dyn Subscriber>]>,
    notices: Arc<Notices>,
    notifier: Notifier,
    journal: Arc<ChildrenJournal>,
    scheduler: Arc<SchedulerWake>,
    events: Arc<EventFollowers>,
    counters: Arc<DaemonCounters>,
}

impl Hub {
    /// The daemon's subscribers, in this order — alerts, notices, the event log,
    /// the children journal, the dependency scheduler, the event stream's
    /// followers, the metrics' counters — then `extra` (a test's recorder). Nothing is written, run or woken until opened
    /// or connected: the journal by [`ChildrenJournal::open`], the scheduler by
    /// `Supervisor::run_scheduler`, alerts by [`Hub::configure`].
    pub fn new(extra: Vec<Arc<dyn Subscriber>>) -> Hub {
        let notices = Arc::new(Notices::default());
        let notifier = Notifier::default();
        let journal = Arc::new(ChildrenJournal::default());
        let scheduler = Arc::new(SchedulerWake::default());
        let events = Arc::new(EventFollowers::default());
        let counters = Arc::new(DaemonCounters::default());
        let mut subscribers: Vec<Arc<dyn Subscriber>> = vec![
            Arc::new(notifier.clone()),
            notices.clone(),
            Arc::new(crate::eventlog::EventLines),
            journal.clone(),
            scheduler.clone(),
            events.clone(),
            counters.clone(),
        ];
        subscribers.extend(extra);
        Hub {
            subscribers: subscribers.into(),
            notices,
            notifier,
            journal,
            scheduler,
            events,
            counters,
        }
    }

    /// Tells every subscriber, in order, on this thread.
    pub fn publish(&self, event: &Event<'_>) {
        for subscriber in self.subscribers.iter() {
            subscriber.event(event);
        }
    }

    /// Hands the daemon's settings to every subscriber (start, reload).
    pub fn configure(&self, settings: &DaemonSettings) {
        for subscriber in self.subscribers.iter() {
            subscriber.configure(settings);
        }
    }

    /// Sends notices of unexpected exits, spawn errors, FATALs and the daemon's
    /// own messages to `sink` from now on (the daemon's shell, `notices` on the
    /// socket). A sink whose receiver is gone is dropped at the next notice.
    pub fn subscribe_notices(&self, sink: SyncSender<String>) {
        self.notices.subscribe(sink);
    }

    /// Every event from now on, as records, until the feed is dropped (`events`;
    /// see `event_stream.rs`).
    pub fn follow_events(&self) -> EventFeed {
        self.events.follow()
    }

    /// How many follow the event stream now.
    pub fn event_followers(&self) -> usize {
        self.events.count()
    }

    /// A message of the daemon itself for the notice subscribers.
    pub fn daemon_notice(&self, text: &str) {
        self.publish(&Event::DaemonNotice { text });
    }

    /// Alerts (`taskmaster.notify`): their counts, their shutdown.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// The children journal: opened at start, closed by a clean shutdown, asked
    /// about a previous run's processes.
    pub fn journal(&self) -> &ChildrenJournal {
        &self.journal
    }

    /// The daemon's counts for `/metrics`: reloads, failed reloads, events by kind.
    pub fn counters(&self) -> &DaemonCounters {
        &self.counters
    }

    pub(crate) fn scheduler(&self) -> &SchedulerWake {
        &self.scheduler
    }
}

/// Wakes the dependency scheduler when an instance enters RUNNING or FATAL, or
/// becomes healthy:
/// programs waiting on it may start, or learn why they keep waiting. Until the
/// scheduler thread runs (never, in a unit test) nothing is sent.
#[derive(Default)]
pub(crate) struct SchedulerWake {
    tx: std::sync::OnceLock<Sender<()>>,
}

impl SchedulerWake {
    /// Connects the scheduler thread's channel (once).
    pub(crate) fn connect(&self, tx: Sender<()>) {
        let _ = self.tx.set(tx);
    }
}

impl Subscriber for SchedulerWake {
    fn event(&self, event: &Event<'_>) {
        let wake = match event {
            Event::StateChanged { from, to, .. } => {
                from != to && matches!(to, State::Running | State::Fatal)
            }
            // `depends_on: {NAME: healthy}` waits for this.
            Event::HealthChanged { to, .. } => *to == Some(HealthState::Healthy),
            _ => false,
        };
        if let (true, Some(tx)) = (wake, self.tx.get()) {
            let _ = tx.send(());
        }
    }
}
