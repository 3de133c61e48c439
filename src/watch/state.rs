//! The instance state machine of README: Process states, as a pure function.
//!
//! `Machine::step(event, policy, now)` returns the actions the watcher must carry out;
//! it never touches a process, a clock or a lock, so every transition is unit-tested
//! below without spawning anything. The states and their rules are the README's
//! (Process states), which keep supervisor's semantics except that every deadline
//! is exact instead of being rounded up to a one-second tick.

use std::time::Instant;

use nix::sys::signal::Signal;

use crate::config::{Policy, INFINITE_RETRIES, QUICK_DEATH};

#[path = "state_health.rs"]
mod health;
#[path = "state_memory.rs"]
mod memory;
#[path = "state_pidfile.rs"]
pub mod pidfile;
#[path = "state_restart.rs"]
mod restart;
#[path = "state_types.rs"]
mod types;
pub use health::{describe_health, Health, HealthState};
pub use pidfile::PidFileRead;
pub use types::{Action, Event, ExitStatus, Report, StartFailure, State};

/// The mutable core of an instance; owned by its watcher thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub state: State,
    /// Failed starts since the last manual start or the last RUNNING (supervisor's `backoff`).
    pub backoff: u32,
    /// Automatic spawns (backoff retries and autorestarts) since the last manual start.
    pub restarts: u32,
    /// Pid of the current child, if one exists.
    pub pid: Option<i32>,
    /// When the current child was spawned (supervisor's `laststart`).
    pub started_at: Option<Instant>,
    /// The one pending deadline: starttime in STARTING, the retry (or throttled
    /// restart) in BACKOFF, the SIGKILL in STOPPING, the end of a throttling in
    /// RUNNING.
    pub deadline: Option<Instant>,
    /// How the last child ended.
    pub last_exit: Option<ExitStatus>,
    /// The pid of the last child that exited since the last manual start.
    pub last_exited_pid: Option<i32>,
    /// Why the last start failed (spawn error or "Exited too quickly ..."), as
    /// `status` shows it.
    pub spawnerr: Option<String>,
    /// The same, typed: what a `start` waiting on this instance answers.
    pub start_failure: Option<StartFailure>,
    /// A manual start has happened at least once (STOPPED says "Not started" before).
    pub ever_started: bool,
    /// Set by `Shutdown`: no automatic start ever again.
    pub shutting_down: bool,
    /// `Start` arrived while STOPPING: start again as soon as the stop completes.
    pub start_after_stop: bool,
    /// Children in a row that died within [`QUICK_DEATH`] of their spawn, after
    /// RUNNING (the count `restart_throttle` goes by).
    pub quick_deaths: u32,
    /// An autorestart has been delayed since the last child that lived
    /// [`QUICK_DEATH`] (the end gets a log line).
    pub throttled: bool,
    /// When the group's memory is next read: set only while RUNNING under a
    /// policy with `max_memory` (the watcher sleeps until the earlier of this and
    /// `deadline`), so an instance without a limit is never woken for it.
    pub memory_check_at: Option<Instant>,
    /// The child is being stopped for going over `max_memory`: once it is gone,
    /// spawn again (an automatic restart, not a manual start: counters are kept).
    pub restart_after_stop: bool,
    /// Where a start of a program with a `pidfile` stands (`state_pidfile.rs`).
    pub pidfile: pidfile::Phase,
    /// Health checks: the health of a RUNNING child under a `healthcheck`.
    pub health: Health,
}

/// Whether `signal` must be followed by SIGCONT: a stopped (SIGSTOP, SIGTSTP)
/// process only acts on a signal it handles once it runs again, so without it a
/// program that traps its stop signal to exit cleanly would wait, frozen, for the
/// SIGKILL at `stoptime`. Harmless to a running process.
pub fn continue_after(signal: Signal) -> bool {
    !matches!(signal, Signal::SIGKILL | Signal::SIGCONT)
}

/// `SignalGroup(signal)`, then `SignalGroup(SIGCONT)` when [`continue_after`] says so.
fn push_stop_signal(signal: Signal, actions: &mut Vec<Action>) {
    actions.push(Action::SignalGroup(signal));
    if continue_after(signal) {
        actions.push(Action::SignalGroup(Signal::SIGCONT));
    }
}

/// The text supervisor shows for a start that died before `starttime`.
pub const EXITED_TOO_QUICKLY: &str = "Exited too quickly (process log may have details)";

impl Default for Machine {
    fn default() -> Self {
        Self::new()
    }
}

impl Machine {
    pub fn new() -> Self {
        Machine {
            state: State::Stopped,
            backoff: 0,
            restarts: 0,
            pid: None,
            started_at: None,
            deadline: None,
            last_exit: None,
            last_exited_pid: None,
            spawnerr: None,
            start_failure: None,
            ever_started: false,
            shutting_down: false,
            start_after_stop: false,
            quick_deaths: 0,
            throttled: false,
            memory_check_at: None,
            restart_after_stop: false,
            pidfile: pidfile::Phase::Off,
            health: Health::default(),
        }
    }

    /// Applies one event. Events that make no sense in the current state (a stop of
    /// a stopped instance, a timer that is not due) change nothing.
    pub fn step(&mut self, event: Event, policy: &Policy, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            Event::Start => self.on_start(&mut actions),
            Event::Stop => self.on_stop(policy, now, &mut actions),
            Event::Shutdown => {
                self.shutting_down = true;
                self.start_after_stop = false;
                self.restart_after_stop = false;
                self.on_stop(policy, now, &mut actions);
            }
            Event::KillNow => {
                self.shutting_down = true;
                self.start_after_stop = false;
                self.restart_after_stop = false;
                if self.state == State::Backoff {
                    self.enter(State::Stopped, None);
                } else if self.pid.is_some() {
                    self.enter(State::Stopping, None);
                    actions.push(Action::SignalGroup(Signal::SIGKILL));
                    actions.push(Action::Report(Report::Killed));
                }
            }
            Event::Spawned { pid } => self.on_spawned(pid, policy, now, &mut actions),
            Event::SpawnFailed { reason } => {
                if self.state == State::Starting && self.pid.is_none() {
                    actions.push(Action::Report(Report::SpawnError {
                        reason: reason.clone(),
                    }));
                    self.start_failure = Some(StartFailure::SpawnError(reason.clone()));
                    self.spawnerr = Some(reason);
                    self.fail_start(None, policy, now, &mut actions);
                }
            }
            Event::Exited(status) => self.on_exit(status, policy, now, &mut actions),
            Event::Timer => {
                self.on_memory_timer(now, &mut actions);
                self.on_timer(policy, now, &mut actions);
            }
            Event::MemorySampled { rss_bytes } => {
                self.on_memory_sample(rss_bytes, policy, now, &mut actions)
            }
            Event::PidFile(read) => self.on_pidfile(read, policy, now, &mut actions),
            Event::HealthChecked { pid, result } => {
                self.on_health_result(pid, result, policy, now, &mut actions)
            }
        }
        self.schedule_memory_check(policy, now);
        self.track_health(policy);
        actions
    }

    fn enter(&mut self, state: State, deadline: Option<Instant>) {
        self.state = state;
        self.deadline = deadline;
    }

    fn on_start(&mut self, actions: &mut Vec<Action>) {
        if self.shutting_down {
            return;
        }
        match self.state {
            State::Stopped | State::Exited | State::Fatal => {
                self.backoff = 0;
                self.restarts = 0;
                self.quick_deaths = 0;
                self.throttled = false;
                self.last_exited_pid = None;
                self.ever_started = true;
                self.spawn(actions);
            }
            State::Stopping => self.start_after_stop = true,
            State::Starting | State::Running | State::Backoff => {}
        }
    }

    fn on_stop(&mut self, policy: &Policy, now: Instant, actions: &mut Vec<Action>) {
        if self.stop_reading(policy, now, actions) {
            return;
        }
        match self.state {
            State::Starting | State::Running if self.pid.is_some() => {
                self.enter(State::Stopping, Some(now + policy.stoptime));
                push_stop_signal(policy.stopsignal, actions);
                actions.push(Action::Report(Report::StopRequested {
                    signal: policy.stopsignal,
                }));
            }
            State::Backoff => self.enter(State::Stopped, None),
            State::Stopping => {
                self.start_after_stop = false;
                self.restart_after_stop = false;
            }
            _ => {}
        }
    }

    fn spawn(&mut self, actions: &mut Vec<Action>) {
        self.enter(State::Starting, None);
        self.pid = None;
        self.started_at = None;
        self.pidfile = pidfile::Phase::Off;
        actions.push(Action::Spawn);
    }

    fn on_spawned(&mut self, pid: i32, policy: &Policy, now: Instant, actions: &mut Vec<Action>) {
        if self.state != State::Starting || self.pid.is_some() {
            return;
        }
        self.pid = Some(pid);
        self.started_at = Some(now);
        self.spawnerr = None;
        self.start_failure = None;
        actions.push(Action::Report(Report::Spawned { pid }));
        if self.launching(policy) {
            return;
        }
        if policy.starttime.is_zero() {
            self.enter_running(policy, actions);
        } else {
            self.deadline = Some(now + policy.starttime);
        }
    }

    fn enter_running(&mut self, policy: &Policy, actions: &mut Vec<Action>) {
        // While restarts are throttled, the moment this child has lived long
        // enough to end the throttling is a deadline.
        let unthrottle_at = self
            .started_at
            .filter(|_| self.throttled)
            .map(|at| at + QUICK_DEATH);
        self.enter(State::Running, unthrottle_at);
        self.backoff = 0;
        actions.push(Action::Report(Report::Running {
            starttime: policy.starttime,
        }));
    }

    /// A start failed (spawn error, or death of `exited` before `starttime`):
    /// BACKOFF, or FATAL once the retries are spent.
    fn fail_start(
        &mut self,
        exited: Option<i32>,
        policy: &Policy,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        self.pid = None;
        self.backoff = self.backoff.saturating_add(1);
        if self.shutting_down {
            self.enter(State::Stopped, None);
        } else if self.backoff > policy.startretries && policy.startretries != INFINITE_RETRIES {
            self.enter(State::Fatal, None);
            actions.push(Action::Report(Report::GaveUp {
                pid: self.last_exited_pid,
            }));
        } else {
            let delay = policy.backoff.delay(self.backoff);
            self.enter(State::Backoff, Some(now + delay));
            actions.push(Action::Report(Report::Backoff {
                attempt: self.backoff,
                delay,
                pid: exited,
            }));
        }
    }

    fn on_exit(
        &mut self,
        status: ExitStatus,
        policy: &Policy,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(pid) = self.pid.take() else {
            return;
        };
        if self.launcher_exited(pid, status, policy, now, actions) {
            return;
        }
        self.last_exit = Some(status);
        self.last_exited_pid = Some(pid);
        actions.push(self.clean_up_group(pid, policy, now));
        match self.state {
            State::Stopping => {
                self.enter(State::Stopped, None);
                actions.push(Action::Report(Report::Stopped { status }));
                let restart = std::mem::take(&mut self.restart_after_stop);
                if std::mem::take(&mut self.start_after_stop) {
                    self.on_start(actions);
                } else if restart && !self.shutting_down {
                    self.restarts += 1;
                    self.spawn(actions);
                }
            }
            // The child lived `starttime`: a successful start, however late this
            // wake-up (a deadline a hair after the exit, a descheduled daemon). Its
            // exit is then an exit from RUNNING.
            State::Starting if self.lived_starttime(policy, now) => {
                self.enter_running(policy, actions);
                self.exit_running(pid, status, policy, now, actions);
            }
            State::Starting => {
                actions.push(Action::Report(Report::Exited {
                    pid,
                    status,
                    expected: false,
                }));
                self.spawnerr = Some(EXITED_TOO_QUICKLY.to_string());
                self.start_failure = Some(StartFailure::ExitedTooQuickly);
                self.fail_start(Some(pid), policy, now, actions);
            }
            State::Running => self.exit_running(pid, status, policy, now, actions),
            _ => {}
        }
    }

    /// What becomes of the rest of the group of `pid`, which just exited. During a
    /// stop, the group already has its stop signal: SIGKILL at the stop's deadline
    /// (at once after `KillNow`, which has none). Otherwise the leader exited on its
    /// own: the members get the stop signal now and SIGKILL at `stoptime`, as if
    /// stopped, whatever comes next for the instance (a restart spawns a new
    /// session, which is signalled independently).
    fn clean_up_group(&self, pid: i32, policy: &Policy, now: Instant) -> Action {
        let (signal, kill_at) = match self.state {
            State::Stopping => (None, self.deadline.unwrap_or(now)),
            _ => (Some(policy.stopsignal), now + policy.stoptime),
        };
        Action::CleanUpGroup {
            pgid: pid,
            signal,
            kill_at,
        }
    }

    /// The current child has been up for at least `starttime` at `now`.
    fn lived_starttime(&self, policy: &Policy, now: Instant) -> bool {
        self.started_at
            .is_some_and(|at| now.saturating_duration_since(at) >= policy.starttime)
    }

    fn on_timer(&mut self, policy: &Policy, now: Instant, actions: &mut Vec<Action>) {
        match self.deadline {
            Some(deadline) if deadline <= now => {}
            _ => return,
        }
        if self.pidfile_timer(actions) {
            return;
        }
        match self.state {
            State::Starting if self.pid.is_some() => self.enter_running(policy, actions),
            State::Backoff => {
                self.restarts += 1;
                self.spawn(actions);
            }
            State::Running => {
                // The child has lived long enough to end a throttling.
                self.deadline = None;
                self.unthrottle(actions);
            }
            State::Stopping => {
                // The process outlived stoptime: SIGKILL, then wait for its exit.
                self.deadline = None;
                actions.push(Action::SignalGroup(Signal::SIGKILL));
                actions.push(Action::Report(Report::Killed));
            }
            _ => self.deadline = None,
        }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
