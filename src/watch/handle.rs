//! The verbs control code asks of an instance — [`Instance::start`], `stop`,
//! `restart`, `signal`, `remove`, `shutdown` — each returning a ticket to wait on
//! that knows when that one request is done, was superseded by a later one, or
//! failed, with a typed outcome.
//!
//! What "done" means for each request is written here once: commands, the
//! ordered sequences (`supervisor/sequence.rs`) and the reload all wait through
//! these tickets. Outcomes come from what the watcher published, typed
//! (`Status::start_failure`, `crashed`, `finished`), never from a description.

use std::sync::mpsc::Receiver;
use std::sync::Arc;

use nix::sys::signal::Signal;

use super::instance::{Command, Instance, Status};
use super::state::{StartFailure, State};

/// How a `start` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    /// It lived `starttime`: RUNNING.
    Running,
    /// It could not be executed (why, as the spawn said).
    SpawnError(String),
    /// It died before `starttime`.
    ExitedTooQuickly,
    /// Its restarts are held back by `restart_throttle`.
    Throttled,
    /// A stop (another client's, or the shutdown) was handled before it ran.
    Stopped,
    /// A later stop of the same instance (another client's) took over.
    Cancelled,
    /// The instance was removed (reload) while it started.
    Removed,
    /// Its watcher failed (`watch/watcher/crash.rs`).
    Crashed,
}

/// How a `stop` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// No process left (a later start may already have made a new one).
    Stopped,
    /// Its watcher failed (`watch/watcher/crash.rs`).
    Crashed,
}

/// What became of a `signal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalOutcome {
    /// Sent to the live child's process group.
    Sent,
    /// No child to signal.
    NotRunning,
    /// `kill` failed (why).
    Failed(String),
    /// The instance's watcher has ended (removed): nothing was sent.
    Removed,
}

/// A `start` sent to one instance.
pub struct StartTicket {
    instance: Arc<Instance>,
    seq: u64,
}

/// A `stop` (or the shutdown's stop) sent to one instance.
pub struct StopTicket {
    instance: Arc<Instance>,
    seq: u64,
    /// The shutdown's: done only once the group's survivors are gone too.
    whole_group: bool,
}

/// A `remove` sent to one instance: done when its watcher has ended.
pub struct RemovalTicket {
    instance: Arc<Instance>,
}

/// A `signal` sent to one instance.
pub struct SignalTicket {
    reply: Receiver<SignalOutcome>,
}

fn not_stopping(status: &Status) -> bool {
    status.state != State::Stopping
}

impl Instance {
    /// Asks the watcher to start; a start queued behind a stop runs once the
    /// stop is complete.
    pub fn start(self: &Arc<Self>) -> StartTicket {
        StartTicket {
            seq: self.send(Command::Start),
            instance: self.clone(),
        }
    }

    /// Asks the watcher to stop (stopsignal, SIGKILL at stoptime).
    pub fn stop(self: &Arc<Self>) -> StopTicket {
        StopTicket {
            seq: self.send(Command::Stop),
            instance: self.clone(),
            whole_group: false,
        }
    }

    /// Stop then start, queued together: the start happens once the stop is
    /// complete.
    pub fn restart(self: &Arc<Self>) -> StartTicket {
        self.send(Command::Stop);
        self.start()
    }

    /// The daemon's shutdown: stop for good, no automatic start ever again.
    pub fn shutdown(self: &Arc<Self>) -> StopTicket {
        StopTicket {
            seq: self.send(Command::Shutdown),
            instance: self.clone(),
            whole_group: true,
        }
    }

    /// Stop, then end the watcher (program removed or scaled down).
    pub fn remove(self: &Arc<Self>) -> RemovalTicket {
        self.send(Command::Remove);
        RemovalTicket {
            instance: self.clone(),
        }
    }

    /// Sends `signal` to the process group of the child the watcher holds when
    /// it applies the request (so a recycled pid is never hit).
    pub fn signal(&self, signal: Signal) -> SignalTicket {
        let (tx, reply) = std::sync::mpsc::sync_channel(1);
        self.send(Command::Signal(signal, tx));
        SignalTicket { reply }
    }
}

impl StartTicket {
    pub fn instance(&self) -> &Arc<Instance> {
        &self.instance
    }

    /// Waits until the start has been applied: the spawn happened (the
    /// `spawned:` line is written) or failed — after any stop queued ahead of it.
    /// Not until RUNNING, which `starttime` may put far off.
    pub fn spawned(&self) {
        self.instance
            .wait_or_superseded(self.seq, not_stopping, not_stopping);
    }

    /// Waits until the instance has left STARTING (or a later stop took over)
    /// and says how the start ended.
    pub fn wait(&self) -> StartOutcome {
        let (status, superseded) =
            self.instance
                .wait_or_superseded(self.seq, |s| s.state != State::Starting, |_| true);
        if superseded {
            return StartOutcome::Cancelled;
        }
        match status.state {
            State::Running => StartOutcome::Running,
            _ if status.crashed => StartOutcome::Crashed,
            _ if status.finished => StartOutcome::Removed,
            _ => match status.start_failure {
                Some(StartFailure::SpawnError(why)) => StartOutcome::SpawnError(why),
                Some(StartFailure::ExitedTooQuickly) => StartOutcome::ExitedTooQuickly,
                Some(StartFailure::Throttled) => StartOutcome::Throttled,
                // It lived `starttime` and has exited since: it did start.
                None if status.state == State::Exited => StartOutcome::Running,
                None => StartOutcome::Stopped,
            },
        }
    }
}

impl StopTicket {
    pub fn instance(&self) -> &Arc<Instance> {
        &self.instance
    }

    /// Waits until no process is left (for the shutdown's, no survivor of its
    /// group either). Once STOPPING is over the stop is done, even if another
    /// client's start, handled meanwhile, has already brought up a new process:
    /// without that, a stop raced by a start could wait forever.
    pub fn wait(&self) -> StopOutcome {
        let whole_group = self.whole_group;
        let (status, _) = self.instance.wait_or_superseded(
            self.seq,
            |s| {
                !s.state.has_process() && s.state != State::Backoff && !(whole_group && s.leftovers)
            },
            not_stopping,
        );
        match status.crashed {
            true => StopOutcome::Crashed,
            false => StopOutcome::Stopped,
        }
    }
}

impl RemovalTicket {
    /// Waits until the watcher has stopped the child and ended.
    pub fn wait(&self) {
        self.instance
            .wait_or_superseded(u64::MAX, |_| false, |_| false);
    }
}

impl SignalTicket {
    pub fn wait(&self) -> SignalOutcome {
        self.reply.recv().unwrap_or(SignalOutcome::Removed)
    }
}
