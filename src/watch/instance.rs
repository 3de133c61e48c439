//! The shared face of one instance: what the command layer reads and sends.
//!
//! The watcher thread owns the instance's child and its [`Machine`]; everyone else
//! sees only a published [`Status`] (behind a mutex, with a condvar to wait for a
//! change) and an inbox of [`Command`]s whose arrival wakes the watcher out of its
//! `ppoll` with a thread-directed signal ([`crate::sys::wake`]): no descriptor.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use parking_lot::{Condvar, Mutex, RwLock};

use super::handle::SignalOutcome;
use super::spawn::StdinPipe;
use super::state::{ExitStatus, HealthState, StartFailure, State};
use super::stdin::StdinError;
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
    /// The result of a health check of child `pid` (from its checker thread).
    HealthResult {
        pid: i32,
        result: Result<(), String>,
    },
    /// An upgrade in place: hand in the instance's record and wait (`handover`).
    Quiesce(Arc<super::handover::QuiesceHold>),
    /// After an upgrade in place: take over the previous process's instance.
    Adopt(Box<super::handover::Adopted>),
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
    /// A RUNNING instance's health, when its program has a health check, and
    /// why its last check failed (until one passes).
    pub health: Option<HealthState>,
    pub health_reason: Option<String>,
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
    /// The watcher's thread, once it runs; signalled only under this lock and
    /// while `closed` is false, so never after the thread ended (its id may
    /// then name another thread).
    watcher: Option<crate::sys::wake::Thread>,
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
    /// The live child's input, for attach: its stdin pipe or its pty master.
    input: Mutex<Option<ChildInput>>,
    /// The attach sessions sharing its pty's window size.
    pub viewers: Viewers,
}

/// Where keystrokes for the live child go.
#[derive(Clone)]
pub struct ChildInput {
    pub to: InputTarget,
    pub pid: i32,
    /// Set when this child's pump has read its output to the end.
    pub drained: Arc<std::sync::atomic::AtomicBool>,
}

/// The live child's input.
#[derive(Clone)]
pub enum InputTarget {
    /// Its pty master, the one the pump reads (window size applies, output is one
    /// stream).
    Pty(Arc<OwnedFd>),
    /// Its stdin pipe, reached through `/proc/PID/fd/0` (`watch::stdin`).
    Pipe(StdinPipe),
}

impl ChildInput {
    /// A pty child (rather than pipes).
    pub fn is_pty(&self) -> bool {
        matches!(self.to, InputTarget::Pty(_))
    }

    /// Sends attach input to the child: through the pty, or into its stdin pipe if
    /// fd 0 still is that pipe. Returns the bytes taken.
    pub fn write(&self, data: &[u8]) -> Result<usize, StdinError> {
        match &self.to {
            InputTarget::Pty(master) => {
                nix::unistd::write(master.as_fd(), data).map_err(StdinError::Os)
            }
            InputTarget::Pipe(pipe) => super::stdin::write_stdin(self.pid, *pipe, data),
        }
    }
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
                health: None,
                health_reason: None,
            }),
            changed: Condvar::new(),
            inbox: Mutex::new(Inbox {
                next_seq: 1,
                queue: VecDeque::new(),
                closed: false,
                watcher: None,
            }),
            last_lifecycle: AtomicU64::new(0),
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
                // Under the lock: the watcher closes the inbox before it ends, so
                // the thread signalled here is alive. Before it registered, it has
                // not looked at the queue yet and will find the command there.
                if let Some(thread) = inbox.watcher {
                    let _ = crate::sys::wake::wake(thread);
                }
            }
            seq
        };
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

    /// Whether a child is running (it holds the daemon's descriptors for it).
    pub fn has_child(&self) -> bool {
        self.input.lock().is_some()
    }

    // ---- watcher side ----

    pub(super) fn set_input(&self, input: Option<ChildInput>) {
        *self.input.lock() = input;
    }

    /// Called by the watcher thread itself before its first look at the queue,
    /// with the wake signal blocked: from then on `send` signals it.
    pub(super) fn register_watcher(&self, thread: crate::sys::wake::Thread) {
        self.inbox.lock().watcher = Some(thread);
    }

    /// Whether commands wait (checked before sleeping: a wake sent before the
    /// watcher registered was not signalled).
    pub(super) fn has_commands(&self) -> bool {
        !self.inbox.lock().queue.is_empty()
    }

    /// The watcher is ending: commands still queued, or sent from now on, are
    /// dropped (their reply channels close) instead of waiting forever.
    pub(super) fn close_inbox(&self) {
        let dropped: Vec<(u64, Command)> = {
            let mut inbox = self.inbox.lock();
            inbox.closed = true;
            inbox.watcher = None;
            inbox.queue.drain(..).collect()
        };
        drop(dropped);
    }

    pub(super) fn take_commands(&self) -> Vec<(u64, Command)> {
        self.inbox.lock().queue.drain(..).collect()
    }

    pub(super) fn publish(&self, update: impl FnOnce(&mut Status)) {
        update(&mut self.status.lock());
        self.changed.notify_all();
    }
}
