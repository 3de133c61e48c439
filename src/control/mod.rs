//! The command layer: parse → act → reply, one implementation per command, shared
//! by every transport (the daemon's stdin or shell, and the socket server).
//!
//! A command never panics and never changes anything when its input is malformed:
//! it answers with a message and an exit code (README: Command line: 0 ok, 1 error, 2 usage).

pub mod attach;
#[cfg(test)]
mod boundaries_tests;
pub mod client;
mod connection;
pub mod connections;
pub mod continuation;
pub mod daemon_status;
mod merged;
mod process;
pub mod protocol;
pub mod server;
pub mod socket;
mod source;
mod status;
mod tail;

use std::collections::HashSet;
use std::sync::Arc;

use log::info;

use crate::supervisor::Supervisor;
use crate::watch::Instance;

pub use continuation::{finish, Continuation, Next, Transport};
pub use source::Source;
pub use status::describe;
pub use tail::{Follow, FollowEnd, TailFollow};

/// What a command answers. `output` is the text a shell prints.
#[derive(Clone)]
pub struct Reply {
    pub output: String,
    pub exit: i32,
    /// Structured result (`status --json`, `attach`).
    pub data: Option<serde_json::Value>,
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
    /// Applies the configuration file again and replies with what changed.
    pub reload: Box<dyn Fn() -> Reply + Send + Sync>,
    /// Reopens the event log at its configured path (after logrotate moved it, or
    /// its directory was recreated) and replies with the outcome.
    pub reopen: Box<dyn Fn() -> Reply + Send + Sync>,
    /// `shutdown` requests over the socket, answered when the shutdown finished.
    pub shutdown_waiters: Arc<server::ShutdownWaiters>,
    /// Where the control socket is now (the daemon's own shell attaches through it).
    pub socket_path: Box<dyn Fn() -> std::path::PathBuf + Send + Sync>,
    /// Sends the event notices to `sink` from now on (the hub's notice subscribers).
    pub subscribe_notices: Box<dyn Fn(std::sync::mpsc::Sender<String>) + Send + Sync>,
    /// The control socket's connection counts, kept across a server moved by
    /// reload; shown by `status -l`.
    pub connections: Arc<connections::Connections>,
}

/// The commands: name, usage, help text, in the order `help` lists them.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "status",
        "status [-l] [NAME...] [--json]",
        "Show the state of every instance, or of the named ones; -l: taskmaster's own\n  \
         lines first (pid, uptime, control connections, alert commands).",
    ),
    (
        "start",
        "start NAME...",
        "Start instances (NAME, NAME:K or all); waits until RUNNING or failed.",
    ),
    (
        "stop",
        "stop NAME...",
        "Stop instances; waits until they are stopped.",
    ),
    ("restart", "restart NAME...", "Stop, then start instances."),
    (
        "signal",
        "signal SIG NAME...",
        "Send a signal (TERM, USR1, HUP, 9...) to the process group of instances.",
    ),
    (
        "pid",
        "pid [NAME...]",
        "Show taskmaster's pid, or the pids of instances (0 when not running).",
    ),
    (
        "tail",
        "tail [-f] [-n N] [NAME] [stdout|stderr]",
        "Show the last N lines (default 20) of an instance's output; -f follows until Ctrl-C. NAME:*, a program of several instances, or no NAME (every program): each line prefixed with its instance.",
    ),
    (
        "attach",
        "attach NAME",
        "Connect this terminal to one running instance (NAME or NAME:K).\n  \
         The detach key (taskmaster.detach_key, default Ctrl-\\) returns to the prompt;\n  \
         the program keeps running.\n  \
         pty: true: the terminal goes raw, every key goes to the program (Ctrl-C too), and\n  \
         the program sees your window size.\n  \
         pty: false (pipes): stdout and stderr are shown live; you type lines (echo and\n  \
         backspace are local) that go to the program's stdin when you press Enter.\n  \
         There Ctrl-C clears the line and interrupts the program (SIGINT to its process\n  \
         group). The program holds its stdin open itself and never reads end of input:\n  \
         Ctrl-D on an empty line says so (use pty: true for a program that must).",
    ),
    ("fg", "fg NAME", "Same as attach."),
    (
        "reload",
        "reload",
        "Re-read the configuration file and apply the changes (same as SIGHUP).",
    ),
    (
        "reopen",
        "reopen",
        "Reopen the event log at its path, after logrotate moved it (same as SIGUSR1).",
    ),
    (
        "shutdown",
        "shutdown",
        "Stop every instance, then exit taskmaster.",
    ),
    (
        "quit",
        "quit [-y]",
        "In the daemon's own shell: shutdown, asked first while processes run (-y: no\n  \
         question; Ctrl-D is quit too). In taskmasterctl: leave the client.",
    ),
    ("exit", "exit [-y]", "Same as quit."),
    (
        "notices",
        "notices [on|off]",
        "Event notices: FATAL, unexpected exits, spawn errors, failed SIGHUP reloads.\n  \
         Over the socket they are streamed one per line, each with its time; the shells\n  \
         show them above the prompt. In a shell, notices off mutes them, notices on\n  \
         shows them again.",
    ),
    ("version", "version", "Show taskmaster's version."),
    (
        "help",
        "help [COMMAND]",
        "List the commands, or explain one.",
    ),
];

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
        "reload" => no_args(cmd, args).unwrap_or_else(|| Reply::then("", Continuation::Reload)),
        "reopen" => no_args(cmd, args).unwrap_or_else(|| Reply::then("", Continuation::Reopen)),
        "shutdown" | "quit" | "exit" => {
            no_args(cmd, args).unwrap_or_else(|| Reply::then("Shut down", Continuation::Shutdown))
        }
        "version" => no_args(cmd, args).unwrap_or_else(|| Reply::ok(env!("CARGO_PKG_VERSION"))),
        "notices" => no_args(cmd, args).unwrap_or_else(|| Reply::then("", Continuation::Notices)),
        "help" => help(args),
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
        "reopen" if args.is_empty() => info!("reopen of the event log requested by {source}"),
        _ => {}
    }
}

fn no_args(cmd: &str, args: &[String]) -> Option<Reply> {
    (!args.is_empty()).then(|| Reply::usage(format!("Error: {cmd} accepts no arguments")))
}

fn help(args: &[String]) -> Reply {
    match args {
        [] => {
            let mut out = String::from("Commands (type help <command> for details):\n");
            let names: Vec<&str> = COMMANDS.iter().map(|(n, _, _)| *n).collect();
            out.push_str(&names.join(" "));
            Reply::ok(out)
        }
        [name] => match COMMANDS.iter().find(|(n, _, _)| n == name) {
            Some((_, usage, text)) => Reply::ok(format!("{usage}\n  {text}")),
            None => Reply::usage(format!("*** No help on {name}")),
        },
        _ => Reply::usage("Error: help takes at most one command name"),
    }
}

/// `NAME: ERROR (no such process)`, the reply line for an unknown name.
fn no_such_process(name: &str) -> String {
    format!("{name}: ERROR (no such process)")
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
