//! The shared face of one instance: what the command layer reads and sends.
//!
//! The watcher thread owns the instance's child and its [`Machine`]; everyone else
//! sees only a published [`Status`] (behind a mutex, with a condvar to wait for a
//! change) and an inbox of [`Command`]s whose arrival is signalled on an eventfd
//! the watcher polls together with its child's pidfd.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::signal::Signal;
use parking_lot::{Condvar, Mutex, RwLock};

use super::handle::SignalOutcome;
use super::state::{ExitStatus, StartFailure, State};
use crate::config::ProgramConfig;
use crate::output::OutputBuffers;
use crate::pty::viewers::Viewers;

/// A request to the watcher.
pub enum Command {
    Start,
    Stop,
    /// Stop for good: the daemon is shutting down.
    Shutdown,
    /// SIGKILL the process group now (second SIGINT/SIGTERM).
    KillNow,
    /// Send a signal to the process group; the result comes back on the channel.
    Signal(Signal, SyncSender<SignalOutcome>),
    /// New settings for the instance's program (reload).
    Update(Arc<ProgramConfig>),
    /// Stop, then end the watcher thread (program removed or scaled down).
    Remove,
    /// Why a stopped instance was not started (shown by `status` until it starts).
    Note(String),
}

/// What the watcher publishes after every decision.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: State,
    pub pid: Option<i32>,
    /// When the current or last process was spawned.
    pub started_at: Option<(Instant, SystemTime)>,
    /// When the last process ended.
    pub stopped_at: Option<SystemTime>,
    pub last_exit: Option<ExitStatus>,
    pub spawnerr: Option<String>,
    /// Why the last start failed, typed (the machine's `start_failure`).
    pub start_failure: Option<StartFailure>,
    pub restarts: u32,
    pub ever_started: bool,
    /// Sequence number of the last command the watcher has applied.
    pub handled: u64,
    /// The watcher thread has ended (instance removed, or its watcher crashed).
    pub finished: bool,
    /// The watcher thread panicked: the instance is FATAL for good (`watcher::crash`).
    pub crashed: bool,
    /// Members of a stopped process group still await their SIGKILL at stoptime.
    pub leftovers: bool,
    /// Why it was not started, until it is.
    pub note: Option<String>,
}

impl Status {
    pub fn uptime(&self) -> Option<Duration> {
        match self.state {
            State::Starting | State::Running => self.started_at.map(|(t, _)| t.elapsed()),
            _ => None,
        }
    }
}

struct Inbox {
    next_seq: u64,
    queue: VecDeque<(u64, Command)>,
    /// The watcher has ended: nothing will ever read the queue again.
    closed: bool,
}

pub struct Instance {
    /// `NAME` or `NAME:K`; renamed when numprocs goes between 1 and more.
    name: RwLock<String>,
    pub program: String,
    pub index: u32,
    pub output: Arc<OutputBuffers>,
    status: Mutex<Status>,
    changed: Condvar,
    inbox: Mutex<Inbox>,
    /// Sequence number of the latest `Start`/`Stop`/`Remove` sent: a wait for an
    /// earlier one may end once this one is handled (see `wait_for`).
    last_lifecycle: AtomicU64,
    wake: EventFd,
    /// The live child's input, for attach: its stdin pipe or its pty master.
    input: Mutex<Option<ChildInput>>,
    /// The attach sessions sharing its pty's window size.
    pub viewers: Viewers,
}

/// Where keystrokes for the live child go.
#[derive(Clone)]
pub struct ChildInput {
    pub fd: Arc<OwnedFd>,
    /// A pty master (window size applies, output is one stream) or a stdin pipe.
    pub pty: bool,
    pub pid: i32,
    /// Set when this child's pump has read its output to the end.
    pub drained: Arc<std::sync::atomic::AtomicBool>,
}

impl Instance {
    pub fn new(name: String, program: String, index: u32, tail_buffer: usize) -> nix::Result<Self> {
        Ok(Instance {
            name: RwLock::new(name),
            program,
            index,
            output: Arc::new(OutputBuffers::new(tail_buffer)),
            status: Mutex::new(Status {
                state: State::Stopped,
                pid: None,
                started_at: None,
                stopped_at: None,
                last_exit: None,
                spawnerr: None,
                start_failure: None,
                restarts: 0,
                ever_started: false,
                handled: 0,
                finished: false,
                crashed: false,
                leftovers: false,
                note: None,
            }),
            changed: Condvar::new(),
            inbox: Mutex::new(Inbox {
                next_seq: 1,
                queue: VecDeque::new(),
                closed: false,
            }),
            last_lifecycle: AtomicU64::new(0),
            wake: EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?,
            input: Mutex::new(None),
            viewers: Viewers::default(),
        })
    }

    pub fn name(&self) -> String {
        self.name.read().clone()
    }

    /// Renames the instance (reload of numprocs 1 <-> N): same process, new name.
    pub fn rename(&self, name: String) {
        *self.name.write() = name;
    }

    /// Queues a command for the watcher and returns its sequence number.
    pub fn send(&self, cmd: Command) -> u64 {
        let seq = {
            let mut inbox = self.inbox.lock();
            let seq = inbox.next_seq;
            inbox.next_seq += 1;
            if matches!(
                cmd,
                Command::Start | Command::Stop | Command::Shutdown | Command::Remove
            ) {
                self.last_lifecycle.fetch_max(seq, Ordering::SeqCst);
            }
            // No watcher any more: the command is dropped here, so whoever waits
            // on its reply channel (`signal`) learns at once it will never come.
            if !inbox.closed {
                inbox.queue.push_back((seq, cmd));
            }
            seq
        };
        // A full counter (never in practice) still leaves the fd readable: fine.
        let _ = self.wake.write(1);
        seq
    }

    pub fn status(&self) -> Status {
        self.status.lock().clone()
    }

    /// Blocks until the watcher has applied command `seq` and `done` holds (or the
    /// watcher has ended); for a `Start` or `Stop`, the wait also ends once a later
    /// start or stop of this instance (another client's) has been handled and
    /// `settled` holds. Without that, a stop racing another client's start could
    /// wait forever for a stopped state the later start never lets come. Returns
    /// the status, and whether a later command took over.
    pub(super) fn wait_or_superseded(
        &self,
        seq: u64,
        done: impl Fn(&Status) -> bool,
        settled: impl Fn(&Status) -> bool,
    ) -> (Status, bool) {
        let mut status = self.status.lock();
        loop {
            if status.finished || (status.handled >= seq && done(&status)) {
                return (status.clone(), false);
            }
            let later = self.last_lifecycle.load(Ordering::SeqCst);
            if later > seq && status.handled >= later && settled(&status) {
                return (status.clone(), true);
            }
            self.changed.wait(&mut status);
        }
    }

    /// The live child's input, if a child is running.
    pub fn input(&self) -> Option<ChildInput> {
        self.input.lock().clone()
    }

    // ---- watcher side ----

    pub(super) fn set_input(&self, input: Option<ChildInput>) {
        *self.input.lock() = input;
    }

    pub(super) fn wake_fd(&self) -> &EventFd {
        &self.wake
    }

    /// The watcher is ending: commands still queued, or sent from now on, are
    /// dropped (their reply channels close) instead of waiting forever.
    pub(super) fn close_inbox(&self) {
        let dropped: Vec<(u64, Command)> = {
            let mut inbox = self.inbox.lock();
            inbox.closed = true;
            inbox.queue.drain(..).collect()
        };
        drop(dropped);
    }

    pub(super) fn take_commands(&self) -> Vec<(u64, Command)> {
        let _ = self.wake.read();
        self.inbox.lock().queue.drain(..).collect()
    }

    pub(super) fn publish(&self, update: impl FnOnce(&mut Status)) {
        update(&mut self.status.lock());
        self.changed.notify_all();
    }
}
