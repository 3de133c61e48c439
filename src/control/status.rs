//! `status`: supervisorctl's columns and descriptions, and the `--json` shape of
//! README: Commands.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::status_adopted::{self, AdoptedView};
use super::status_json;
use super::Reply;
use crate::resources::{write_bytes, Usage};
use crate::supervisor::Supervisor;
use crate::watch::state::describe_health;
use crate::watch::{ExitStatus, Instance, State, Status};

pub fn status(
    sup: &Arc<Supervisor>,
    connections: &super::connections::Connections,
    args: &[String],
) -> Reply {
    let json = args.iter().any(|a| a == "--json");
    let long = args.iter().any(|a| a == "-l" || a == "--long");
    let names: Vec<String> = args
        .iter()
        .filter(|a| !matches!(a.as_str(), "--json" | "-l" | "--long"))
        .cloned()
        .collect();
    if let Some(bad) = names.iter().find(|a| a.starts_with('-')) {
        return Reply::usage(format!(
            "Error: unknown option {bad} (status [-l] [NAME...] [--json])"
        ));
    }
    // Rows in argument order, an unknown name in its place (`None`).
    let rows: Vec<Row> = if names.is_empty() {
        sup.instances().into_iter().map(row).collect()
    } else {
        sup.resolve(&names)
            .into_iter()
            .map(|found| match found {
                Ok(instance) => row(instance),
                Err(name) => (name, None),
            })
            .collect()
    };
    // One pass over /proc for every group asked about (at most once a second).
    let pgids: Vec<i32> = rows
        .iter()
        .filter_map(|(_, r)| r.as_ref().and_then(|(_, s)| s.pid))
        .collect();
    let usage = sup.resources().usage(&pgids);
    let usage_of = |s: &Status| s.pid.and_then(|pid| usage.get(&pid));
    let exit = exit_code(&rows);
    let adopted = long.then(AdoptedView::now);
    let adopted_of = |name: &str, s: &Status| {
        adopted
            .as_ref()
            .map(|a| a.of(name, s.pid))
            .unwrap_or_default()
    };
    // Those of no instance, once every instance is shown.
    let of_none = match (&adopted, names.is_empty()) {
        (Some(a), true) => a.of_none(&sup.instances()),
        _ => Vec::new(),
    };
    if json {
        // Still one JSON array: an unknown name is an object with its error.
        let table: Vec<status_json::Row> = rows
            .iter()
            .map(|(name, r)| match r {
                Some((i, s)) => {
                    let adopted = long.then(|| adopted_of(name, s));
                    status_json::instance_row(name, i, s, usage_of(s), adopted)
                }
                None => status_json::unknown(name),
            })
            .collect();
        // `status --json` stays one array (scripts parse it); `-l` wraps it.
        let text = match long {
            true => serde_json::to_string(&status_json::Long {
                daemon: super::daemon_status::to_json(sup, connections),
                instances: &table,
                orphans: &of_none,
            }),
            false => serde_json::to_string(&table),
        };
        // Our own types always serialize: an empty table should that change.
        let text = text.unwrap_or_else(|_| "[]".to_string());
        return Reply {
            exit,
            data: serde_json::value::RawValue::from_string(text.clone()).ok(),
            ..Reply::ok(text)
        };
    }
    let width = rows
        .iter()
        .filter(|(_, r)| r.is_some())
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0)
        .max(30)
        + 3;
    let daemon = match long {
        true => super::daemon_status::lines(sup, connections),
        false => Vec::new(),
    };
    // One buffer for the whole table: a row is a few appends, not a handful of
    // Strings (1 000 rows: half the daemon's time for a `status` went to them).
    let mut out = String::with_capacity(rows.len() * (width + 80));
    // Lines joined by '\n', as before: one before every line but the first.
    let mut first = true;
    let mut newline = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push('\n');
        }
    };
    for text in daemon {
        newline(&mut out);
        out.push_str(&text);
    }
    for (name, r) in &rows {
        newline(&mut out);
        let Some((_, s)) = r else {
            out.push_str(&super::no_such_process(name));
            continue;
        };
        push_line(&mut out, name, width, s.state.name(), |out| {
            push_description(out, name, s);
            if let Some(u) = usage_of(s).filter(|_| s.state == State::Running) {
                push_usage(out, u, s.restarts);
                if long {
                    out.push_str(&long_usage_text(u, s.pid));
                }
            }
            out.push_str(&status_adopted::text(&adopted_of(name, s)));
        });
    }
    if let Some(text) = status_adopted::no_instance_line(&of_none) {
        newline(&mut out);
        out.push_str(&text);
    }
    Reply {
        exit,
        ..Reply::ok(out)
    }
}

/// supervisorctl's LSB status codes, which health checks and init scripts test:
/// 4 when a name is unknown, else 3 when some instance shown has no process and
/// is not about to have one (STOPPED, EXITED, FATAL), else 0 (every one RUNNING,
/// or on its way: STARTING, BACKOFF, STOPPING).
pub const EXIT_NOT_RUNNING: i32 = 3;
pub const EXIT_UNKNOWN: i32 = 4;

fn exit_code(rows: &[Row]) -> i32 {
    let stopped = |s: &Status| matches!(s.state, State::Stopped | State::Exited | State::Fatal);
    if rows.iter().any(|(_, r)| r.is_none()) {
        EXIT_UNKNOWN
    } else if rows
        .iter()
        .any(|(_, r)| r.as_ref().is_some_and(|(_, s)| stopped(s)))
    {
        EXIT_NOT_RUNNING
    } else {
        0
    }
}

/// Appends one row: the name padded to `width` characters, the state to 10,
/// then what `describe` appends, with the row's trailing blanks trimmed.
///
/// Padded by hand: a `format!` width above 65 535 panics, and a width comes from
/// the data here (the longest name), so no name may ever reach that.
fn push_line(
    out: &mut String,
    name: &str,
    width: usize,
    state: &str,
    describe: impl FnOnce(&mut String),
) {
    let start = out.len();
    for (text, width) in [(name, width), (state, 10)] {
        out.push_str(text);
        let used = text.chars().count();
        out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    }
    describe(out);
    let kept = out[start..].trim_end().len();
    out.truncate(start + kept);
}

/// An instance's name and status; `None` for an unknown name.
type Row = (String, Option<(Arc<Instance>, Status)>);

fn row(instance: Arc<Instance>) -> Row {
    let status = instance.status();
    (instance.name(), Some((instance, status)))
}

/// `, cpu 0.3%, mem 12.1 MiB, restarts 0` after a RUNNING instance's pid and uptime.
fn push_usage(out: &mut String, u: &Usage, restarts: u32) {
    // The percentage is already rounded to tenths: printed from whole tenths,
    // with the same digits `{:.1}` gives and no float formatting per row.
    let tenths = (u.cpu_percent * 10.0).round().max(0.0) as u64;
    let _ = write!(out, ", cpu {}.{}%, mem ", tenths / 10, tenths % 10);
    write_bytes(out, u.memory_bytes);
    let _ = write!(out, ", restarts {restarts}");
}

/// What `status -l` adds: the group's processes and threads, the leader's open
/// descriptors and the CPU time used so far.
fn long_usage_text(u: &Usage, pid: Option<i32>) -> String {
    let fds = pid
        .and_then(crate::sys::proc_stat::fd_count)
        .map_or("?".to_string(), |n| n.to_string());
    format!(
        ", processes {}, threads {}, fds {fds}, cpu time {:.2}s",
        u.processes, u.threads, u.cpu_seconds
    )
}

/// The description column, as supervisor words it.
pub fn describe(name: &str, s: &Status) -> String {
    let mut out = String::new();
    push_description(&mut out, name, s);
    out
}

fn push_description(out: &mut String, name: &str, s: &Status) {
    match s.state {
        State::Running => {
            if let (Some(pid), Some(up)) = (s.pid, s.uptime()) {
                let _ = write!(out, "pid {pid}, uptime ");
                push_uptime(out, up);
                out.push_str(&describe_health(s.health, s.health_reason.as_deref()));
            }
        }
        State::Backoff | State::Fatal => match &s.spawnerr {
            Some(error) => out.push_str(error),
            None => {
                let _ = write!(out, "unknown error (try \"tail {name}\")");
            }
        },
        State::Stopped | State::Exited => match (s.started_at, s.stopped_at) {
            (Some(_), Some(stopped)) => {
                out.push_str(&format_local_time(stopped));
                if let (State::Exited, Some(exit)) = (s.state, s.last_exit) {
                    out.push_str(", ");
                    out.push_str(&describe_exit(exit));
                }
            }
            _ => out.push_str(s.note.as_deref().unwrap_or("Not started")),
        },
        State::Starting | State::Stopping => {}
    }
}

fn describe_exit(exit: ExitStatus) -> String {
    match exit {
        ExitStatus::Code(c) => format!("exit status {c}"),
        ExitStatus::Signal(sig) => format!("killed by {}", sig.as_str()),
    }
}

/// Python's `str(timedelta)` with whole seconds: `0:01:02`, `1 day, 2:03:04`.
pub fn format_uptime(d: Duration) -> String {
    let mut out = String::new();
    push_uptime(&mut out, d);
    out
}

fn push_uptime(out: &mut String, d: Duration) {
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let _ = match days {
        0 => Ok(()),
        1 => write!(out, "1 day, "),
        n => write!(out, "{n} days, "),
    };
    let _ = write!(
        out,
        "{}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
}

/// supervisor's `%b %d %I:%M %p` in local time, e.g. `Nov 22 04:54 AM`.
fn format_local_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let tm = crate::sys::time::local_time(t);
    let hour12 = match tm.tm_hour % 12 {
        0 => 12,
        h => h,
    };
    format!(
        "{} {:02} {:02}:{:02} {}",
        MONTHS.get(tm.tm_mon as usize).unwrap_or(&"???"),
        tm.tm_mday,
        hour12,
        tm.tm_min,
        if tm.tm_hour < 12 { "AM" } else { "PM" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_padded_whatever_the_length_of_the_name() {
        let line = |name: &str, width, state, description: &str| {
            let mut out = String::new();
            push_line(&mut out, name, width, state, |out| {
                out.push_str(description)
            });
            out
        };
        assert_eq!(
            line("web", 33, "RUNNING", "pid 1, uptime 0:00:01"),
            format!("web{}RUNNING   pid 1, uptime 0:00:01", " ".repeat(30))
        );
        assert_eq!(line("é", 3, "STOPPED", ""), "é  STOPPED");
        // Past u16::MAX a format width would panic.
        let long = "n".repeat(70_000);
        let row = line(&long, 70_003, "FATAL", "x");
        assert_eq!(row.len(), 70_003 + 10 + 1);
        assert!(row.starts_with(&long) && row.ends_with("FATAL     x"));
    }

    #[test]
    fn usage_prints_the_tenths_float_formatting_would() {
        for (percent, bytes) in [(0.0, 512), (0.3, 12_700_000), (12.5, 1 << 30), (2_345.9, 0)] {
            let u = Usage {
                cpu_percent: percent,
                cpu_seconds: 0.0,
                memory_bytes: bytes,
                threads: 1,
                processes: 1,
            };
            let mut out = String::new();
            push_usage(&mut out, &u, 4);
            let mem = crate::resources::format_bytes(bytes);
            assert_eq!(out, format!(", cpu {percent:.1}%, mem {mem}, restarts 4"));
        }
    }

    #[test]
    fn uptime_reads_like_python_timedelta() {
        assert_eq!(format_uptime(Duration::from_secs(62)), "0:01:02");
        assert_eq!(
            format_uptime(Duration::from_secs(86_400 + 3 * 3600 + 4)),
            "1 day, 3:00:04"
        );
        assert_eq!(
            format_uptime(Duration::from_secs(2 * 86_400)),
            "2 days, 0:00:00"
        );
    }

    #[test]
    fn local_time_has_supervisors_shape() {
        let s = format_local_time(SystemTime::now());
        assert_eq!(s.len(), "Nov 22 04:54 AM".len(), "{s}");
        assert!(s.ends_with("AM") || s.ends_with("PM"));
    }
}
