//! Health checks in the state machine ([`super`]): health is a sub-state of
//! RUNNING. A RUNNING instance whose program has a `healthcheck` is `starting`
//! until its first check passes (`healthy`), `unhealthy` after `retries` failed
//! checks in a row (failures in the `start_period` after its spawn do not count
//! while it is still `starting`); leaving RUNNING — a stop, an exit — clears it.
//!
//! The machine decides from each result; it does not time the checks. Checks are
//! due exactly while `health.state` is set, and the instance's checker thread
//! runs them on the instance's own schedule (the first at once, each next one
//! `interval` after the last ended: `watch::health`), its results fed back as
//! `Event::HealthChecked`. So a passing check of a healthy instance, which would
//! change nothing here, needs no wake-up of the watcher at all.

use std::time::Instant;

use super::{Action, Machine, Report, State};
use crate::config::{OnFailure, Policy};

/// The health of a RUNNING instance with a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// No check has passed yet since it entered RUNNING.
    Starting,
    Healthy,
    /// `retries` checks in a row failed (and none passed since).
    Unhealthy,
}

impl HealthState {
    /// Every health, read back by name from an upgrade's record.
    pub const ALL: [HealthState; 3] = [
        HealthState::Starting,
        HealthState::Healthy,
        HealthState::Unhealthy,
    ];

    /// As `status`, `top` and the event stream say it.
    pub fn name(self) -> &'static str {
        match self {
            HealthState::Starting => "starting",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

/// The machine's health bookkeeping; all `None`/zero without a check to run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    /// Set exactly while RUNNING with a child under a policy with a healthcheck:
    /// while it is, checks are due.
    pub state: Option<HealthState>,
    /// Failed checks in a row that counted.
    pub failures: u32,
    /// Why the last check failed, until one passes.
    pub reason: Option<String>,
}

impl Machine {
    /// Keeps the health set exactly while RUNNING with a child under a policy
    /// with a healthcheck — also after a reload that adds or drops one (the
    /// watcher feeds a `Timer` after every wake-up). A new RUNNING child is
    /// `starting`.
    pub(super) fn track_health(&mut self, policy: &Policy) {
        let wanted =
            self.state == State::Running && self.pid.is_some() && policy.healthcheck.is_some();
        if !wanted {
            if self.health != Health::default() {
                self.health = Health::default();
            }
        } else if self.health.state.is_none() {
            self.health.state = Some(HealthState::Starting);
        }
    }

    /// The result of a check of child `pid`. One for another child (a check
    /// that outlived its child), or while no check is due, changes nothing.
    pub(super) fn on_health_result(
        &mut self,
        pid: i32,
        result: Result<(), String>,
        policy: &Policy,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(check) = &policy.healthcheck else {
            return;
        };
        if self.state != State::Running || self.pid != Some(pid) || self.health.state.is_none() {
            return;
        }
        let reason = match result {
            Ok(()) => {
                self.health.failures = 0;
                self.health.reason = None;
                if self.health.state != Some(HealthState::Healthy) {
                    self.health.state = Some(HealthState::Healthy);
                    actions.push(Action::Report(Report::Healthy));
                }
                return;
            }
            Err(reason) => reason,
        };
        self.health.reason = Some(reason.clone());
        let in_start_period = self
            .started_at
            .is_some_and(|at| now < at + check.start_period);
        if in_start_period && self.health.state == Some(HealthState::Starting) {
            return;
        }
        self.health.failures = self.health.failures.saturating_add(1);
        if self.health.failures < check.retries || self.health.state == Some(HealthState::Unhealthy)
        {
            return;
        }
        self.health.state = Some(HealthState::Unhealthy);
        actions.push(Action::Report(Report::Unhealthy {
            failures: self.health.failures,
            reason,
            on_failure: check.on_failure,
        }));
        if check.on_failure == OnFailure::Restart {
            // As for `max_memory`: stopped by its stop rules, spawned again once
            // gone — a restart, never a failed start.
            self.on_stop(policy, now, actions);
            self.restart_after_stop = true;
        }
    }
}

/// What `status` says of a RUNNING instance's health after its uptime:
/// `, healthy`, `, health: starting`, `, unhealthy: REASON`, with the reason of
/// a failed check that did not (yet) change it. Empty without a check.
pub fn describe_health(state: Option<HealthState>, reason: Option<&str>) -> String {
    match (state, reason) {
        (None, _) => String::new(),
        (Some(HealthState::Unhealthy), Some(why)) => format!(", unhealthy: {why}"),
        (Some(HealthState::Starting), Some(why)) => {
            format!(", health: starting (last check failed: {why})")
        }
        (Some(HealthState::Healthy), Some(why)) => format!(", healthy (last check failed: {why})"),
        (Some(HealthState::Starting), None) => ", health: starting".to_string(),
        (Some(state), None) => format!(", {}", state.name()),
    }
}
