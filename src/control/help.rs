//! The command table — name, usage, help text — which `help`, `taskmasterctl
//! --help` and the shells' completion all read: one list.

use super::Reply;

/// The commands: name, usage, help text, in the order `help` lists them.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "status",
        "status [-l] [NAME...] [--json]",
        "Show the state of every instance, or of the named ones; -l: taskmaster's own\n  \
         lines first (pid, uptime, control connections, alert commands).\n  \
         Exits as supervisorctl (LSB status codes): 0 every one running (or starting,\n  \
         backing off, stopping), 3 some STOPPED, EXITED or FATAL, 4 an unknown name or\n  \
         no daemon to ask.",
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
        "maintail",
        "maintail [-f] [-N]",
        "Show the last N bytes (default 1600) of taskmaster's event log, from the start\n  \
         of a line; -f then follows it until Ctrl-C.",
    ),
    (
        "events",
        "events [--json]",
        "Stream every event as it happens (spawns, state changes, exits, reaps,\n  \
         reloads...), one per line, until Ctrl-C; --json: one JSON object per line\n  \
         (time in UTC, kind, instance, pid, ...). A client that reads too slowly\n  \
         loses events and is told how many.",
    ),
    (
        "clear",
        "clear NAME...",
        "Empty the output of instances (NAME, NAME:K, NAME:*, all): what tail shows, and\n  \
         their stdout/stderr files, truncated.",
    ),
    (
        "reread",
        "reread",
        "Show what the configuration file would change, changing nothing: NAME: available\n  \
         (added), NAME: changed (and what taskmaster would do), NAME: disappeared.",
    ),
    (
        "update",
        "update [NAME...]",
        "Apply the configuration file, as reload does, replying in supervisorctl's words;\n  \
         with names, only those programs' part of it (added, changed or removed).",
    ),
    (
        "avail",
        "avail",
        "List every instance the configuration file defines: in use or avail, auto or\n  \
         manual start, priority.",
    ),
    (
        "add",
        "add NAME...",
        "Start using programs of the configuration file not in use yet (started if\n  \
         autostart); nothing else changes.",
    ),
    (
        "remove",
        "remove NAME...",
        "Stop using programs whose instances are all stopped (a running one is refused:\n  \
         stop it first); nothing else changes.",
    ),
    (
        "reload",
        "reload",
        "Re-read the configuration file and apply the changes (same as SIGHUP, and as\n  \
         update). Unlike supervisorctl's reload, which restarts the daemon and every\n  \
         program, this one changes only what must change: a program whose command\n  \
         changed restarts, one whose policy changed keeps its process, the others are\n  \
         untouched.",
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
        "upgrade",
        "upgrade [PATH]",
        "Re-execute taskmaster in place (its own binary, or the one at PATH, e.g. a
           newer build): every process keeps running with its pid, output, state and
           restart count. Answered by the new daemon; on failure the daemon goes on
           unchanged and says why. SIGUSR2 does the same.",
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
    (
        "top",
        "top",
        "A live full-screen view of every instance, refreshed each second: state, pid,\n  \
         uptime, CPU, memory, restarts, health and the last line of output, with totals\n  \
         and taskmaster's own CPU and memory. Keys: c cpu, m memory, n name, r restarts,\n  \
         s state (sorting); arrows, PgUp, PgDn, Home, End (scrolling); q or Ctrl-C quits.\n  \
         Without a terminal it prints one snapshot, sorted by name.",
    ),
    (
        "web-url",
        "web-url",
        "Show the web dashboard's address with its access token (taskmaster.http):\n  \
         open it in a browser; the token stays in a cookie.",
    ),
    ("version", "version", "Show taskmaster's version."),
    (
        "help",
        "help [COMMAND]",
        "List the commands, or explain one.",
    ),
];

/// `help`: every command; `help COMMAND`: its usage and text.
pub fn help(args: &[String]) -> Reply {
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
