//! The interactive shell (README: Commands), one for both the daemon's own terminal and
//! `taskmasterctl`: rustyline with a persisted history, completion of command,
//! process and signal names, notices printed above the prompt, Ctrl-C clearing the
//! line and Ctrl-D meaning `quit` (confirmed first when the backend asks for it).
//!
//! The shell runs commands through a [`Backend`]: in the daemon it calls the command
//! layer directly, in `taskmasterctl` it talks to the socket.
//!
//! While the shell runs, the terminal's ISIG flag is off: Ctrl-C typed while a
//! command is running (a long `stop`) must not send SIGINT to the daemon, which
//! would start its shutdown. During `start`/`stop`/`restart` the keys are watched
//! instead: Ctrl-C gives the prompt back while taskmaster goes on with the command,
//! and other keys are kept as typed ahead. rustyline saves and restores the terminal around each
//! line, so it keeps that setting; the original modes come back when the shell ends.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, ExternalPrinter, Helper};

use crate::control::COMMANDS;
use crate::terminal::TerminalMode;

mod notice_feed;
pub use notice_feed::{NoticeChannel, NoticeHold};

pub const PROMPT: &str = "taskmaster> ";

/// `notices on|off`, a setting of the shell itself (the daemon's or taskmasterctl's,
/// `muted` is that shell's); `None` when `line` is something else.
fn notices_setting(line: &str, muted: &AtomicBool) -> Option<&'static str> {
    match shlex::split(line).as_deref() {
        Some([cmd, on]) if cmd == "notices" && on == "on" => {
            muted.store(false, Ordering::SeqCst);
            Some("Notices on: event notices are shown above the prompt.")
        }
        Some([cmd, off]) if cmd == "notices" && off == "off" => {
            muted.store(true, Ordering::SeqCst);
            Some("Notices off: event notices are not shown here (`notices on` shows them again).")
        }
        _ => None,
    }
}

/// Where the shell sends its lines.
pub trait Backend {
    /// Runs one line and prints its result; `false` ends the shell.
    fn run(&mut self, line: &str) -> bool;
    /// What `Ctrl-D` means (the daemon: shutdown; the client: leave).
    fn end_of_input(&mut self);
    /// Before a command that waits for processes (`start`, `stop`, `restart`): a
    /// handle that, called from another thread on Ctrl-C, makes [`Backend::run`]
    /// give the prompt back at once while taskmaster goes on with the command.
    fn interrupter(&mut self) -> Option<Box<dyn FnOnce() + Send>> {
        None
    }
    /// Before `quit`/`exit` (without `-y`) or Ctrl-D: a question the user must
    /// answer yes to, when leaving would stop something (the daemon's processes).
    fn confirm_leaving(&mut self) -> Option<String> {
        None
    }
    /// The terminal failed (end of input, a read error): true when it is gone for
    /// good and the shell must end without doing what Ctrl-D does (the daemon goes
    /// on headless: a lost terminal never stops the processes).
    fn terminal_lost(&mut self) -> bool {
        false
    }
}

/// Commands that wait for processes, for as long as a `stoptime`: Ctrl-C gives the
/// prompt back while they run.
fn waits_for_processes(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or_default();
    ["start", "stop", "restart"].contains(&first)
}

/// Runs `line`, interruptible by Ctrl-C when it waits for processes and the shell
/// is on a terminal; returns whether the shell goes on, and the keys typed ahead
/// meanwhile (to be read as if typed at the next prompt).
fn run_command(backend: &mut dyn Backend, line: &str, terminal: bool) -> (bool, String) {
    if !terminal || !waits_for_processes(line) {
        return (backend.run(line), String::new());
    }
    let Some(interrupt) = backend.interrupter() else {
        return (backend.run(line), String::new());
    };
    let (go_on, keys) = crate::terminal::until_ctrl_c_keeping_keys(interrupt, || backend.run(line));
    // Printable keys and line ends only: an escape sequence cut from its terminal
    // would not mean the same thing replayed.
    let typed = String::from_utf8_lossy(&keys)
        .chars()
        .filter(|c| !c.is_control() || *c == '\r' || *c == '\n')
        .collect();
    (go_on, typed)
}

/// `quit`/`exit` without `-y`: leaving that may need a confirmation.
fn is_plain_quit(line: &str) -> bool {
    matches!(
        shlex::split(line).as_deref(),
        Some([cmd]) if cmd == "quit" || cmd == "exit"
    )
}

/// Asks the backend's question, if it has one; true when leaving may go on. An
/// answer other than yes, Ctrl-C, Ctrl-D or a failing terminal all mean no.
fn confirmed(editor: &mut Editor<ShellHelper, DefaultHistory>, backend: &mut dyn Backend) -> bool {
    let Some(question) = backend.confirm_leaving() else {
        return true;
    };
    match editor.readline(&format!("{question} [y/N] ")) {
        Ok(answer) if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") => true,
        Ok(_) | Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) => {
            crate::control::client::say("Not quitting.");
            false
        }
        Err(_) => false,
    }
}

/// The default history file `name` in the home directory: the daemon's shell and
/// `taskmasterctl` keep separate ones, so a line that is harmless in one (`quit`
/// leaves the client) is never recalled in the other (where it stops everything).
pub fn default_history(name: &str) -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(name))
}

/// Supplies the process names for completion, asked afresh at each Tab.
pub type NameSource = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

struct ShellHelper {
    names: NameSource,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[start..];
        let previous: Vec<&str> = before[..start].split_whitespace().collect();
        let candidates: Vec<String> = match previous.as_slice() {
            [] => COMMANDS.iter().map(|(n, _, _)| n.to_string()).collect(),
            ["help"] => COMMANDS.iter().map(|(n, _, _)| n.to_string()).collect(),
            ["signal"] => crate::sys::signals::signal_names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            [cmd, ..]
                if ["tail"].contains(cmd)
                    && previous.len() >= 2
                    && !previous[previous.len() - 1].starts_with('-') =>
            {
                vec!["stdout".to_string(), "stderr".to_string()]
            }
            _ => {
                let mut names = (self.names)();
                names.push("all".to_string());
                names
            }
        };
        let mut matches: Vec<Pair> = candidates
            .into_iter()
            .filter(|c| c.starts_with(word))
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        matches.sort_by(|a, b| a.display.cmp(&b.display));
        matches.dedup_by(|a, b| a.display == b.display);
        // A unique match is a whole word: a space after it, as readline does, so
        // the next word can be typed at once (`att` Tab is `attach `).
        if let [only] = matches.as_mut_slice() {
            only.replacement.push(' ');
        }
        Ok((start, matches))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// Runs the shell until `quit`/Ctrl-D. `notices` are printed above the prompt.
pub fn run(
    backend: &mut dyn Backend,
    names: NameSource,
    history: Option<PathBuf>,
    notices: Option<NoticeChannel>,
) -> Result<(), String> {
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .max_history_size(1000)
        .map_err(|e| format!("cannot start the shell: {e}"))?
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor: Editor<ShellHelper, DefaultHistory> =
        Editor::with_config(config).map_err(|e| format!("cannot start the shell: {e}"))?;
    editor.set_helper(Some(ShellHelper { names }));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    // `notices off` in this shell: notices are dropped until `notices on`.
    let muted = Arc::new(AtomicBool::new(false));
    if let Some(NoticeChannel {
        rx: notices,
        held: holding,
        ..
    }) = notices
    {
        let muted = muted.clone();
        if let Ok(mut printer) = editor.create_external_printer() {
            let forwarder = std::thread::Builder::new()
                .name("notices".into())
                .stack_size(crate::stack::THREAD_STACK)
                .spawn(move || {
                    notice_feed::forward(notices, &muted, &holding, |line| {
                        printer.print(line).is_ok()
                    })
                });
            drop(forwarder);
        }
    }
    // Ctrl-C must never reach the daemon as SIGINT while a command runs.
    let _terminal = TerminalMode::without_signals(0);
    let terminal = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    // Keys typed while a command waited: complete lines run as typed, the rest is
    // the start of the next line.
    let mut typed_ahead = String::new();
    loop {
        let read = match typed_ahead.find(['\r', '\n']) {
            Some(end) => {
                let line = typed_ahead[..end].to_string();
                typed_ahead.drain(..=end);
                crate::control::client::say(&format!("{PROMPT}{line}"));
                Ok(line)
            }
            None if !typed_ahead.is_empty() => {
                let initial = std::mem::take(&mut typed_ahead);
                editor.readline_with_initial(PROMPT, (&initial, ""))
            }
            None => editor.readline(PROMPT),
        };
        match read {
            Ok(line) => {
                // Added here, not by rustyline: the answer to a question is no command.
                let _ = editor.add_history_entry(line.as_str());
                if let Some(path) = &history {
                    let _ = editor.save_history(path);
                }
                if is_plain_quit(&line) && !confirmed(&mut editor, backend) {
                    continue;
                }
                if let Some(said) = notices_setting(&line, &muted) {
                    crate::control::client::say(said);
                    continue;
                }
                let (go_on, typed) = run_command(backend, &line, terminal);
                typed_ahead.push_str(&typed);
                if !go_on {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => {
                if backend.terminal_lost() {
                    break;
                }
                if !confirmed(&mut editor, backend) {
                    continue;
                }
                backend.end_of_input();
                break;
            }
            Err(_) if backend.terminal_lost() => break,
            Err(e) => return Err(format!("shell: {e}")),
        }
    }
    Ok(())
}
