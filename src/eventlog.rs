//! The event log (SPEC §9): one line per event, timestamp with milliseconds, level,
//! message; through log4rs, to our lock-free append-only file (`logfile.rs`),
//! which also rotates it — every line is written through.
//!
//! Instance events arrive here as [`Report`]s from the watchers; this module is the
//! one place that turns them into words, so the log reads the same whoever caused
//! the event.

use log::{error, info, warn, LevelFilter};
use log4rs::config::{Appender, Root};
use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::config::{DaemonSettings, Policy};
use crate::syslog::SyslogAppender;
use crate::watch::state::{ExitStatus, Report};
use crate::watch::Suppressed;

/// Handle to re-point the log at another file (reload of `taskmaster.logfile`).
pub struct EventLog {
    handle: log4rs::Handle,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot open the log file {path}: {reason}")]
pub struct LogError {
    path: String,
    reason: String,
}

fn log_config(settings: &DaemonSettings) -> Result<log4rs::Config, LogError> {
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
    let mut config =
        log4rs::Config::builder().appender(Appender::builder().build("file", Box::new(file)));
    let mut root = Root::builder().appender("file");
    if let Some(socket) = &settings.syslog {
        let syslog = SyslogAppender::new(socket).map_err(|e| err(format!("syslog: {e}")))?;
        config = config.appender(Appender::builder().build("syslog", Box::new(syslog)));
        root = root.appender("syslog");
    }
    config
        .build(root.build(LevelFilter::Info))
        .map_err(|e| err(e.to_string()))
}

impl EventLog {
    /// Starts logging to the settings' `logfile` (appending, created if missing),
    /// rotated per `log_rotation` (`maxbytes` 0: never), copied to `syslog` if set.
    pub fn init(settings: &DaemonSettings) -> Result<EventLog, LogError> {
        let handle = log4rs::init_config(log_config(settings)?).map_err(|e| LogError {
            path: settings.logfile.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(EventLog { handle })
    }

    /// Switches to a new file or rotation; on error the old one stays in use.
    pub fn reopen(&self, settings: &DaemonSettings) -> Result<(), LogError> {
        self.handle.set_config(log_config(settings)?);
        Ok(())
    }
}

fn describe_exit(status: &ExitStatus) -> String {
    status.to_string()
}

/// Who wants notices: the daemon's shell, and `taskmasterctl` shells subscribed
/// over the socket. A subscriber that went away is dropped at the next notice.
static NOTICES: parking_lot::Mutex<Vec<std::sync::mpsc::Sender<String>>> =
    parking_lot::Mutex::new(Vec::new());

/// Sends notices of unexpected exits, spawn errors and FATALs to `sink` from now on.
pub fn subscribe_notices(sink: std::sync::mpsc::Sender<String>) {
    NOTICES.lock().push(sink);
}

/// Sends one notice to every subscriber, stamped with the time it happened (to
/// the second: a notice read later must say when, not just what).
fn notice(text: String) {
    let stamp = crate::sys::timestamp(std::time::SystemTime::now());
    let stamp = stamp.split('.').next().unwrap_or_default();
    let text = format!("{stamp} {text}");
    NOTICES
        .lock()
        .retain(|sink| sink.send(text.clone()).is_ok());
}

/// A reload asked for by SIGHUP failed: logged, and a notice, since nobody is
/// waiting for a reply to print (`why` may span lines; a notice is one).
pub fn sighup_reload_failed(why: &str) {
    let why = why
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    warn!("reload after SIGHUP failed: {why}");
    notice(format!("reload after SIGHUP failed: {why}"));
}

/// One line for a watcher's report (none when `write_line` is false: the watcher's
/// crash-loop limiter counts it instead; alerts and notices still happen).
pub fn instance_event(
    name: &str,
    pid: Option<i32>,
    report: &Report,
    policy: &Policy,
    write_line: bool,
) {
    // Alerts and notices name the process the event is about: the one that exited.
    match report {
        Report::GaveUp { pid: last } => {
            let text = match last {
                Some(pid) => {
                    format!("{name}: FATAL (too many start retries too quickly; last pid {pid})")
                }
                None => format!("{name}: FATAL (too many start retries too quickly)"),
            };
            crate::notify::event("fatal", name, *last, &text);
            notice(text);
        }
        Report::Exited {
            pid,
            status,
            expected: false,
        } => {
            let text = format!("{name}: exited unexpectedly (pid {pid}, {status})");
            crate::notify::event("unexpected_exit", name, Some(*pid), &text);
            // A crash loop's exits past the limiter's few a second are counted, not
            // shown one by one above the shell's prompt either.
            if write_line {
                notice(text);
            }
        }
        Report::SpawnError { reason } => notice(format!("{name}: spawn error ({reason})")),
        Report::Backoff {
            attempt,
            delay,
            pid: exited,
        } => {
            let why = exited
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            crate::notify::event(
                "backoff",
                name,
                *exited,
                &format!(
                    "{name}: start failed{why}, retry {attempt} in {}s",
                    delay.as_secs_f64()
                ),
            )
        }
        _ => {}
    }
    if !write_line {
        return;
    }
    match report {
        Report::Spawned { pid } => info!("spawned: '{name}' with pid {pid}"),
        Report::SpawnError { reason } => warn!("spawnerr: {name}: {reason}"),
        Report::Running { starttime } => info!(
            "success: {name} entered RUNNING state, process has stayed up for > than {} seconds (starttime)",
            starttime.as_secs_f64()
        ),
        Report::Exited {
            status, expected, ..
        } => {
            let msg = format!(
                "exited: {name} ({}; {})",
                describe_exit(status),
                if *expected { "expected" } else { "not expected" }
            );
            if *expected {
                info!("{msg}")
            } else {
                warn!("{msg}")
            }
        }
        Report::Backoff { attempt, delay, .. } => match policy.startretries {
            crate::config::INFINITE_RETRIES => info!(
                "backoff: {name} start failed, retry {attempt} (no limit) in {}s",
                delay.as_secs_f64()
            ),
            limit => info!(
                "backoff: {name} start failed, retry {attempt} of {limit} in {}s",
                delay.as_secs_f64()
            ),
        },
        Report::GaveUp { .. } => warn!("gave up: {name} entered FATAL state, too many start retries too quickly"),
        Report::Throttled {
            quick_deaths,
            delay,
        } => warn!(
            "{name}: restarting too often ({quick_deaths} exits in a row within {} s of their spawn): next restart in {} s, each later one waiting twice as long, up to {} s",
            crate::config::QUICK_DEATH.as_secs(),
            delay.as_secs_f64(),
            policy.restart_throttle.unwrap_or_default().max.as_secs_f64()
        ),
        Report::Unthrottled => info!(
            "{name}: stayed up {} s: restarts are immediate again",
            crate::config::QUICK_DEATH.as_secs()
        ),
        Report::StopRequested { signal } => match pid {
            Some(pid) => info!("stopping: {name} (pid {pid}) with {}", signal.as_str()),
            None => info!("stopping: {name} with {}", signal.as_str()),
        },
        Report::Stopped { status } => info!("stopped: {name} ({})", describe_exit(status)),
        Report::Killed => match pid {
            Some(pid) => warn!("killing '{name}' ({pid}) with SIGKILL"),
            None => warn!("killing '{name}' with SIGKILL"),
        },
    }
}

/// The lines of a crash loop that were counted instead of written, in one line.
pub fn lines_suppressed(name: &str, counted: &Suppressed) {
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
        warn!("{text}");
    } else {
        info!("{text}");
    }
}

pub fn start_requested(name: &str) {
    info!("start requested: {name}");
}

pub fn signal_failed(name: &str, sig: Signal, e: Errno) {
    warn!("could not send {} to {name}: {}", sig.as_str(), e.desc());
}

pub fn output_lost(name: &str, pid: i32, reason: &str) {
    warn!("{name} (pid {pid}): {reason}; killing it, since nothing could read its output");
}

/// The leader `pgid` of a group exited on its own and `members` of it live on.
pub fn group_outlived(name: &str, pgid: i32, members: usize, signal: Signal) {
    let processes = if members == 1 { "process" } else { "processes" };
    warn!(
        "{name}: {members} {processes} of its group outlived it (pid {pgid} exited): {} sent",
        signal.as_str()
    );
}

pub fn group_killed(name: &str, pgid: i32) {
    warn!("killing what is left of {name}'s process group {pgid} with SIGKILL (stoptime passed)");
}

pub fn watcher_failed(name: &str, pid: Option<i32>, what: &str) {
    match pid {
        Some(pid) => error!(
            "{name}: internal error in its watcher ({what}); killing its process {pid}; {name} stays FATAL until taskmaster restarts"
        ),
        None => error!(
            "{name}: internal error in its watcher ({what}); {name} stays FATAL until taskmaster restarts"
        ),
    }
}

/// A message of the daemon itself (a shutdown's progress) for notice subscribers.
pub fn daemon_notice(text: String) {
    notice(text);
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
