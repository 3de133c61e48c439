//! Programs that daemonize (`pidfile:`; README: Running in production): the
//! spawned process is only a launcher, which forks the real program into the
//! background, has it write its pid to the file, and exits 0. The machine then
//! follows the process the file names: STARTING until it has been up
//! `starttime`, RUNNING, and its exit, stop and restart as for any child.
//!
//! Phases of a start (`Machine::pidfile`):
//! * `Launching`: the launcher runs, as long as it needs (a stop stops it as
//!   any child). It is not RUNNING at `starttime`: only the followed process is.
//!   Its exit 0 leaves its group and what it left adopted alone (that is the
//!   program); any other exit is a failed start.
//! * `Reading`: the watcher reads the file (`Action::ReadPidFile`) at once and
//!   every [`PIDFILE_RETRY`] until [`PIDFILE_WAIT`] after the launcher's exit;
//!   it accepts a pid only when that process is the daemon's (adopted: its
//!   launcher exited) and of this instance, and registers it as its own to
//!   reap. Past the wait, a failed start, and what the run left is stopped.
//! * `Following`: the pid is the instance's process.

use std::time::{Duration, Instant};

use super::{Action, Machine, Report, StartFailure, State};
use crate::config::Policy;

/// How long after its launcher's exit the pid file may take to name a process.
pub const PIDFILE_WAIT: Duration = Duration::from_secs(5);
/// Between two readings of a pid file that does not name a process yet.
pub const PIDFILE_RETRY: Duration = Duration::from_millis(50);

/// Where a start with a pid file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No pid file for this start.
    Off,
    /// The launcher runs.
    Launching,
    /// The launcher `launcher` exited 0; the file is read until `until`.
    Reading { launcher: i32, until: Instant },
    /// The file's pid is the instance's process.
    Following,
}

/// What reading the pid file gave (fed back after `Action::ReadPidFile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidFileRead {
    /// The file names `pid`, a process of this instance, now the watcher's.
    Followed { pid: i32 },
    /// Not (yet) usable: why, for the failed start's message.
    NotYet { reason: String },
}

impl Machine {
    /// After a spawn: in pidfile mode, the child is a launcher (no `starttime`
    /// deadline). Returns whether it is.
    pub(super) fn launching(&mut self, policy: &Policy) -> bool {
        self.pidfile = match policy.pidfile {
            Some(_) => Phase::Launching,
            None => Phase::Off,
        };
        self.pidfile == Phase::Launching
    }

    /// The child `pid` exited with `status`: handled here (returns true) when it
    /// was a launcher.
    pub(super) fn launcher_exited(
        &mut self,
        pid: i32,
        status: super::ExitStatus,
        policy: &Policy,
        now: Instant,
        actions: &mut Vec<Action>,
    ) -> bool {
        if self.pidfile != Phase::Launching || self.state != State::Starting {
            return false;
        }
        self.last_exit = Some(status);
        self.last_exited_pid = Some(pid);
        if status == super::ExitStatus::Code(0) {
            // Its group and what it left adopted are the program now: left alone.
            self.pidfile = Phase::Reading {
                launcher: pid,
                until: now + PIDFILE_WAIT,
            };
            self.deadline = None;
            actions.push(Action::ReadPidFile);
            return true;
        }
        self.pidfile = Phase::Off;
        actions.push(self.clean_up_group(pid, policy, now));
        actions.push(Action::Report(Report::Exited {
            pid,
            status,
            expected: false,
        }));
        self.failed_launch(
            format!("its launcher failed ({status})"),
            policy,
            now,
            actions,
        );
        true
    }

    /// The watcher's reading of the pid file.
    pub(super) fn on_pidfile(
        &mut self,
        read: PidFileRead,
        policy: &Policy,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Phase::Reading { launcher, until } = self.pidfile else {
            return;
        };
        if self.state != State::Starting {
            return;
        }
        match read {
            PidFileRead::Followed { pid } => {
                self.pidfile = Phase::Following;
                self.pid = Some(pid);
                self.started_at = Some(now);
                actions.push(Action::Report(Report::Following { pid, launcher }));
                if policy.starttime.is_zero() {
                    self.enter_running(policy, actions);
                } else {
                    self.deadline = Some(now + policy.starttime);
                }
            }
            PidFileRead::NotYet { .. } if now < until => {
                self.deadline = Some((now + PIDFILE_RETRY).min(until));
            }
            PidFileRead::NotYet { reason } => {
                self.pidfile = Phase::Off;
                // Whatever the launcher left running is stopped, as after any exit.
                actions.push(self.clean_up_group(launcher, policy, now));
                let why = format!(
                    "no process to follow after {} s: {reason}",
                    PIDFILE_WAIT.as_secs()
                );
                self.failed_launch(why, policy, now, actions);
            }
        }
    }

    /// A due timer while the pid file is read: read it again. Returns whether
    /// the timer was this one.
    pub(super) fn pidfile_timer(&mut self, actions: &mut Vec<Action>) -> bool {
        if !matches!(self.pidfile, Phase::Reading { .. }) || self.state != State::Starting {
            return false;
        }
        self.deadline = None;
        actions.push(Action::ReadPidFile);
        true
    }

    /// A stop while the pid file is read: no process to signal, but what the
    /// launcher left is stopped (its stop signal now, SIGKILL at `stoptime`).
    /// Returns whether the stop was this one.
    pub(super) fn stop_reading(
        &mut self,
        policy: &Policy,
        now: Instant,
        actions: &mut Vec<Action>,
    ) -> bool {
        let Phase::Reading { launcher, .. } = self.pidfile else {
            return false;
        };
        if self.state != State::Starting {
            return false;
        }
        self.pidfile = Phase::Off;
        actions.push(self.clean_up_group(launcher, policy, now));
        self.enter(State::Stopped, None);
        actions.push(Action::Report(Report::Stopped {
            status: super::ExitStatus::Code(0),
        }));
        true
    }

    fn failed_launch(
        &mut self,
        why: String,
        policy: &Policy,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        actions.push(Action::Report(Report::SpawnError {
            reason: why.clone(),
        }));
        self.start_failure = Some(StartFailure::SpawnError(why.clone()));
        self.spawnerr = Some(why);
        self.fail_start(self.last_exited_pid, policy, now, actions);
    }
}

#[cfg(test)]
#[path = "state_pidfile_tests.rs"]
mod tests;
