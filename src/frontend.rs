//! The daemon's own terminal: the interactive shell when stdin is a terminal,
//! line-by-line command mode when it is a pipe or a file (README: Command line). Both call the
//! command layer directly; end of input means `shutdown`, except on a terminal
//! that hung up (`headless`): the daemon then goes on without it.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use crate::control::attach::AttachTarget;
use crate::control::client::{complain, say, write_out, Client};
use crate::control::continuation::{ShutdownAnswer, Sink, StreamMode};
use crate::control::{self, Continuation, Hooks, Next, Reply, Source, Transport};
use crate::headless::Headless;
use crate::shell::{self, Backend};
use crate::supervisor::Supervisor;
use crate::terminal::attach::attach_and_report;
use crate::terminal::until_ctrl_c;

/// `quit -y` is `shutdown`: quit without the question the shell asks while
/// processes run.
fn without_question(line: &str) -> &str {
    match shlex::split(line).as_deref() {
        Some([cmd, yes]) if (cmd == "quit" || cmd == "exit") && yes == "-y" => "shutdown",
        _ => line,
    }
}

/// Runs one line and finishes what the reply asks of the transport.
fn run_line(sup: &Arc<Supervisor>, hooks: &Hooks, line: &str, terminal: bool) -> Next {
    let source = if terminal {
        Source::Shell
    } else {
        Source::Stdin
    };
    let reply = control::execute(sup, &hooks.connections, without_question(line), &source);
    finish(hooks, reply, line, source, terminal)
}

/// Prints a reply and does what it asks of the transport.
fn finish(hooks: &Hooks, reply: Reply, line: &str, source: Source, terminal: bool) -> Next {
    let mut transport = StdinTransport {
        source,
        line,
        terminal,
    };
    control::finish(hooks, reply, &mut transport)
}

/// The daemon's stdin (a terminal or not) as a transport: replies are printed,
/// a stream (`tail -f`, `maintail -f`, `events`: only on a terminal) is copied
/// to stdout until Ctrl-C, and notices are shown by the shell itself, above its
/// prompt.
struct StdinTransport<'a> {
    source: Source,
    /// The line as typed (`quit -y` before it became `shutdown`).
    line: &'a str,
    terminal: bool,
}

impl Transport for StdinTransport<'_> {
    fn source(&self) -> &Source {
        &self.source
    }

    fn answer(&mut self, reply: &Reply) -> bool {
        if !reply.output.is_empty() {
            say(&reply.output);
        }
        let _ = std::io::stdout().flush();
        true
    }

    fn shutdown_answer(&mut self) -> ShutdownAnswer {
        ShutdownAnswer::Now
    }

    fn shutdown_cause(&self) -> &'static str {
        match self.line.split_whitespace().next() {
            Some("shutdown") | None => "shutdown",
            Some(_) => "quit",
        }
    }

    fn stream_mode(&self, then: &Continuation) -> StreamMode {
        match then {
            Continuation::Follow(_) if self.terminal => StreamMode::Run,
            Continuation::Follow(_) => StreamMode::Declined(Some(
                "tail -f: following needs a terminal or taskmasterctl; showed the last lines only",
            )),
            Continuation::FollowLog if self.terminal => StreamMode::Run,
            Continuation::FollowLog => StreamMode::Declined(Some(
                "maintail -f: following needs a terminal or taskmasterctl; showed the last bytes only",
            )),
            Continuation::Events(_) if self.terminal => StreamMode::Run,
            Continuation::Events(_) => StreamMode::Declined(Some(
                "events: following needs a terminal or taskmasterctl; nothing shown",
            )),
            Continuation::Notices => StreamMode::Declined(Some(
                "notices are shown above this shell's prompt as they happen",
            )),
            // The shell attaches through the socket (`attach_through_socket`).
            _ => StreamMode::Declined(None),
        }
    }

    fn stream(&mut self, cancel: Box<dyn FnOnce() + Send>, copy: &mut dyn FnMut(Sink)) -> Next {
        let mut out = write_out;
        until_ctrl_c(cancel, || copy(&mut out));
        say("");
        Next::Continue
    }

    fn attach(&mut self, _target: AttachTarget) -> Next {
        Next::Continue
    }
}

/// Where a command run in a thread of its own answers: its reply, or `None` when
/// Ctrl-C gave the prompt back first.
type ReplyChannel = (Sender<Option<Reply>>, Receiver<Option<Reply>>);

struct DirectBackend<'a> {
    sup: &'a Arc<Supervisor>,
    hooks: &'a Hooks,
    /// Set by [`Backend::interrupter`]: the next command runs in a thread of its
    /// own and its reply, or `None` for Ctrl-C, arrives here.
    waiting: Option<ReplyChannel>,
    /// The shell's notices, held while an attach session owns the terminal.
    hold: shell::NoticeHold,
    headless: &'a Headless,
}

impl DirectBackend<'_> {
    /// Runs `line` in a thread of its own and waits for its reply or for Ctrl-C,
    /// which gives the prompt back while the command goes on (a stop is never
    /// abandoned half-way: the watchers finish it whoever waits).
    fn run_interruptible(&mut self, line: &str, (tx, rx): ReplyChannel) -> bool {
        let (sup, owned) = (self.sup.clone(), without_question(line).to_string());
        let connections = self.hooks.connections.clone();
        let ran = crate::daemon::spawn_thread("command", move || {
            let _ = tx.send(Some(control::execute(
                &sup,
                &connections,
                &owned,
                &Source::Shell,
            )));
        });
        if ran.is_err() {
            return run_line(self.sup, self.hooks, line, true) == Next::Continue;
        }
        match rx.recv() {
            Ok(Some(reply)) => {
                finish(self.hooks, reply, line, Source::Shell, true) == Next::Continue
            }
            _ => {
                say(&interrupted_message(line));
                true
            }
        }
    }
}

impl DirectBackend<'_> {
    /// `top` on the daemon's terminal: the live view, fed in-process by the same
    /// command as over the socket, on this (the shell's) thread; notices are
    /// held meanwhile. It ends at its next refresh once the shutdown has begun
    /// (the main thread has given the terminal back already: `daemon.rs`).
    fn top(&mut self) {
        let (sup, connections) = (self.sup, &self.hooks.connections);
        let mut fetch = || {
            if sup.is_shutting_down() {
                return Err("taskmaster is shutting down".to_string());
            }
            let reply = control::execute_words(sup, connections, "top", &[], &Source::Shell);
            crate::top::decode(reply.exit, &reply.output, reply.data.as_deref())
        };
        if let Err(e) = self.hold.holding(|| crate::top::run(&mut fetch)) {
            say(&format!("top: {e}"));
        }
    }
}

/// What the shell says when Ctrl-C gave the prompt back during `line`.
pub fn interrupted_message(line: &str) -> String {
    let cmd = line.split_whitespace().next().unwrap_or("command");
    format!("Interrupted: taskmaster goes on with the {cmd}; `status` shows where it is.")
}

impl Backend for DirectBackend<'_> {
    fn run(&mut self, line: &str) -> bool {
        let words = shlex::split(line).unwrap_or_default();
        if let [cmd, args @ ..] = words.as_slice() {
            if cmd == "attach" || cmd == "fg" {
                attach_through_socket(&(self.hooks.socket_path)(), cmd, args, &self.hold);
                return true;
            }
            if cmd == "top" && args.is_empty() && crate::top::usable_terminal() {
                self.top();
                return true;
            }
        }
        if let Some(waiting) = self.waiting.take() {
            return self.run_interruptible(line, waiting);
        }
        run_line(self.sup, self.hooks, line, true) == Next::Continue
    }

    fn terminal_lost(&mut self) -> bool {
        lost_terminal(self.hooks, self.headless)
    }

    fn interrupter(&mut self) -> Option<Box<dyn FnOnce() + Send>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let cancel = tx.clone();
        self.waiting = Some((tx, rx));
        Some(Box::new(move || {
            let _ = cancel.send(None);
        }))
    }

    fn end_of_input(&mut self) {
        say("quit");
        (self.hooks.shutdown)(Source::Shell, "end of input, Ctrl-D");
    }

    fn confirm_leaving(&mut self) -> Option<String> {
        let running = self
            .sup
            .instances()
            .iter()
            .filter(|i| i.status().pid.is_some())
            .count();
        (running > 0).then(|| {
            format!(
                "{running} process{} running; quitting stops {} and exits taskmaster. Quit?",
                if running == 1 { " is" } else { "es are" },
                if running == 1 { "it" } else { "them all" }
            )
        })
    }
}

/// The daemon's shell attaches through its own control socket, so that attach has
/// one implementation whichever terminal it is run from.
fn attach_through_socket(
    socket: &std::path::Path,
    cmd: &str,
    args: &[String],
    hold: &shell::NoticeHold,
) {
    let mut client = match Client::connect(socket) {
        Ok(c) => c,
        Err(e) => return say(&format!("attach: {e}")),
    };
    match client.request(cmd, args) {
        Ok(reply) if reply.stream => hold.holding(|| attach_and_report(client, &reply, false)),
        Ok(reply) => say(&reply.output),
        Err(e) => say(&format!("attach: {e}")),
    }
}

/// True (and the daemon now headless) when the terminal the daemon had is gone:
/// its end of input is then no shutdown.
fn lost_terminal(hooks: &Hooks, headless: &Headless) -> bool {
    if !headless.terminal_lost() {
        return false;
    }
    headless.go_headless(&(hooks.socket_path)(), "end of input on it");
    true
}

/// Whether the daemon's stdin gets the interactive shell.
pub fn stdin_is_terminal() -> bool {
    nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
}

/// Starts collecting notices for the shell; called before anything is started so
/// that a program failing at once is not missed.
pub fn collect_notices(hub: &crate::hub::Hub) -> shell::NoticeChannel {
    let channel = shell::NoticeChannel::new();
    hub.subscribe_notices(channel.tx.clone());
    channel
}

/// Serves the daemon's stdin until `shutdown`/`quit` or end of input. `notices`
/// (from [`collect_notices`]) are shown by the interactive shell.
pub fn serve_stdin(
    sup: &Arc<Supervisor>,
    hooks: &Hooks,
    headless: &Headless,
    history: Option<PathBuf>,
    notices: Option<shell::NoticeChannel>,
) {
    if let Some(rx) = notices.filter(|_| stdin_is_terminal()) {
        let names = {
            let sup = sup.clone();
            Arc::new(move || sup.names()) as shell::NameSource
        };
        let mut backend = DirectBackend {
            sup,
            hooks,
            waiting: None,
            hold: rx.hold(),
            headless,
        };
        let history = history.or_else(|| shell::default_history(".taskmaster_history"));
        match shell::run(&mut backend, names, history, Some(rx)) {
            Ok(()) => return,
            Err(_) if lost_terminal(hooks, headless) => return,
            Err(e) => complain(&format!("taskmaster: {e}; reading plain lines instead")),
        }
    }
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if run_line(sup, hooks, &line, false) == Next::End {
            return;
        }
    }
    if !lost_terminal(hooks, headless) {
        (hooks.shutdown)(Source::Stdin, "end of input");
    }
}
