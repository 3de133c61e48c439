//! taskmaster as a container's init (README: Running in production): PID 1 of
//! its PID namespace, detected or asked for with `--init`.
//!
//! What changes then: the daemon's shell is off unless standard input is a
//! terminal (a container's is usually `/dev/null`, whose end would be a
//! shutdown), and the exit status says how the shutdown went (below). What does
//! not: every orphan is reaped (`orphans`, as when it is a subreaper), SIGTERM and
//! SIGINT shut down and SIGHUP reloads, as always — being PID 1, a signal it had
//! no handler for would be dropped by the kernel, and it has handlers for these.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use nix::sys::signal::Signal;

use crate::hub::{Event, Subscriber};
use crate::watch::state::Report;

/// Exit status when every process ended by its stop signal within its
/// `stoptime` (and every adopted one within the grace).
pub const EXIT_CLEAN: i32 = 0;
/// Exit status when some process had to be SIGKILLed during the shutdown (an
/// instance past its `stoptime`, what its group or its adopted processes left,
/// an adopted process of no instance past the grace, or all of them after a
/// second SIGTERM/SIGINT), or an instance could not be stopped by its rules (its
/// watcher failed: its process was SIGKILLed).
pub const EXIT_KILLED: i32 = 3;

/// Whether this process is PID 1 of its namespace.
pub fn is_pid_one() -> bool {
    std::process::id() == 1
}

/// Counts the processes the shutdown had to SIGKILL: a hub subscriber, so it
/// hears every watcher's kills as they happen.
#[derive(Default)]
pub struct ShutdownVerdict {
    shutting_down: AtomicBool,
    killed: AtomicUsize,
}

impl ShutdownVerdict {
    pub fn new() -> Arc<ShutdownVerdict> {
        Arc::default()
    }

    /// From now on, kills count.
    pub fn shutdown_begun(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// `n` more processes SIGKILLed (the adopted ones of no instance).
    pub fn killed(&self, n: usize) {
        if n > 0 && self.shutting_down.load(Ordering::SeqCst) {
            self.killed.fetch_add(n, Ordering::SeqCst);
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self.killed.load(Ordering::SeqCst) {
            0 => EXIT_CLEAN,
            _ => EXIT_KILLED,
        }
    }
}

impl Subscriber for ShutdownVerdict {
    fn event(&self, event: &Event<'_>) {
        let killed = match event {
            Event::Report {
                report: Report::Killed,
                ..
            } => 1,
            Event::GroupKilled { .. } | Event::WatcherFailed { .. } => 1,
            Event::AdoptedSignalled {
                signal: Signal::SIGKILL,
                count,
                ..
            } => *count,
            _ => 0,
        };
        self.killed(killed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kills_during_the_shutdown_count() {
        let verdict = ShutdownVerdict::new();
        verdict.event(&Event::GroupKilled { name: "a", pgid: 7 });
        assert_eq!(verdict.exit_code(), EXIT_CLEAN, "before the shutdown");
        verdict.shutdown_begun();
        verdict.event(&Event::AdoptedSignalled {
            name: "a",
            count: 2,
            signal: Signal::SIGTERM,
        });
        assert_eq!(verdict.exit_code(), EXIT_CLEAN, "a stop signal is no kill");
        verdict.event(&Event::AdoptedSignalled {
            name: "a",
            count: 2,
            signal: Signal::SIGKILL,
        });
        assert_eq!(verdict.exit_code(), EXIT_KILLED);
    }
}
