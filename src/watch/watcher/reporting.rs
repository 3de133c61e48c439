//! What the watcher tells others: its published status, and its events to the
//! hub — event-log lines through its crash-loop limiter
//! ([`crate::watch::log_limit`]).

use std::time::Instant;

use super::Watcher;
use crate::hub::Event;
use crate::watch::log_limit::LineKind;
use crate::watch::state::Report;

impl Watcher {
    /// Writes the line of `report`, unless it is one more line of a crash loop;
    /// a pending summary goes first, so the log stays in order.
    pub(super) fn report(&mut self, report: &Report) {
        let write_line = match LineKind::of(report) {
            Some(kind) => self.limited_line(kind),
            None => {
                self.write_log_summary();
                true
            }
        };
        let pid = self.child.as_ref().map(|c| c.pid);
        self.hub.publish(&Event::Report {
            name: &self.instance.name(),
            pid,
            report,
            policy: &self.config.policy,
            write_line,
        });
    }

    /// Whether a line of `kind`, which a crash loop repeats, is written now (else
    /// it is counted); a summary that is due is written first.
    pub(super) fn limited_line(&mut self, kind: LineKind) -> bool {
        let (summary, write) = self.log_limit.admit(kind, Instant::now());
        if let Some(summary) = summary {
            self.hub.publish(&Event::LinesSuppressed {
                name: &self.instance.name(),
                counted: &summary,
            });
        }
        write
    }

    /// Writes what the limiter counted so far, before another line of this instance.
    pub(super) fn write_log_summary(&mut self) {
        if let Some(summary) = self.log_limit.flush() {
            self.hub.publish(&Event::LinesSuppressed {
                name: &self.instance.name(),
                counted: &summary,
            });
        }
    }

    /// Writes the summary of a second that is over (the watcher woke for it).
    pub(super) fn write_due_log_summary(&mut self, now: Instant) {
        if let Some(summary) = self.log_limit.flush_due(now) {
            self.hub.publish(&Event::LinesSuppressed {
                name: &self.instance.name(),
                counted: &summary,
            });
        }
    }

    /// Publishes the machine's state (with the last command applied), then
    /// tells the hub when the state changed.
    #[inline(never)]
    pub(super) fn publish(&self, handled: Option<u64>) {
        let m = &self.machine;
        let mut before = m.state;
        let mut health_before = m.health.state;
        self.instance.publish(|s| {
            before = s.state;
            health_before = s.health;
            s.state = m.state;
            s.pid = m.pid;
            s.last_exit = m.last_exit;
            s.spawnerr = m.spawnerr.clone();
            s.start_failure = m.start_failure.clone();
            s.restarts = m.restarts;
            s.ever_started = m.ever_started;
            s.leftovers = !self.leftover_groups.is_empty();
            s.health = m.health.state;
            if s.health_reason != m.health.reason {
                s.health_reason = m.health.reason.clone();
            }
            if let Some(seq) = handled {
                s.handled = seq;
            }
        });
        // After the publish: programs waiting on this one (depends_on) see it.
        if health_before != m.health.state {
            self.hub.publish(&Event::HealthChanged {
                name: &self.instance.name(),
                to: m.health.state,
            });
        }
        if before != m.state {
            self.hub.publish(&Event::StateChanged {
                name: &self.instance.name(),
                pid: m.pid,
                from: before,
                to: m.state,
            });
        }
    }
}
