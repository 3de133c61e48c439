//! `max_memory` in the state machine ([`super`]): when a RUNNING instance's group
//! memory is read (its own deadline, beside the machine's one `deadline`), and
//! what a sample over the limit does — a restart by the stop rules.

use std::time::Instant;

use super::{Action, Machine, Report, State};
use crate::config::{Policy, MEMORY_CHECK_INTERVAL};

impl Machine {
    /// Keeps `memory_check_at` set exactly while RUNNING with a child under a
    /// policy with `max_memory` — also after a reload that sets or drops the limit
    /// (the watcher feeds a `Timer` after every wake-up, a policy update included).
    pub(super) fn schedule_memory_check(&mut self, policy: &Policy, now: Instant) {
        let wanted =
            self.state == State::Running && self.pid.is_some() && policy.max_memory.is_some();
        if !wanted {
            self.memory_check_at = None;
        } else if self.memory_check_at.is_none() {
            self.memory_check_at = Some(now + MEMORY_CHECK_INTERVAL);
        }
    }

    /// The memory check is due: ask for a sample, and schedule the next.
    pub(super) fn on_memory_timer(&mut self, now: Instant, actions: &mut Vec<Action>) {
        if self.memory_check_at.is_some_and(|at| at <= now) {
            self.memory_check_at = Some(now + MEMORY_CHECK_INTERVAL);
            actions.push(Action::CheckMemory);
        }
    }

    /// Over `max_memory` while RUNNING: stopped by its stop rules, then spawned
    /// again when it is gone. A restart (counted in `restarts`) that is no failed
    /// start: `backoff` stays as RUNNING left it, so `startretries` never ends a
    /// program that starts fine in FATAL.
    pub(super) fn on_memory_sample(
        &mut self,
        rss_bytes: u64,
        policy: &Policy,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(limit) = policy.max_memory else {
            return;
        };
        if self.state != State::Running || self.pid.is_none() || rss_bytes <= limit {
            return;
        }
        actions.push(Action::Report(Report::MemoryOver {
            used: rss_bytes,
            limit,
        }));
        self.on_stop(policy, now, actions);
        self.restart_after_stop = true;
    }
}
