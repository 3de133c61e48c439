//! `status`: supervisorctl's columns and descriptions, and the `--json` shape of
//! README: Commands.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::status_adopted::{self, AdoptedView};
use super::status_json;
use super::Reply;
use crate::resources::{format_bytes, Usage};
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
    let lines: Vec<String> = daemon
        .into_iter()
        .chain(rows.iter().map(|(name, r)| match r {
            Some((_, s)) => {
                let mut text = describe(name, s);
                if let Some(u) = usage_of(s).filter(|_| s.state == State::Running) {
                    text.push_str(&usage_text(u, s.restarts));
                    if long {
                        text.push_str(&long_usage_text(u, s.pid));
                    }
                }
                text.push_str(&status_adopted::text(&adopted_of(name, s)));
                line(name, width, s.state.name(), &text)
            }
            None => super::no_such_process(name),
        }))
        .chain(status_adopted::no_instance_line(&of_none))
        .collect();
    Reply {
        exit,
        ..Reply::ok(lines.join("\n"))
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

/// One row: the name padded to `width` characters, the state to 10, then the
/// description.
///
/// Padded by hand: a `format!` width above 65 535 panics, and a width comes from
/// the data here (the longest name), so no name may ever reach that.
fn line(name: &str, width: usize, state: &str, description: &str) -> String {
    let mut out = String::with_capacity(width + 10 + description.len());
    for (text, width) in [(name, width), (state, 10)] {
        out.push_str(text);
        let used = text.chars().count();
        out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    }
    out.push_str(description);
    out.truncate(out.trim_end().len());
    out
}

/// An instance's name and status; `None` for an unknown name.
type Row = (String, Option<(Arc<Instance>, Status)>);

fn row(instance: Arc<Instance>) -> Row {
    let status = instance.status();
    (instance.name(), Some((instance, status)))
}

/// `, cpu 0.3%, mem 12.1 MiB, restarts 0` after a RUNNING instance's pid and uptime.
fn usage_text(u: &Usage, restarts: u32) -> String {
    format!(
        ", cpu {:.1}%, mem {}, restarts {restarts}",
        u.cpu_percent,
        format_bytes(u.memory_bytes)
    )
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
    match s.state {
        State::Running => match (s.pid, s.uptime()) {
            (Some(pid), Some(up)) => format!(
                "pid {pid}, uptime {}{}",
                format_uptime(up),
                describe_health(s.health, s.health_reason.as_deref())
            ),
            _ => String::new(),
        },
        State::Backoff | State::Fatal => s
            .spawnerr
            .clone()
            .unwrap_or_else(|| format!("unknown error (try \"tail {name}\")")),
        State::Stopped | State::Exited => match (s.started_at, s.stopped_at) {
            (Some(_), Some(stopped)) => {
                let when = format_local_time(stopped);
                match (s.state, s.last_exit) {
                    (State::Exited, Some(exit)) => format!("{when}, {}", describe_exit(exit)),
                    _ => when,
                }
            }
            _ => s.note.clone().unwrap_or_else(|| "Not started".to_string()),
        },
        State::Starting | State::Stopping => String::new(),
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
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let hms = format!("{}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        n => format!("{n} days, {hms}"),
    }
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
