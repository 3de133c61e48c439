//! The options of a `[program:x]`: which supervisor knows, which taskmaster
//! applies, and how each is named in messages.

use std::path::Path;

use super::reader::Entry;
use super::{values, Findings, NOT_SUPPORTED};
use crate::config::suggest::suggest;

/// Every option of a `[program:x]` supervisor knows.
pub(crate) const OPTIONS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "autorestart",
    "startsecs",
    "startretries",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
];

/// An option supervisor knows but taskmaster does not apply: an error or a warning.
pub(crate) fn check_option(entry: &Entry, name: &str, file: &Path, findings: &mut Findings) {
    let at = format!("[program:{name}] {}", entry.key);
    let off = |v: &str| values::boolean(v) == Ok(false);
    let zero = |v: &str| values::byte_size(v) == Ok(0);
    match entry.key.as_str() {
        "stdout_syslog" | "stderr_syslog" if !off(&entry.value) => findings.error(
            file,
            entry.line,
            &at,
            format!("{NOT_SUPPORTED}: the output would not reach syslog (use stdout_logfile, or a logger command)"),
        ),
        "stdout_events_enabled" | "stderr_events_enabled" if !off(&entry.value) => findings.warn(
            file,
            entry.line,
            &at,
            format!("{NOT_SUPPORTED} (ignored: there are no event listeners)"),
        ),
        "stdout_capture_maxbytes" | "stderr_capture_maxbytes" if !zero(&entry.value) => findings.warn(
            file,
            entry.line,
            &at,
            format!("{NOT_SUPPORTED} (ignored: capture mode only feeds event listeners)"),
        ),
        "stopasgroup" | "killasgroup" if off(&entry.value) => findings.warn(
            file,
            entry.line,
            &at,
            "taskmaster always signals the program's whole process group (accepted as true)",
        ),
        key if !OPTIONS.contains(&key) => {
            let message = match suggest(key, OPTIONS) {
                Some(near) => format!("unknown option `{key}`: did you mean `{near}`?"),
                None => format!("unknown option `{key}` in a [program:x] section"),
            };
            findings.error(file, entry.line, &at, message);
        }
        _ => {}
    }
}

/// The INI option a taskmaster field comes from, to name it in messages.
pub(crate) fn ini_option(key: &str) -> String {
    let option = match key {
        "cmd" => "command",
        "starttime" => "startsecs",
        "stoptime" => "stopwaitsecs",
        "workingdir" => "directory",
        "env" => "environment",
        "stdout" => "stdout_logfile",
        "stderr" => "stderr_logfile",
        other => {
            return match other.split_once('_') {
                Some((stream, rest)) if rest == "maxbytes" || rest == "backups" => {
                    format!("{stream}_logfile_{rest}")
                }
                _ => other.to_string(),
            }
        }
    };
    option.to_string()
}
