//! What the daemon's terminal is told during a shutdown: who asked for it, what it
//! is still waiting for (`waiting for 3 processes: web, db:0, db:1`), and when it
//! has finished. Also written to the event log, and sent as a notice to
//! `taskmasterctl` shells.
//!
//! The waiting list is looked at five times a second while the shutdown runs, and
//! said again only when it changed, at most once a second: a thousand instances
//! stopping one by one do not print a thousand lines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::info;

use crate::hub::Hub;
use crate::supervisor::Supervisor;

/// How often the waiting list is looked at.
const POLL: Duration = Duration::from_millis(200);
/// The least time between two waiting lines.
const QUIET: Duration = Duration::from_secs(1);
/// Names listed in one waiting line; the others are counted.
const NAMES_SHOWN: usize = 10;

/// Where the daemon's terminal messages go.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// Standard output (no interactive shell, or the shell that asked is ending).
    Stdout,
    /// Above the interactive shell's prompt, as a notice.
    Notice,
}

impl Terminal {
    /// Tells the terminal, the event log and the notice subscribers.
    pub fn say(self, hub: &Hub, text: &str) {
        info!("{text}");
        self.tell(hub, text);
    }

    /// Tells the terminal and the notice subscribers (the caller logs).
    pub fn tell(self, hub: &Hub, text: &str) {
        hub.daemon_notice(&format!("taskmaster: {text}"));
        if self == Terminal::Stdout {
            // Queued: a reader that stopped reading must not stop the shutdown.
            crate::stream_out::stdout_line(&format!("taskmaster: {text}"));
        }
    }
}

/// Reports what the shutdown waits for until `done` is set or nothing is left.
pub fn report(sup: Arc<Supervisor>, terminal: Terminal, done: Arc<AtomicBool>) {
    let mut shown: Option<Vec<String>> = None;
    let mut last = Instant::now();
    while !done.load(Ordering::SeqCst) {
        let waiting = waiting_for(&sup);
        if waiting.is_empty() {
            return;
        }
        let changed = shown.as_ref() != Some(&waiting);
        if changed && (shown.is_none() || last.elapsed() >= QUIET) {
            terminal.say(sup.hub(), &describe(&waiting));
            shown = Some(waiting);
            last = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}

/// The instances that still have a process (or survivors of one).
fn waiting_for(sup: &Supervisor) -> Vec<String> {
    (sup.instances().iter())
        .filter(|i| {
            let s = i.status();
            s.state.has_process() || s.leftovers
        })
        .map(|i| i.name())
        .collect()
}

/// `waiting for 3 processes: web, db:0, db:1`; past ten names, `… and 5 more`.
fn describe(names: &[String]) -> String {
    let plural = if names.len() == 1 { "" } else { "es" };
    let mut text = format!(
        "waiting for {} process{plural}: {}",
        names.len(),
        names
            .iter()
            .take(NAMES_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    if names.len() > NAMES_SHOWN {
        text.push_str(&format!(" and {} more", names.len() - NAMES_SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_line_names_a_few_and_counts_the_rest() {
        let names = |n: usize| (0..n).map(|i| format!("p:{i}")).collect::<Vec<_>>();
        assert_eq!(describe(&names(1)), "waiting for 1 process: p:0");
        assert_eq!(describe(&names(2)), "waiting for 2 processes: p:0, p:1");
        let many = describe(&names(12));
        assert!(many.ends_with("p:9 and 2 more"), "{many}");
    }
}
