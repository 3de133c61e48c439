//! `top`'s pure model: the latest snapshot, its order, the place scrolled to and
//! every text shown — no terminal here, so all of it is unit-tested. The view
//! (`view.rs`) draws what this says; the command layer's `top` reply (a terminal-
//! less snapshot) is [`snapshot_text`].

use std::cmp::Ordering;

use crate::control::protocol::{TopInstance, TopSnapshot, TOP_LINE_MAX};
use crate::output::printable;
use crate::resources::format_bytes;

/// What the rows are sorted by; each has its key in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Cpu,
    Memory,
    Name,
    Restarts,
    State,
}

impl SortKey {
    /// The keys, in the footer's order: (key, sort, label).
    pub const ALL: [(char, SortKey, &'static str); 5] = [
        ('c', SortKey::Cpu, "cpu"),
        ('m', SortKey::Memory, "mem"),
        ('n', SortKey::Name, "name"),
        ('r', SortKey::Restarts, "restarts"),
        ('s', SortKey::State, "state"),
    ];

    pub fn label(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k, _)| *k == self)
            .map_or("", |(_, _, l)| l)
    }
}

/// A key the view passes on, already told apart from the terminal's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    /// `q`, Esc or Ctrl-C.
    Quit,
}

/// What a key asks of the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Redraw,
    Quit,
    Nothing,
}

/// Instances by state, for the header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub running: usize,
    /// STOPPED or EXITED.
    pub stopped: usize,
    pub fatal: usize,
    /// STARTING, BACKOFF or STOPPING.
    pub changing: usize,
}

/// The view's state between two refreshes.
pub struct Model {
    snapshot: TopSnapshot,
    sort: SortKey,
    /// The first row shown.
    scroll: usize,
    /// Table rows that fit on the screen, as last drawn (PgUp/PgDn's step).
    page: usize,
    /// The daemon's CPU share between the last two snapshots.
    daemon_cpu: Option<f64>,
}

impl Model {
    /// A model of `snapshot`, sorted by CPU, the busiest first.
    pub fn new(snapshot: TopSnapshot) -> Model {
        let mut model = Model {
            snapshot: TopSnapshot {
                daemon: snapshot.daemon.clone(),
                instances: Vec::new(),
            },
            sort: SortKey::Cpu,
            scroll: 0,
            page: 1,
            daemon_cpu: None,
        };
        model.update(snapshot);
        model
    }

    /// Takes a new snapshot: the daemon's CPU share since the previous one (its
    /// CPU time over its own uptime's step), the rows sorted as before.
    pub fn update(&mut self, mut snapshot: TopSnapshot) {
        let (before, now) = (&self.snapshot.daemon, &snapshot.daemon);
        self.daemon_cpu = match (before.cpu_seconds, now.cpu_seconds) {
            (Some(a), Some(b)) if now.uptime_s > before.uptime_s && before.pid == now.pid => {
                Some((b - a).max(0.0) / (now.uptime_s - before.uptime_s) * 100.0)
            }
            _ => self.daemon_cpu.filter(|_| before.pid == now.pid),
        };
        for row in &mut snapshot.instances {
            // The daemon cleans it already; a view never trusts what it draws.
            row.last_line = printable::last_line(row.last_line.as_bytes(), TOP_LINE_MAX);
        }
        self.snapshot = snapshot;
        self.sort_rows();
    }

    pub fn sort(&self) -> SortKey {
        self.sort
    }

    pub fn rows(&self) -> &[TopInstance] {
        &self.snapshot.instances
    }

    fn sort_rows(&mut self) {
        let key = self.sort;
        self.snapshot.instances.sort_by(|a, b| compare(key, a, b));
    }

    /// Applies a key.
    pub fn key(&mut self, key: Key) -> Action {
        let last = self.rows().len().saturating_sub(1);
        let scroll = match key {
            Key::Quit | Key::Char('q') => return Action::Quit,
            Key::Char(c) => match SortKey::ALL.iter().find(|(k, _, _)| *k == c) {
                Some((_, sort, _)) => {
                    self.sort = *sort;
                    self.sort_rows();
                    return Action::Redraw;
                }
                None => return Action::Nothing,
            },
            Key::Up => self.scroll.saturating_sub(1),
            Key::Down => self.scroll + 1,
            Key::PageUp => self.scroll.saturating_sub(self.page),
            Key::PageDown => self.scroll + self.page,
            Key::Home => 0,
            Key::End => last,
        };
        let before = self.scroll;
        self.scroll = scroll.min(self.max_scroll());
        if self.scroll == before {
            Action::Nothing
        } else {
            Action::Redraw
        }
    }

    /// The first scroll position that still fills the page (0 when all fit).
    fn max_scroll(&self) -> usize {
        self.rows().len().saturating_sub(self.page)
    }

    /// The rows to draw in a table `height` rows tall: their range in
    /// [`rows`](Self::rows). Remembers the height for PgUp/PgDn, and keeps the
    /// page full when the window grew or rows went away.
    pub fn visible(&mut self, height: usize) -> std::ops::Range<usize> {
        self.page = height.max(1);
        self.scroll = self.scroll.min(self.max_scroll());
        let end = (self.scroll + height).min(self.rows().len());
        self.scroll..end
    }

    pub fn totals(&self) -> Totals {
        totals(&self.snapshot.instances)
    }

    /// The header's lines: the daemon, then the instances by state.
    pub fn header(&self) -> [String; 2] {
        let d = &self.snapshot.daemon;
        let cpu = self
            .daemon_cpu
            .map_or("-".to_string(), |c| format!("{c:.1}%"));
        let mem = d.memory_bytes.map_or("-".to_string(), format_bytes);
        [
            format!(
                "taskmaster pid {}, up {}, cpu {cpu}, mem {mem}",
                d.pid,
                format_uptime(Some(d.uptime_s))
            ),
            totals_line(&self.totals()),
        ]
    }

    /// The footer: where the page is, the order, and the keys.
    pub fn footer(&self, shown: &std::ops::Range<usize>) -> String {
        let keys: Vec<String> = SortKey::ALL
            .iter()
            .map(|(k, _, label)| format!("{k} {label}"))
            .collect();
        let place = match self.rows().len() {
            0 => "no instances".to_string(),
            n => format!("{}-{} of {n}", shown.start + 1, shown.end),
        };
        // Where the page is first: a narrow window cuts the end of the keys.
        format!(
            "{place}, by {} | q quit  {}  ↑↓ PgUp PgDn Home End",
            self.sort.label(),
            keys.join("  ")
        )
    }
}

/// `a` before `b` in `key`'s order: the busiest, biggest, most restarted or most
/// troubled first, by name otherwise and between equals.
fn compare(key: SortKey, a: &TopInstance, b: &TopInstance) -> Ordering {
    let desc = |x: f64, y: f64| y.partial_cmp(&x).unwrap_or(Ordering::Equal);
    let first = match key {
        SortKey::Cpu => desc(a.cpu_percent.unwrap_or(-1.0), b.cpu_percent.unwrap_or(-1.0)),
        SortKey::Memory => b.memory_bytes.cmp(&a.memory_bytes),
        SortKey::Restarts => b.restarts.cmp(&a.restarts),
        SortKey::State => state_rank(&a.state).cmp(&state_rank(&b.state)),
        SortKey::Name => Ordering::Equal,
    };
    first.then_with(|| name_order(&a.name, &b.name))
}

/// States that want attention first.
fn state_rank(state: &str) -> u8 {
    match state {
        "FATAL" => 0,
        "BACKOFF" => 1,
        "EXITED" => 2,
        "STOPPED" => 3,
        "STOPPING" => 4,
        "STARTING" => 5,
        "RUNNING" => 6,
        _ => 7,
    }
}

/// Names with their instance numbers in numeric order: `web:2` before `web:10`.
fn name_order(a: &str, b: &str) -> Ordering {
    let split = |n: &str| -> (String, Option<u64>) {
        match n.rsplit_once(':') {
            Some((program, index)) => (program.to_string(), index.parse().ok()),
            None => (n.to_string(), None),
        }
    };
    split(a).cmp(&split(b)).then_with(|| a.cmp(b))
}

pub fn totals(rows: &[TopInstance]) -> Totals {
    let mut t = Totals::default();
    for row in rows {
        match row.state.as_str() {
            "RUNNING" => t.running += 1,
            "STOPPED" | "EXITED" => t.stopped += 1,
            "FATAL" => t.fatal += 1,
            _ => t.changing += 1,
        }
    }
    t
}

fn totals_line(t: &Totals) -> String {
    let all = t.running + t.stopped + t.fatal + t.changing;
    format!(
        "{all} instance{}: {} running, {} stopped, {} fatal, {} starting or stopping",
        if all == 1 { "" } else { "s" },
        t.running,
        t.stopped,
        t.fatal,
        t.changing
    )
}

/// The table's column titles.
pub const COLUMNS: [&str; 9] = [
    "NAME",
    "STATE",
    "PID",
    "UPTIME",
    "CPU%",
    "MEM",
    "RESTARTS",
    "HEALTH",
    "LAST LINE",
];

/// One instance's cells, in [`COLUMNS`]' order; `-` where there is nothing to say.
pub fn cells(row: &TopInstance) -> [String; 9] {
    [
        row.name.clone(),
        row.state.clone(),
        row.pid.map_or("-".to_string(), |p| p.to_string()),
        format_uptime(row.uptime_s),
        format_cpu(row.cpu_percent),
        row.memory_bytes.map_or("-".to_string(), format_bytes),
        row.restarts.to_string(),
        row.health.clone().unwrap_or_else(|| "-".to_string()),
        row.last_line.clone(),
    ]
}

/// `12.3`, or `-` without a process.
pub fn format_cpu(percent: Option<f64>) -> String {
    percent.map_or("-".to_string(), |p| format!("{p:.1}"))
}

/// `0:01:02`, `3d 04:05:06`, or `-`.
pub fn format_uptime(seconds: Option<f64>) -> String {
    let Some(s) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
        return "-".to_string();
    };
    let s = s as u64;
    let (days, rest) = (s / 86_400, s % 86_400);
    let (h, m, sec) = (rest / 3600, rest % 3600 / 60, rest % 60);
    match days {
        0 => format!("{h}:{m:02}:{sec:02}"),
        d => format!("{d}d {h:02}:{m:02}:{sec:02}"),
    }
}

/// The snapshot as plain text, a header and a table sorted by name: what `top`
/// answers where there is no terminal to draw on (taskmasterctl's output piped,
/// the daemon's stdin not a terminal, a raw socket request).
pub fn snapshot_text(snapshot: &TopSnapshot) -> String {
    let mut model = Model::new(snapshot.clone());
    model.key(Key::Char('n'));
    let mut lines: Vec<String> = model.header().to_vec();
    let table: Vec<[String; 9]> = std::iter::once(COLUMNS.map(str::to_string))
        .chain(model.rows().iter().map(cells))
        .collect();
    let mut widths = [0usize; 9];
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        lines.push(line.trim_end().to_string());
    }
    lines.join("\n")
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
