//! The watcher's side of health checks: a due check is handed to the instance's
//! checker thread (`watch::health`), made at the first check and ended as soon
//! as no check is due, so the watcher never waits for one; its result comes
//! back through the inbox like a command.

use super::Watcher;
use crate::watch::health::Checker;
use crate::watch::state::Event;

impl Watcher {
    /// Asks the checker for a check of the current child. `Some` is a failed
    /// check to feed back at once: no thread could be started for it.
    pub(super) fn check_health(&mut self) -> Option<Event> {
        let pid = self.machine.pid?;
        let failed = |why: String| Some(Event::HealthChecked { pid, result: Err(why) });
        if self.checker.is_none() {
            match Checker::start(&self.instance) {
                Ok(checker) => self.checker = Some(checker),
                Err(e) => return failed(format!("cannot start the health check's thread: {e}")),
            }
        }
        let asked = (self.checker.as_ref()).is_some_and(|c| c.ask(pid, self.config.clone()));
        if !asked {
            // Its thread ended (it cannot, short of a bug): the next check makes another.
            self.checker = None;
            return failed("the health check's thread has ended".to_string());
        }
        None
    }

    /// No check is due any more (no RUNNING child, or no healthcheck): the
    /// checker ends, killing a check command still running.
    pub(super) fn end_idle_checker(&mut self) {
        if self.checker.is_some() && self.machine.health.state.is_none() {
            self.checker = None;
        }
    }
}
