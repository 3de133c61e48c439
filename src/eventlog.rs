//! The event log (README: Output and the event log): one line per event, timestamp with milliseconds, level,
//! message; through log4rs, to our lock-free append-only file (`logfile.rs`),
//! which also rotates it — every line is written through.
//!
//! Instance events arrive here through the hub ([`crate::hub`]), [`EventLines`]
//! being one of its subscribers; this module is the one place that turns them
//! into words, so the log reads the same whoever caused the event.

use log::{log, warn, Level, LevelFilter};
use log4rs::config::{Appender, Root};

use crate::config::{DaemonSettings, Policy};
use crate::hub::{Event, Hub, Subscriber};
use crate::syslog::SyslogAppender;
use crate::watch::state::{ExitStatus, Report};
use crate::watch::Suppressed;

mod followers;

pub use followers::{LogFollowers, FOLLOWER_QUEUE};

/// Handle to re-point the log at another file (reload of `taskmaster.logfile`),
/// and to follow it (`maintail -f`).
pub struct EventLog {
    handle: log4rs::Handle,
    followers: std::sync::Arc<LogFollowers>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot open the log file {path}: {reason}")]
pub struct LogError {
    path: String,
    reason: String,
}

fn log_config(
    settings: &DaemonSettings,
    followers: &std::sync::Arc<LogFollowers>,
) -> Result<log4rs::Config, LogError> {
    let (path, rotation) = (settings.logfile.as_path(), settings.log_rotation);
    let err = |reason: String| LogError {
        path: path.display().to_string(),
        reason,
    };
    // log4rs opens the file itself: refuse a symlink planted in a shared directory.
    let planted = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if planted && crate::output::in_shared_directory(path) {
        return Err(err(
            "it is a symlink in a directory others can write to".into()
        ));
    }
    let file = crate::logfile::AppendOnlyLog::open_rotating(path, rotation)
        .map_err(|e| err(e.to_string()))?;
    let tee = followers::Tee(followers.clone());
    let mut config = log4rs::Config::builder()
        .appender(Appender::builder().build("file", Box::new(file)))
        .appender(Appender::builder().build("followers", Box::new(tee)));
    let mut root = Root::builder().appender("file").appender("followers");
    if let Some(socket) = &settings.syslog {
        let syslog = SyslogAppender::new(socket).map_err(|e| err(format!("syslog: {e}")))?;
        config = config.appender(Appender::builder().build("syslog", Box::new(syslog)));
        root = root.appender("syslog");
    }
    if crate::sys::sd_notify::stderr_is_journal_stream() {
        let journal = crate::journald::JournalStderr::default();
        config = config.appender(Appender::builder().build("journal", Box::new(journal)));
        root = root.appender("journal");
    }
    config
        .build(root.build(LevelFilter::Info))
        .map_err(|e| err(e.to_string()))
}

impl EventLog {
    /// Starts logging to the settings' `logfile` (appending, created if missing),
    /// rotated per `log_rotation` (`maxbytes` 0: never), copied to `syslog` if set.
    pub fn init(settings: &DaemonSettings) -> Result<EventLog, LogError> {
        let followers = std::sync::Arc::default();
        let config = log_config(settings, &followers)?;
        let handle = log4rs::init_config(config).map_err(|e| LogError {
            path: settings.logfile.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(EventLog { handle, followers })
    }

    /// Switches to a new file or rotation; on error the old one stays in use.
    /// Followers keep following.
    pub fn reopen(&self, settings: &DaemonSettings) -> Result<(), LogError> {
        self.handle
            .set_config(log_config(settings, &self.followers)?);
        Ok(())
    }

    /// The clients following the log (`maintail -f`).
    pub fn followers(&self) -> std::sync::Arc<LogFollowers> {
        self.followers.clone()
    }
}

fn describe_exit(status: &ExitStatus) -> String {
    status.to_string()
}

/// A reload asked for by SIGHUP failed: logged, and a notice, since nobody is
/// waiting for a reply to print (`why` may span lines; a notice is one).
pub fn sighup_reload_failed(hub: &Hub, why: &str) {
    let why = why
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    warn!("reload after SIGHUP failed: {why}");
    hub.publish(&Event::SighupReloadFailed { why: &why });
}

/// The words of a FATAL, for its alert and its notice.
pub fn fatal_text(name: &str, report: &Report) -> String {
    match report {
        Report::GaveUp { pid: Some(pid) } => {
            format!("{name}: FATAL (too many start retries too quickly; last pid {pid})")
        }
        _ => format!("{name}: FATAL (too many start retries too quickly)"),
    }
}

/// The words of a restart for `max_memory`, for its log line, notice and alert:
/// `web:0: memory 612.3 MiB over max_memory 512 MiB: restarting`.
pub fn memory_over_text(name: &str, used: u64, limit: u64) -> String {
    let limit = crate::resources::format_bytes(limit);
    // A limit is written in round units: `512 MiB`, not `512.0 MiB`.
    let limit = match limit.split_once(".0 ") {
        Some((whole, unit)) => format!("{whole} {unit}"),
        None => limit,
    };
    format!(
        "{name}: memory {} over max_memory {limit}: restarting",
        crate::resources::format_bytes(used)
    )
}

/// The words of an instance found unhealthy, for its log line, notice and alert:
/// `web: unhealthy after 3 failed health checks in a row (GET …: connection refused): restarting`.
pub fn unhealthy_text(
    name: &str,
    failures: u32,
    reason: &str,
    on_failure: crate::config::OnFailure,
) -> String {
    let checks = if failures == 1 {
        "check"
    } else {
        "checks in a row"
    };
    let then = match on_failure {
        crate::config::OnFailure::Restart => ": restarting",
        _ => "",
    };
    format!("{name}: unhealthy after {failures} failed health {checks} ({reason}){then}")
}

/// The event log as a subscriber of the hub: one line per instance event (none
/// for a report the watcher's crash-loop limiter counted instead).
pub struct EventLines;

impl Subscriber for EventLines {
    fn event(&self, event: &Event<'_>) {
        if let Event::Report {
            write_line: false, ..
        } = event
        {
            return;
        }
        if let Some((level, text)) = words(event) {
            log!(level, "{text}");
        }
    }
}

/// The event log's words for `event` and the level of its line; `None` for an
/// event the log writes no line for here (a state change, a reap, what the
/// reloader logs itself). The event stream (`events`) uses the same words.
pub fn words(event: &Event<'_>) -> Option<(Level, String)> {
    let line = match *event {
        Event::Report {
            name, pid, report, policy, ..
        } => report_line(name, pid, report, policy),
        Event::LinesSuppressed { name, counted } => lines_suppressed(name, counted),
        Event::StartRequested { name } => (Level::Info, format!("start requested: {name}")),
        Event::SignalFailed {
            name,
            signal,
            errno,
        } => (
            Level::Warn,
            format!(
                "could not send {} to {name}: {}",
                signal.as_str(),
                errno.desc()
            ),
        ),
        Event::OutputLost { name, pid, reason } => (
            Level::Warn,
            format!(
                "{name} (pid {pid}): {reason}; killing it, since nothing could read its output"
            ),
        ),
        Event::GroupOutlived {
            name,
            pgid,
            members,
            signal,
        } => {
            let processes = if members == 1 { "process" } else { "processes" };
            (
                Level::Warn,
                format!(
                    "{name}: {members} {processes} of its group outlived it (pid {pgid} exited): {} sent",
                    signal.as_str()
                ),
            )
        }
        Event::GroupKilled { name, pgid } => (
            Level::Warn,
            format!(
                "killing what is left of {name}'s process group {pgid} with SIGKILL (stoptime passed)"
            ),
        ),
        Event::AdoptedSignalled {
            name,
            count,
            signal,
        } => (
            if signal == nix::sys::signal::Signal::SIGKILL {
                Level::Warn
            } else {
                Level::Info
            },
            format!(
                "{name}: {signal} to {count} adopted {} (outside its process group)",
                if count == 1 { "process" } else { "processes" },
                signal = signal.as_str()
            ),
        ),
        Event::WatcherFailed { name, pid, what } => (Level::Error, watcher_failed(name, pid, what)),
        _ => return None,
    };
    Some(line)
}

/// The line of a watcher's report.
fn report_line(name: &str, pid: Option<i32>, report: &Report, policy: &Policy) -> (Level, String) {
    let info = |text: String| (Level::Info, text);
    let warn = |text: String| (Level::Warn, text);
    match report {
        Report::Spawned { pid } => info(format!("spawned: '{name}' with pid {pid}")),
        Report::SpawnError { reason } => warn(format!("spawnerr: {name}: {reason}")),
        Report::Running { starttime } => info(format!(
            "success: {name} entered RUNNING state, process has stayed up for > than {} seconds (starttime)",
            starttime.as_secs_f64()
        )),
        Report::Exited {
            status, expected, ..
        } => {
            let msg = format!(
                "exited: {name} ({}; {})",
                describe_exit(status),
                if *expected { "expected" } else { "not expected" }
            );
            if *expected {
                info(msg)
            } else {
                warn(msg)
            }
        }
        Report::Backoff { attempt, delay, .. } => match policy.startretries {
            crate::config::INFINITE_RETRIES => info(format!(
                "backoff: {name} start failed, retry {attempt} (no limit) in {}s",
                delay.as_secs_f64()
            )),
            limit => info(format!(
                "backoff: {name} start failed, retry {attempt} of {limit} in {}s",
                delay.as_secs_f64()
            )),
        },
        // An error: nothing will start it again until someone does (syslog and
        // the journal file it as err).
        Report::GaveUp { .. } => (Level::Error, format!(
            "gave up: {name} entered FATAL state, too many start retries too quickly"
        )),
        Report::Throttled {
            quick_deaths,
            delay,
        } => warn(format!(
            "{name}: restarting too often ({quick_deaths} exits in a row within {} s of their spawn): next restart in {} s, each later one waiting twice as long, up to {} s",
            crate::config::QUICK_DEATH.as_secs(),
            delay.as_secs_f64(),
            policy.restart_throttle.unwrap_or_default().max.as_secs_f64()
        )),
        Report::Unthrottled => info(format!(
            "{name}: stayed up {} s: restarts are immediate again",
            crate::config::QUICK_DEATH.as_secs()
        )),
        Report::MemoryOver { used, limit } => warn(memory_over_text(name, *used, *limit)),
        Report::Healthy => info(format!("{name}: healthy")),
        Report::Unhealthy {
            failures,
            reason,
            on_failure,
        } => warn(unhealthy_text(name, *failures, reason, *on_failure)),
        Report::StopRequested { signal } => match pid {
            Some(pid) => info(format!("stopping: {name} (pid {pid}) with {}", signal.as_str())),
            None => info(format!("stopping: {name} with {}", signal.as_str())),
        },
        Report::Stopped { status } => info(format!("stopped: {name} ({})", describe_exit(status))),
        Report::Following { pid, launcher } => info(format!(
            "{name}: its launcher (pid {launcher}) exited 0: following pid {pid}, from its pidfile"
        )),
        Report::Killed => match pid {
            Some(pid) => warn(format!("killing '{name}' ({pid}) with SIGKILL")),
            None => warn(format!("killing '{name}' with SIGKILL")),
        },
    }
}

/// The lines of a crash loop that were counted instead of written, in one line.
fn lines_suppressed(name: &str, counted: &Suppressed) -> (Level, String) {
    let mut parts = Vec::new();
    let plural =
        |n: u64, one: &str, many: &str| format!("{n} more {}", if n == 1 { one } else { many });
    if counted.spawned > 0 {
        parts.push(plural(counted.spawned, "spawn", "spawns"));
    }
    if counted.running > 0 {
        parts.push(format!("{} more entered RUNNING", counted.running));
    }
    for (status, expected, n) in &counted.exits {
        let how = if *expected {
            "expected"
        } else {
            "not expected"
        };
        parts.push(format!("{} ({status}; {how})", plural(*n, "exit", "exits")));
    }
    if counted.outlived > 0 {
        parts.push(plural(
            counted.outlived,
            "group outlived its leader",
            "groups outlived their leader",
        ));
    }
    if counted.other_exits > 0 {
        parts.push(format!(
            "{} (other statuses)",
            plural(counted.other_exits, "exit", "exits")
        ));
    }
    let text = format!("{name}: {} in the last second", parts.join(", "));
    if counted.exits.iter().any(|(_, expected, _)| !expected) || counted.other_exits > 0 {
        (Level::Warn, text)
    } else {
        (Level::Info, text)
    }
}

fn watcher_failed(name: &str, pid: Option<i32>, what: &str) -> String {
    match pid {
        Some(pid) => format!(
            "{name}: internal error in its watcher ({what}); killing its process {pid}; {name} stays FATAL until taskmaster restarts"
        ),
        None => format!(
            "{name}: internal error in its watcher ({what}); {name} stays FATAL until taskmaster restarts"
        ),
    }
}

/// Whether a notice is the daemon's own message (`daemon_notice`: who asked for
/// the shutdown, what it waits for), which `notices off` in a shell keeps showing:
/// it answers the user rather than reporting on a program.
pub fn is_daemon_message(notice: &str) -> bool {
    // After the stamp `YYYY-MM-DD HH:MM:SS `, 20 bytes.
    notice
        .get(20..)
        .is_some_and(|text| text.starts_with("taskmaster: "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_restart_says_the_use_and_the_round_limit() {
        assert_eq!(
            memory_over_text("web:0", (612 << 20) + (3 << 20) / 10, 512 << 20),
            "web:0: memory 612.3 MiB over max_memory 512 MiB: restarting"
        );
        assert_eq!(
            memory_over_text("w", 3 << 30, (3 << 29) + 1),
            "w: memory 3.0 GiB over max_memory 1.5 GiB: restarting"
        );
        assert_eq!(
            memory_over_text("w", 2000, 1000),
            "w: memory 2.0 KiB over max_memory 1000 B: restarting"
        );
    }
}
