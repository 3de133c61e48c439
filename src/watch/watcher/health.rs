//! The watcher's side of health checks: checks are due exactly while the
//! machine's health is set (a RUNNING child under a `healthcheck`), and then the
//! instance has a checker for that child (`watch::health`: on the daemon's
//! `health-net` thread, or a thread of its own), which runs them on the
//! instance's own schedule and sends back the results that matter.
//! The watcher never waits for a check; it only starts and drops the checker.

use std::time::Instant;

use super::Watcher;
use crate::watch::health::Checker;
use crate::watch::state::Event;

impl Watcher {
    /// A checker for the current child while checks are due, none otherwise
    /// (dropping one kills a check command still running).
    pub(super) fn sync_checker(&mut self) {
        let due = self
            .machine
            .pid
            .filter(|_| self.machine.health.state.is_some());
        if self.checker.as_ref().map(Checker::pid) == due {
            return;
        }
        self.checker = None;
        let Some(pid) = due else { return };
        match Checker::start(&self.instance, pid, self.run, self.config.clone()) {
            Ok(checker) => self.checker = Some(checker),
            Err(e) => {
                let why = format!("cannot start the health check's thread: {e}");
                self.apply(
                    Event::HealthChecked {
                        pid,
                        result: Err(why),
                    },
                    Instant::now(),
                );
            }
        }
    }

    /// A reload changed the program's settings: the next check uses them. A
    /// checker that could not move to its new thread is dropped; the next
    /// `sync_checker` starts it again (or reports why it cannot).
    pub(super) fn update_checker(&mut self) {
        if let Some(checker) = &mut self.checker {
            if checker.update(self.config.clone()).is_err() {
                self.checker = None;
            }
        }
    }
}
