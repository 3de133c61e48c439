//! The end of a RUNNING child in the state machine ([`super`]): EXITED, then
//! restarted as `autorestart` and `exitcodes` say — at once, or after a run of
//! quick deaths, throttled by `restart_throttle`.

use std::time::Instant;

use super::{Action, ExitStatus, Machine, Report, StartFailure, State};
use crate::config::{AutoRestart, Policy, QUICK_DEATH};

impl Machine {
    /// A RUNNING child ended: EXITED, restarted as `autorestart` and `exitcodes` say
    /// — at once, or, after a run of quick deaths, after the `restart_throttle`
    /// delay, waited in BACKOFF (like a failed start's retry: `stop` ends it at once).
    pub(super) fn exit_running(
        &mut self,
        pid: i32,
        status: ExitStatus,
        policy: &Policy,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let expected = matches!(status, ExitStatus::Code(c) if policy.exitcodes.contains(&c));
        actions.push(Action::Report(Report::Exited {
            pid,
            status,
            expected,
        }));
        self.enter(State::Exited, None);
        self.backoff = 0;
        let restart = match policy.autorestart {
            AutoRestart::Always => true,
            AutoRestart::Unexpected => !expected,
            AutoRestart::Never => false,
        };
        let lived = self.started_at.map(|at| now.saturating_duration_since(at));
        if lived.is_some_and(|lived| lived < QUICK_DEATH) {
            self.quick_deaths = self.quick_deaths.saturating_add(1);
        } else {
            self.unthrottle(actions);
        }
        if !restart || self.shutting_down {
            return;
        }
        let throttle = policy.restart_throttle;
        match throttle.and_then(|t| t.delay(self.quick_deaths)) {
            Some(delay) => {
                if !std::mem::replace(&mut self.throttled, true) {
                    actions.push(Action::Report(Report::Throttled {
                        quick_deaths: self.quick_deaths,
                        delay,
                    }));
                }
                self.start_failure = Some(StartFailure::Throttled);
                self.spawnerr = Some(format!(
                    "restarting too often: next restart in {} s ({} exits in a row within {} s of their spawn)",
                    delay.as_secs_f64(),
                    self.quick_deaths,
                    QUICK_DEATH.as_secs()
                ));
                self.enter(State::Backoff, Some(now + delay));
            }
            None => {
                self.restarts += 1;
                self.spawn(actions);
            }
        }
    }

    /// A child lived [`QUICK_DEATH`]: the next autorestart is immediate again.
    pub(super) fn unthrottle(&mut self, actions: &mut Vec<Action>) {
        self.quick_deaths = 0;
        if std::mem::take(&mut self.throttled) {
            actions.push(Action::Report(Report::Unthrottled));
        }
    }
}
