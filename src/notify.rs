//! Alerts (`taskmaster.notify`): a command run for chosen events — a program going
//! FATAL, an unexpected exit, a backoff, a restart for `max_memory`, a failed
//! reload — with the event's facts
//! in its environment (`TASKMASTER_EVENT`, `TASKMASTER_INSTANCE`,
//! `TASKMASTER_MESSAGE`, `TASKMASTER_PID`, `TASKMASTER_SUPPRESSED`). The pid is that
//! of the process the event is about: the one that exited (for a FATAL, the last one
//! that did), taskmaster's own for a failed reload.
//!
//! Every alert command is bounded, as a helper of the daemon must be:
//! * at most `max_per_minute` start in any minute, and at most [`MAX_RUNNING`] run
//!   at once, so a crash loop cannot fork-bomb the host nor pile up hung commands.
//!   Events over either bound are counted, not queued: the count is passed to the
//!   next command that runs (`TASKMASTER_SUPPRESSED`) and logged then;
//! * each runs in a process group of its own, killed (SIGKILL to the group, so a
//!   grandchild too) once `timeout` has passed — also what it left behind after
//!   exiting;
//! * at shutdown, every group still running gets SIGTERM, then SIGKILL after
//!   [`SHUTDOWN_GRACE`]: the daemon never waits long for them.
//!
//! A command that cannot start or fails is logged, never fatal. Each command is
//! waited for by a small thread of its own, for its pid alone: nothing here reaps
//! anybody else's child. The command runs in the config file's directory. This
//! file decides whether a command runs and counts the rest; `notify/command.rs`
//! runs one and bounds it.

mod command;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, warn};
use nix::sys::signal::Signal;
use parking_lot::{Condvar, Mutex};

use crate::config::{DaemonSettings, Notify};
use crate::hub::{Event, Subscriber};
use crate::watch::state::Report;

/// Alert commands running at once, at most.
pub const MAX_RUNNING: usize = 4;
/// At shutdown: how long alert commands get after SIGTERM, and again after SIGKILL.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    settings: Option<Notify>,
    /// Start times of the commands run in the last minute.
    recent: VecDeque<Instant>,
    /// Events not alerted since the last command: over the rate, over the cap.
    over_rate: u64,
    over_cap: u64,
    /// Alert commands starting or running (each holds a place until reaped).
    places: usize,
    /// Their process groups (= their pids), to stop at shutdown.
    groups: Vec<i32>,
    /// The daemon is shutting down: no more alerts.
    closed: bool,
    /// Since start: commands run, killed after their timeout, events not alerted.
    run: u64,
    killed: u64,
    not_run: u64,
}

/// The alerts of one daemon: a subscriber of the hub ([`crate::hub`]). Cheap to
/// clone (one `Arc`); its lock is taken only for events that may alert, never on
/// a watcher's ordinary path.
#[derive(Clone, Default)]
pub struct Notifier {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled whenever an alert command's place is freed.
    ended: Condvar,
}

impl Subscriber for Notifier {
    fn event(&self, event: &Event<'_>) {
        match *event {
            Event::Report {
                name, report, pid, ..
            } => {
                // Alerts name the process the event is about: the one that exited.
                match report {
                    Report::GaveUp { pid: last } => {
                        let text = crate::eventlog::fatal_text(name, report);
                        self.alert("fatal", name, *last, &text);
                    }
                    Report::Exited {
                        pid,
                        status,
                        expected: false,
                    } => {
                        let text = format!("{name}: exited unexpectedly (pid {pid}, {status})");
                        self.alert("unexpected_exit", name, Some(*pid), &text);
                    }
                    Report::Backoff {
                        attempt,
                        delay,
                        pid: exited,
                    } => {
                        let why = exited
                            .map(|pid| format!(" (pid {pid})"))
                            .unwrap_or_default();
                        let text = format!(
                            "{name}: start failed{why}, retry {attempt} in {}s",
                            delay.as_secs_f64()
                        );
                        self.alert("backoff", name, *exited, &text);
                    }
                    Report::MemoryOver { used, limit } => {
                        let text = crate::eventlog::memory_over_text(name, *used, *limit);
                        self.alert("memory_restart", name, pid, &text);
                    }
                    Report::Unhealthy {
                        failures,
                        reason,
                        on_failure,
                    } if *on_failure != crate::config::OnFailure::Nothing => {
                        let text =
                            crate::eventlog::unhealthy_text(name, *failures, reason, *on_failure);
                        self.alert("unhealthy", name, pid, &text);
                    }
                    _ => {}
                }
            }
            Event::ReloadFailed { text } => {
                self.alert("reload_failed", "", Some(std::process::id() as i32), text)
            }
            _ => {}
        }
    }

    /// Applies the config's `notify` section (at start and on every reload).
    fn configure(&self, settings: &DaemonSettings) {
        self.shared.state.lock().settings = settings.notify.clone();
    }
}

impl Shared {
    /// Takes a place for a command if the event is chosen and both bounds allow.
    fn admit(&self, kind: &str) -> Option<Launch> {
        let mut guard = self.state.lock();
        let n = &mut *guard;
        let settings = n.settings.as_ref().filter(|s| s.events.contains(kind))?;
        if n.closed {
            return None;
        }
        let now = Instant::now();
        while n
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            n.recent.pop_front();
        }
        if n.recent.len() >= settings.max_per_minute as usize {
            n.over_rate += 1;
            n.not_run += 1;
            return None;
        }
        if n.places >= MAX_RUNNING {
            n.over_cap += 1;
            n.not_run += 1;
            return None;
        }
        let launch = Launch {
            argv: settings.argv.clone(),
            dir: settings.workingdir.clone(),
            timeout: settings.timeout,
            over_rate: std::mem::take(&mut n.over_rate),
            over_cap: std::mem::take(&mut n.over_cap),
        };
        n.recent.push_back(now);
        n.places += 1;
        n.run += 1;
        Some(launch)
    }

    /// Frees a place (and forgets its group), waking a waiting shutdown.
    fn release(&self, group: Option<i32>) {
        let mut n = self.state.lock();
        n.places = n.places.saturating_sub(1);
        if let Some(group) = group {
            n.groups.retain(|&g| g != group);
        }
        self.ended.notify_all();
    }

    /// Waits until no alert command holds a place, at most `bound`.
    fn wait_for_none(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let mut n = self.state.lock();
        while n.places > 0 {
            if self.ended.wait_until(&mut n, deadline).timed_out() {
                return n.places == 0;
            }
        }
        true
    }
}

impl Notifier {
    /// An event happened; runs the command if the event is chosen and the bounds allow.
    /// `pid` is the process the event is about (`TASKMASTER_PID`, empty if none).
    fn alert(&self, kind: &str, instance: &str, pid: Option<i32>, message: &str) {
        let shared = &self.shared;
        let Some(launch) = shared.admit(kind) else {
            return;
        };
        let suppressed = launch.over_rate + launch.over_cap;
        if suppressed > 0 {
            info!(
                "notify: {suppressed} events not alerted before this {kind} ({} over max_per_minute, \
                 {} while {MAX_RUNNING} alert commands ran)",
                launch.over_rate, launch.over_cap
            );
        }
        command::run(shared, &launch, kind, instance, pid, message);
    }

    /// At shutdown: no more alerts; the running ones get SIGTERM, then SIGKILL after
    /// [`SHUTDOWN_GRACE`], and are waited for at most that long again.
    pub fn shutdown(&self) {
        let shared = &self.shared;
        let (groups, rate, cap) = {
            let mut n = shared.state.lock();
            n.closed = true;
            (n.groups.clone(), n.over_rate, n.over_cap)
        };
        if rate + cap > 0 {
            info!(
                "notify: {} events not alerted since the last alert ({rate} over max_per_minute, \
                 {cap} while {MAX_RUNNING} alert commands ran)",
                rate + cap
            );
        }
        if groups.is_empty() {
            return;
        }
        info!(
            "notify: {} alert commands still running at shutdown: SIGTERM to their process groups",
            groups.len()
        );
        for &group in &groups {
            let _ = crate::sys::process_group::signal_group(group, Signal::SIGTERM);
        }
        if shared.wait_for_none(SHUTDOWN_GRACE) {
            return;
        }
        let left = shared.state.lock().groups.clone();
        warn!(
            "notify: {} alert commands still running {} s after SIGTERM: killed",
            left.len(),
            SHUTDOWN_GRACE.as_secs_f64()
        );
        for group in left {
            let _ = crate::sys::process_group::signal_group(group, Signal::SIGKILL);
        }
        shared.wait_for_none(SHUTDOWN_GRACE);
    }

    pub fn stats(&self) -> Stats {
        let n = self.shared.state.lock();
        Stats {
            running: n.places,
            run: n.run,
            killed_after_timeout: n.killed,
            not_run: n.not_run,
        }
    }
}

/// What to run for an event that passed both bounds.
struct Launch {
    argv: Vec<String>,
    dir: std::path::PathBuf,
    timeout: Duration,
    over_rate: u64,
    over_cap: u64,
}

/// The counts `status -l` shows.
pub struct Stats {
    pub running: usize,
    pub run: u64,
    pub killed_after_timeout: u64,
    pub not_run: u64,
}
