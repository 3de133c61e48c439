//! The `taskmaster:` section: daemon settings, event-log rotation, syslog and the
//! `notify` alerts — the part of the walk in `load.rs` that is not about programs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::check::{wrong, At};
use super::fields;
use super::load::{
    Walk, DAEMON_KEYS, DEFAULT_CONNECTION_IDLE_TIMEOUT, DEFAULT_DETACH_KEY, DEFAULT_TAIL_BUFFER,
};
use super::model::{DaemonSettings, Notify, Rotation, NOTIFY_EVENTS};
use super::resolve;
use super::tree::Node;

impl Walk<'_> {
    /// The `taskmaster:` section (absent or empty: all defaults).
    pub(super) fn daemon(&mut self, node: Option<&Node>, at: &At) -> Option<DaemonSettings> {
        let empty = Node::Map(Vec::new());
        let node = match node {
            None | Some(Node::Null) => &empty,
            Some(node @ Node::Map(entries)) => {
                self.checker
                    .unknown_keys(entries, at, DAEMON_KEYS, "taskmaster setting");
                node
            }
            Some(other) => {
                self.checker
                    .error(at, wrong(other, "a mapping of daemon settings"));
                return None;
            }
        };
        let (dir, home) = (self.dir, self.system.home.as_deref());
        let c = &mut self.checker;
        // The default is next to the config file, whose directory exists.
        let logfile = c.field(node, at, "logfile", dir.join("taskmaster.log"), |n| {
            let file = resolve::path(n, dir)?;
            resolve::writable_file(n, &file)?;
            Ok(file)
        });
        let socket = c.field(node, at, "socket", None, |n| match n {
            Node::Null => Ok(None),
            n => resolve::path(n, dir).map(Some),
        });
        let history = c.field(node, at, "history", None, |n| match n {
            Node::Null => Ok(None),
            n => resolve::history(n, dir, home).map(Some),
        });
        let detach_key = c.field(
            node,
            at,
            "detach_key",
            DEFAULT_DETACH_KEY,
            fields::detach_key,
        );
        let tail_buffer = c.field(node, at, "tail_buffer", DEFAULT_TAIL_BUFFER, |n| {
            fields::bounded(n, 1, fields::MAX_TAIL_BUFFER as i128)
        });
        let notify = self.notify(node.get("notify"), &at.key("notify"));
        let c = &mut self.checker;
        let syslog = c.field(node, at, "syslog", None, syslog);
        let log_maxbytes = c.field(node, at, "logfile_maxbytes", 0, fields::bytes);
        let log_backups = c.field(node, at, "logfile_backups", 0, |n| {
            fields::bounded(n, 0, fields::MAX_BACKUPS.into())
        });
        let max_connections = c.field(node, at, "max_connections", None, |n| {
            fields::integer::<u32>(n, 1).and_then(|max| match max {
                0..=MAX_CONNECTIONS => Ok(Some(max)),
                _ => Err(wrong(n, &format!("at most {MAX_CONNECTIONS}"))),
            })
        });
        let idle = c.field(
            node,
            at,
            "connection_idle_timeout",
            DEFAULT_CONNECTION_IDLE_TIMEOUT,
            positive_seconds,
        );
        let metrics = c.field(node, at, "metrics", None, super::metrics_setting::metrics);
        let http = c.field(node, at, "http", None, super::http::http);
        Some(DaemonSettings {
            metrics: metrics?,
            http: http?,
            max_connections: max_connections?,
            connection_idle_timeout: idle?,
            syslog: syslog?,
            notify: notify?,
            log_rotation: Rotation {
                maxbytes: log_maxbytes?,
                backups: log_backups?,
            },
            logfile: logfile?,
            socket: socket?,
            history: history?,
            detach_key: detach_key?,
            tail_buffer: tail_buffer?,
        })
    }

    /// `env`: names to scalar values (absent or empty: nothing added).
    /// `notify: {cmd, events, max_per_minute, timeout}`; `cmd` required.
    fn notify(&mut self, node: Option<&Node>, at: &At) -> Option<Option<Notify>> {
        const KEYS: &[&str] = &["cmd", "events", "max_per_minute", "timeout"];
        let entries = match node {
            None | Some(Node::Null) => return Some(None),
            Some(Node::Map(entries)) => entries,
            Some(other) => {
                self.checker.error(
                    at,
                    wrong(
                        other,
                        "a mapping with cmd, events, max_per_minute and timeout",
                    ),
                );
                return None;
            }
        };
        self.checker
            .unknown_keys(entries, at, KEYS, "notify setting");
        let map = node?;
        let c = &mut self.checker;
        let Some(cmd_node) = map.get("cmd") else {
            c.error(at, "missing `cmd`: the command to run for each event");
            return None;
        };
        let argv = c
            .take(&at.key("cmd"), fields::command(cmd_node))
            .map(|(_, argv)| argv);
        let max = c.field(map, at, "max_per_minute", 6, |n| fields::integer(n, 1));
        let timeout = c.field(map, at, "timeout", DEFAULT_NOTIFY_TIMEOUT, positive_seconds);
        let default_events: BTreeSet<String> = [
            "fatal",
            "unexpected_exit",
            "memory_restart",
            "reload_failed",
            "unhealthy",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let events = match map.get("events") {
            None => Some(default_events),
            Some(Node::Seq(items)) => {
                let mut events = Some(BTreeSet::new());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Node::Str(name) if NOTIFY_EVENTS.contains(&name.as_str()) => {
                            if let Some(e) = events.as_mut() {
                                e.insert(name.clone());
                            }
                        }
                        other => {
                            let expected = format!("one of: {}", NOTIFY_EVENTS.join(", "));
                            c.error(&at.key("events").index(i), wrong(other, &expected));
                            events = None;
                        }
                    }
                }
                events
            }
            Some(other) => {
                c.error(&at.key("events"), wrong(other, "a list of event names"));
                None
            }
        };
        if entries.iter().any(|(k, _)| !KEYS.contains(&k.as_str())) {
            return None;
        }
        Some(Some(Notify {
            argv: argv?,
            events: events?,
            max_per_minute: max?,
            timeout: timeout?,
            workingdir: self.dir.to_path_buf(),
        }))
    }
}

/// How long an alert command may run by default before its group is killed.
const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest `max_connections`: each connection holds a thread and descriptors.
const MAX_CONNECTIONS: u32 = 65536;

/// A number of seconds > 0 (fractions allowed): a timeout of 0 would end
/// everything at once.
fn positive_seconds(node: &Node) -> Result<Duration, String> {
    match fields::seconds(node)? {
        d if d.is_zero() => Err(wrong(node, "a number of seconds > 0 (fractions allowed)")),
        d => Ok(d),
    }
}

/// `syslog`: `true` (the local socket, /dev/log), `false`/null (none), or the
/// absolute path of a socket. Anything else is an error rather than a relative
/// path: `syslog: yes` means "on" to whoever wrote it, not a socket named `yes`.
fn syslog(node: &Node) -> Result<Option<PathBuf>, String> {
    const EXPECTED: &str = "true, false, or the absolute path of a syslog socket (like /dev/log)";
    match (fields::truth(node), node) {
        (Some(false), _) | (None, Node::Null) => Ok(None),
        (Some(true), _) => Ok(Some(PathBuf::from("/dev/log"))),
        (None, Node::Str(s)) if s.starts_with('/') && !s.contains('\0') => {
            Ok(Some(resolve::resolve(Path::new("/"), s)))
        }
        _ => Err(wrong(node, EXPECTED)),
    }
}
