//! Keeps a crash loop from filling the disk with the event log.
//!
//! A program that exits at once with `starttime: 0` and `autorestart: always` is
//! respawned hundreds of times a second, three lines each (spawned, entered RUNNING,
//! exited). Per instance, the first few lines of each of those kinds in a second are
//! written; the rest are only counted, and the counts come out as one summary line
//! when that second is over (the watcher wakes for it), or before any other line of
//! the instance (a stop, a FATAL, a start request), so the log stays in order and a
//! loop that ends still gets its summary. Every other line is always written.
//!
//! Each watcher owns the limiter of its instance: no lock, no shared map.

use std::time::{Duration, Instant};

use crate::watch::state::{ExitStatus, Report};

/// The lines of one kind written per instance and second before counting starts.
pub const WRITTEN_PER_SECOND: u32 = 3;

const WINDOW: Duration = Duration::from_secs(1);

/// Distinct exit statuses a summary tells apart; the rest are counted together.
const EXIT_KINDS: usize = 4;

/// The lines a crash loop repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Spawned,
    Running,
    Exited {
        status: ExitStatus,
        expected: bool,
    },
    /// Members of the group outlived a leader that exited on its own.
    Outlived,
}

impl LineKind {
    /// The kind of the line `report` makes, if it is one that a loop repeats.
    pub fn of(report: &Report) -> Option<LineKind> {
        match report {
            Report::Spawned { .. } => Some(LineKind::Spawned),
            Report::Running { .. } => Some(LineKind::Running),
            Report::Exited {
                status, expected, ..
            } => Some(LineKind::Exited {
                status: *status,
                expected: *expected,
            }),
            _ => None,
        }
    }

    /// Exits of any status share one allowance.
    fn slot(self) -> usize {
        match self {
            LineKind::Spawned => 0,
            LineKind::Running => 1,
            LineKind::Exited { .. } => 2,
            LineKind::Outlived => 3,
        }
    }
}

/// Lines counted instead of written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suppressed {
    pub spawned: u64,
    pub running: u64,
    /// Per exit status, in the order first seen.
    pub exits: Vec<(ExitStatus, bool, u64)>,
    /// Exits whose status did not fit in `exits`.
    pub other_exits: u64,
    /// Groups whose members outlived their leader.
    pub outlived: u64,
}

impl Suppressed {
    fn is_empty(&self) -> bool {
        self.spawned == 0
            && self.running == 0
            && self.exits.is_empty()
            && self.other_exits == 0
            && self.outlived == 0
    }

    fn count(&mut self, kind: LineKind) {
        match kind {
            LineKind::Spawned => self.spawned += 1,
            LineKind::Running => self.running += 1,
            LineKind::Outlived => self.outlived += 1,
            LineKind::Exited { status, expected } => {
                let seen = self
                    .exits
                    .iter()
                    .position(|(s, e, _)| *s == status && *e == expected);
                match seen {
                    Some(i) => self.exits[i].2 += 1,
                    None if self.exits.len() < EXIT_KINDS => self.exits.push((status, expected, 1)),
                    None => self.other_exits += 1,
                }
            }
        }
    }
}

/// The limiter of one instance.
#[derive(Debug, Default)]
pub struct LogLimit {
    /// Start of the current one-second window, if a limited line came in it.
    window: Option<Instant>,
    written: [u32; 4],
    suppressed: Suppressed,
}

impl LogLimit {
    /// Whether a line of `kind` seen at `now` is written. A summary of the window
    /// that ended before `now` comes first, to be written before the line.
    pub fn admit(&mut self, kind: LineKind, now: Instant) -> (Option<Suppressed>, bool) {
        let summary = self.flush_due(now);
        if self.window.is_none() {
            self.window = Some(now);
        }
        let written = &mut self.written[kind.slot()];
        if *written < WRITTEN_PER_SECOND {
            *written += 1;
            (summary, true)
        } else {
            self.suppressed.count(kind);
            (summary, false)
        }
    }

    /// When the pending summary is due (the end of its window), if there is one:
    /// the watcher wakes for it.
    pub fn due(&self) -> Option<Instant> {
        self.window
            .filter(|_| !self.suppressed.is_empty())
            .map(|start| start + WINDOW)
    }

    /// Ends the window if it is over at `now`; returns its summary, if any.
    pub fn flush_due(&mut self, now: Instant) -> Option<Suppressed> {
        let start = self.window?;
        if now.saturating_duration_since(start) < WINDOW {
            return None;
        }
        self.window = None;
        self.written = [0; 4];
        self.flush()
    }

    /// The pending summary now, whatever the time (another line of this instance is
    /// about to be written). The window and what it allowed stay as they are.
    pub fn flush(&mut self) -> Option<Suppressed> {
        let summary = std::mem::take(&mut self.suppressed);
        (!summary.is_empty()).then_some(summary)
    }
}

#[cfg(test)]
#[path = "log_limit_tests.rs"]
mod tests;
