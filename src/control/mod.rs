//! The command layer: parse → act → reply, one implementation per command, shared
//! by every transport (the daemon's stdin or shell, and the socket server).
//!
//! A command never panics and never changes anything when its input is malformed:
//! it answers with a message and an exit code (README: Command line: 0 ok, 1 error, 2 usage).

pub mod attach;
#[cfg(test)]
mod boundaries_tests;
mod clear;
pub mod client;
mod configured;
mod connection;
pub mod connections;
pub mod continuation;
pub mod daemon_status;
pub mod events;
mod help;
pub mod live_streams;
mod maintail;
mod merged;
mod process;
pub mod protocol;
pub mod server;
pub mod socket;
mod source;
mod status;
mod status_adopted;
mod status_json;
mod tail;
pub mod top;

use std::collections::HashSet;
use std::sync::Arc;

use log::info;

use crate::supervisor::Supervisor;
use crate::watch::Instance;

pub use continuation::{finish, ConfigChange, Continuation, Next, Transport};
pub use help::COMMANDS;
pub use source::Source;
pub use status::describe;
pub use tail::{Follow, FollowCancel, FollowEnd, TailFollow};

/// What a command answers. `output` is the text a shell prints.
#[derive(Clone)]
pub struct Reply {
    pub output: String,
    pub exit: i32,
    /// Structured result (`status --json`, `attach`), as the JSON text it goes
    /// out as (`protocol::Response`).
    pub data: Option<Box<serde_json::value::RawValue>>,
    /// What the transport does after giving the reply ([`continuation::finish`]).
    pub then: Continuation,
}

impl Reply {
    pub fn ok(output: impl Into<String>) -> Reply {
        Reply {
            output: output.into(),
            exit: 0,
            data: None,
            then: Continuation::Done,
        }
    }

    /// A successful reply that asks `then` of the transport.
    pub fn then(output: impl Into<String>, then: Continuation) -> Reply {
        Reply {
            then,
            ..Reply::ok(output)
        }
    }

    pub fn error(output: impl Into<String>) -> Reply {
        Reply {
            exit: 1,
            ..Reply::ok(output)
        }
    }

    pub fn usage(output: impl Into<String>) -> Reply {
        Reply {
            exit: 2,
            ..Reply::ok(output)
        }
    }
}

/// What only the daemon can do for a transport: begin the shutdown, and reload.
pub struct Hooks {
    /// Who asked, and by what (`shutdown`, `quit`, end of input).
    pub shutdown: Box<dyn Fn(Source, &'static str) + Send + Sync>,
    /// Applies the configuration file again (all of it, or some programs' part)
    /// and replies with what changed.
    pub reload: Box<dyn Fn(&ConfigChange) -> Reply + Send + Sync>,
    /// Reopens the event log at its configured path (after logrotate moved it, or
    /// its directory was recreated) and replies with the outcome.
    pub reopen: Box<dyn Fn() -> Reply + Send + Sync>,
    /// `shutdown` requests over the socket, answered when the shutdown finished.
    pub shutdown_waiters: Arc<server::ShutdownWaiters>,
    /// Where the control socket is now (the daemon's own shell attaches through it).
    pub socket_path: Box<dyn Fn() -> std::path::PathBuf + Send + Sync>,
    /// Sends the event notices to `sink` from now on (the hub's notice subscribers).
    pub subscribe_notices: Box<dyn Fn(std::sync::mpsc::SyncSender<String>) + Send + Sync>,
    /// Every event of the hub from now on, until the feed is dropped (`events`).
    pub follow_events: Box<dyn Fn() -> crate::event_stream::EventFeed + Send + Sync>,
    /// Sends each event log line written from now on to `sink` (`maintail -f`).
    pub follow_log: Box<dyn Fn(std::sync::mpsc::SyncSender<String>) + Send + Sync>,
    /// The control socket's connection counts, kept across a server moved by
    /// reload; shown by `status -l`.
    pub connections: Arc<connections::Connections>,
    /// `web-url`'s reply: the web dashboard's address with its access token, or
    /// why there is none.
    pub web_url: Box<dyn Fn() -> Reply + Send + Sync>,
    /// The streams open on the socket (and the dashboard's attach sessions),
    /// which an upgrade in place ends with a last line.
    pub live_streams: Arc<live_streams::LiveStreams>,
    /// Upgrades in place to the binary given (default: the daemon's own); returns
    /// only when that did not happen, saying why. The connection given, if any,
    /// is answered by the new process.
    pub upgrade: Box<UpgradeHook>,
}

/// Upgrades in place to the binary given (or the daemon's own), answering on the
/// connection given; returns only the reply of an upgrade that did not happen.
pub type UpgradeHook = dyn Fn(Option<std::path::PathBuf>, Option<std::os::fd::OwnedFd>, &Source) -> Reply
    + Send
    + Sync;

/// Runs one command line (split like a shell splits words), asked by `source`.
pub fn execute(
    sup: &Arc<Supervisor>,
    connections: &connections::Connections,
    line: &str,
    source: &Source,
) -> Reply {
    let Some(words) = shlex::split(line) else {
        return Reply::usage("*** Unbalanced quotes in command line");
    };
    match words.split_first() {
        Some((cmd, args)) => execute_words(sup, connections, cmd, args, source),
        None => Reply::ok(""),
    }
}

/// Runs one command already split into words (the socket protocol's form).
pub fn execute_words(
    sup: &Arc<Supervisor>,
    connections: &connections::Connections,
    cmd: &str,
    args: &[String],
    source: &Source,
) -> Reply {
    log_request(cmd, args, source);
    match cmd {
        "status" => status::status(sup, connections, args),
        "start" => process::start(sup, args),
        "stop" => process::stop(sup, args),
        "restart" => process::restart(sup, args),
        "signal" => process::signal(sup, args, source),
        "pid" => process::pid(sup, args),
        "tail" => tail::tail(sup, args),
        "attach" | "fg" => attach::attach(sup, args),
        "reload" => no_args(cmd, args)
            .unwrap_or_else(|| Reply::then("", Continuation::Reload(ConfigChange::Reload))),
        "update" => names_only(cmd, args).unwrap_or_else(|| {
            Reply::then(
                "",
                Continuation::Reload(ConfigChange::Update(args.to_vec())),
            )
        }),
        "add" | "remove" => some_names(cmd, args).unwrap_or_else(|| {
            let change = match cmd {
                "add" => ConfigChange::Add(args.to_vec()),
                _ => ConfigChange::Remove(args.to_vec()),
            };
            Reply::then("", Continuation::Reload(change))
        }),
        "reread" => no_args(cmd, args).unwrap_or_else(|| configured::reread(sup)),
        "avail" => no_args(cmd, args).unwrap_or_else(|| configured::avail(sup)),
        "clear" => clear::clear(sup, args),
        "maintail" => maintail::maintail(sup, args),
        "reopen" => no_args(cmd, args).unwrap_or_else(|| Reply::then("", Continuation::Reopen)),
        "shutdown" | "quit" | "exit" => {
            no_args(cmd, args).unwrap_or_else(|| Reply::then("Shut down", Continuation::Shutdown))
        }
        "upgrade" => match args {
            [] => Reply::then("", Continuation::Upgrade(None)),
            [path] if !path.is_empty() && !path.starts_with('-') => {
                Reply::then("", Continuation::Upgrade(Some(path.into())))
            }
            _ => Reply::usage("Error: upgrade takes at most one argument, a binary's path"),
        },
        "version" => no_args(cmd, args).unwrap_or_else(|| Reply::ok(env!("CARGO_PKG_VERSION"))),
        "events" => events::events(args),
        "notices" => no_args(cmd, args).unwrap_or_else(|| Reply::then("", Continuation::Notices)),
        "top" => top::top(sup, args),
        "web-url" => no_args(cmd, args).unwrap_or_else(|| Reply::then("", Continuation::WebUrl)),
        "help" => help::help(args),
        _ => {
            let line = std::iter::once(cmd.to_string())
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ");
            Reply::usage(format!("*** Unknown syntax: {line}"))
        }
    }
}

/// The event log's line for a request that changes something, saying who asked:
/// `stop requested by taskmasterctl (uid 0, pid 1234): web db`. Each instance's
/// own events follow from its watcher; `signal` logs each signal it sends.
fn log_request(cmd: &str, args: &[String], source: &Source) {
    match cmd {
        "start" | "stop" | "restart" if !args.is_empty() => {
            info!("{cmd} requested by {source}: {}", args.join(" "))
        }
        "reload" if args.is_empty() => info!("reload requested by {source}"),
        "update" if args.is_empty() => info!("update requested by {source}"),
        "update" | "add" | "remove" | "clear" if !args.is_empty() => {
            info!("{cmd} requested by {source}: {}", args.join(" "))
        }
        "reopen" if args.is_empty() => info!("reopen of the event log requested by {source}"),
        "upgrade" => info!("upgrade requested by {source}"),
        _ => {}
    }
}

fn no_args(cmd: &str, args: &[String]) -> Option<Reply> {
    (!args.is_empty()).then(|| Reply::usage(format!("Error: {cmd} accepts no arguments")))
}

/// Names only, no option: a usage error otherwise.
fn names_only(cmd: &str, args: &[String]) -> Option<Reply> {
    let bad = args.iter().find(|a| a.starts_with('-') || a.is_empty())?;
    Some(Reply::usage(format!(
        "Error: {cmd} takes program names, not {bad:?}"
    )))
}

/// At least one name, and names only.
fn some_names(cmd: &str, args: &[String]) -> Option<Reply> {
    match args.is_empty() {
        true => Some(Reply::usage(format!(
            "Error: {cmd} requires a program name ({cmd} NAME...)"
        ))),
        false => names_only(cmd, args),
    }
}

/// `NAME: ERROR (no such process)`, the reply line for an unknown name; for an
/// unknown group address (`NAME:`, `NAME:*`) `NAME: ERROR (no such group)`, as
/// supervisorctl says.
fn no_such_process(name: &str) -> String {
    match name.strip_suffix(":*").or_else(|| name.strip_suffix(':')) {
        Some(group) => format!("{group}: ERROR (no such group)"),
        None => format!("{name}: ERROR (no such process)"),
    }
}

/// Resolves names; unknown ones become error lines.
fn resolve(
    sup: &Arc<Supervisor>,
    names: &[String],
    errors: &mut Vec<String>,
) -> Vec<Arc<Instance>> {
    sup.resolve(names)
        .into_iter()
        .filter_map(|r| r.map_err(|name| errors.push(no_such_process(&name))).ok())
        .collect()
}

/// Whether `name`, which matched `matched` instances, addresses a group: `all`,
/// `NAME:`, `NAME:*`, or a program of several instances. An instance reached through
/// a group that has nothing to do (`stop all` and it is already stopped) is simply
/// left out of the reply; one named on its own says why it did nothing.
fn is_group_address(name: &str, matched: usize) -> bool {
    name == "all" || name.ends_with(':') || name.ends_with(":*") || matched > 1
}

/// The names of the instances that `names` address on their own, not only as part
/// of a group (see [`is_group_address`]).
fn named_singly(sup: &Arc<Supervisor>, names: &[String]) -> HashSet<String> {
    let mut singly = HashSet::new();
    for name in names {
        let found: Vec<Arc<Instance>> = (sup.resolve(std::slice::from_ref(name)).into_iter())
            .filter_map(Result::ok)
            .collect();
        if !is_group_address(name, found.len()) {
            singly.extend(found.iter().map(|i| i.name()));
        }
    }
    singly
}
