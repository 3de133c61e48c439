//! The vocabulary of the state machine ([`super::state`]): its states, the events
//! it is fed, the actions it answers and the facts it reports.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

/// Supervisor's process states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Stopped,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
}

impl State {
    /// Every state, in supervisor's order (the metrics' one-of-seven gauges, the
    /// upgrade record's states read back by name).
    pub const ALL: [State; 7] = [
        State::Stopped,
        State::Starting,
        State::Running,
        State::Backoff,
        State::Stopping,
        State::Exited,
        State::Fatal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Stopped => "STOPPED",
            State::Starting => "STARTING",
            State::Running => "RUNNING",
            State::Backoff => "BACKOFF",
            State::Stopping => "STOPPING",
            State::Exited => "EXITED",
            State::Fatal => "FATAL",
        }
    }

    /// `start` answers "already started" in these (supervisor's RUNNING_STATES).
    pub fn is_started(self) -> bool {
        matches!(self, State::Starting | State::Running | State::Backoff)
    }

    /// A process exists (or is being created) in these.
    pub fn has_process(self) -> bool {
        matches!(self, State::Starting | State::Running | State::Stopping)
    }
}

/// Why the last start did not lead to RUNNING, as the machine knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFailure {
    /// The program could not be executed (the reason as the spawn gave it).
    SpawnError(String),
    /// It died before `starttime`.
    ExitedTooQuickly,
    /// Its autorestart is held back by `restart_throttle`.
    Throttled,
}

/// How a child ended, as `waitpid` reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(Signal),
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(code) => write!(f, "exit status {code}"),
            ExitStatus::Signal(sig) => write!(f, "terminated by {}", sig.as_str()),
        }
    }
}

/// What happens to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A manual `start` (or autostart at creation).
    Start,
    /// A manual `stop`.
    Stop,
    /// The daemon is shutting down: stop, and never start again.
    Shutdown,
    /// A second SIGINT/SIGTERM during shutdown: SIGKILL the group now.
    KillNow,
    /// The result of `Action::Spawn`.
    Spawned {
        pid: i32,
    },
    SpawnFailed {
        reason: String,
    },
    /// The child was reaped.
    Exited(ExitStatus),
    /// The current deadline has passed.
    Timer,
    /// The result of `Action::CheckMemory`: what the child's process group holds
    /// in memory now (resident, in bytes).
    MemorySampled {
        rss_bytes: u64,
    },
    /// The result of `Action::ReadPidFile`.
    PidFile(super::pidfile::PidFileRead),
    /// The result of a health check of child `pid` (`Err`: why it failed), from
    /// its checker thread.
    HealthChecked {
        pid: i32,
        result: Result<(), String>,
    },
}

/// What the watcher must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Spawn a new child, then feed back `Spawned` or `SpawnFailed`.
    Spawn,
    /// Send a signal to the current child's process group.
    SignalGroup(Signal),
    /// The leader of group `pgid` exited: members still alive get `signal` (when
    /// set; then SIGCONT, see [`continue_after`]) now and SIGKILL at `kill_at`, so
    /// nothing outlives its program, however the leader ended.
    CleanUpGroup {
        pgid: i32,
        signal: Option<Signal>,
        kill_at: Instant,
    },
    /// Something worth an event-log line (and maybe a notice).
    Report(Report),
    /// Read the resident memory of the current child's process group, then feed
    /// back `MemorySampled` (only for a policy with `max_memory`).
    CheckMemory,
    /// Read the program's `pidfile` and take the process it names as the
    /// instance's, then feed back `PidFile` (`state_pidfile.rs`).
    ReadPidFile,
}

/// Facts for the event log (README: Output and the event log). The watcher formats them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Spawned {
        pid: i32,
    },
    SpawnError {
        reason: String,
    },
    Running {
        starttime: Duration,
    },
    /// `pid` is the process that exited (alerts carry it).
    Exited {
        pid: i32,
        status: ExitStatus,
        expected: bool,
    },
    /// `pid`: the process whose early exit failed the start; none after a spawn error.
    Backoff {
        attempt: u32,
        delay: Duration,
        pid: Option<i32>,
    },
    /// `pid`: the last process that exited since the last manual start, if any.
    GaveUp {
        pid: Option<i32>,
    },
    /// Autorestarts are delayed from now on (`restart_throttle`): `quick_deaths`
    /// children in a row died within [`QUICK_DEATH`](crate::config::QUICK_DEATH) of their spawn.
    Throttled {
        quick_deaths: u32,
        delay: Duration,
    },
    /// A child lived [`QUICK_DEATH`](crate::config::QUICK_DEATH): autorestarts are immediate again.
    Unthrottled,
    /// The child's process group holds `used` bytes, over `max_memory` (`limit`):
    /// it is stopped by its stop rules and started again.
    MemoryOver {
        used: u64,
        limit: u64,
    },
    /// A health check passed: the first since RUNNING, or the first after failures.
    Healthy,
    /// `failures` checks in a row failed, the last because of `reason`; what
    /// `on_failure` says follows (with `restart`, a stop by the stop rules).
    Unhealthy {
        failures: u32,
        reason: String,
        on_failure: crate::config::OnFailure,
    },
    StopRequested {
        signal: Signal,
    },
    Stopped {
        status: ExitStatus,
    },
    Killed,
    /// The launcher `launcher` of a program with a `pidfile` exited 0: the
    /// instance's process is now `pid`, read from the file.
    Following {
        pid: i32,
        launcher: i32,
    },
}
