//! `taskmasterctl [-c FILE | -s PATH] [COMMAND [ARG...]]`: one command over the
//! control socket, or the same interactive shell as the daemon's (README: Command line).
//!
//! Exit status: 0 the command succeeded, 1 it reported an error, 2 bad command line
//! or unknown command, 3 the daemon cannot be reached. `status` exits with
//! supervisorctl's LSB status codes instead: 0 all running, 3 some not running,
//! 4 an unknown name or no daemon to ask.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches, Parser};

use taskmaster::control::client::{self, complain, say, Client};
use taskmaster::control::protocol::Response;
use taskmaster::control::socket::socket_path;
use taskmaster::control::COMMANDS;
use taskmaster::shell::{self, Backend};
use taskmaster::terminal::attach::attach_and_report;
use taskmaster::terminal::until_ctrl_c;

/// Control a running taskmaster.
#[derive(Parser)]
#[command(name = "taskmasterctl", version, about)]
struct Cli {
    /// The daemon's configuration file (to find its socket).
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        conflicts_with = "socket"
    )]
    config: Option<PathBuf>,
    /// The daemon's control socket.
    #[arg(short = 's', long = "socket", value_name = "PATH")]
    socket: Option<PathBuf>,
    /// A command and its arguments; none starts the interactive shell.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn main() -> ExitCode {
    client::exit_when_output_closes();
    let cli = match Cli::command()
        .after_help(commands_help())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // The socket: -s, else the config's (-c, or ./taskmaster.yaml if present), else the default.
    let config = match (&cli.config, &cli.socket) {
        (Some(file), _) => match taskmaster::config::load(file) {
            Ok(c) => Some(c),
            Err(errors) => {
                complain(&errors.to_string());
                return ExitCode::from(2);
            }
        },
        (None, None) => taskmaster::config::load(&taskmaster::config::default_config_path()).ok(),
        (None, Some(_)) => None,
    };
    let path = socket_path(
        cli.socket.as_deref(),
        config.as_ref().and_then(|c| c.daemon.socket.as_deref()),
    );
    let code = match cli.command.split_first() {
        Some((cmd, args)) => one_shot(&path, cmd, args),
        None => {
            // Never the daemon's history file (`history` in the config): see
            // `shell::default_history`.
            let history = shell::default_history(".taskmasterctl_history");
            interactive(&path, history)
        }
    };
    ExitCode::from(code)
}

/// The commands for `--help`, from the table `help` uses: one list, not two.
fn commands_help() -> String {
    let width = COMMANDS
        .iter()
        .map(|(_, usage, _)| usage.len())
        .max()
        .unwrap_or(0);
    let mut out = String::from(
        "Commands (the same in the interactive shell, where `help COMMAND` explains one):\n",
    );
    for (_, usage, text) in COMMANDS {
        let summary = text.lines().next().unwrap_or_default();
        out.push_str(&format!("  {usage:<width$}  {summary}\n"));
    }
    out
}

fn one_shot(path: &Path, cmd: &str, args: &[String]) -> u8 {
    if cmd == "quit" || cmd == "exit" {
        return 0;
    }
    // `status` speaks LSB status codes, where 3 means "not running": a daemon
    // that cannot be asked is 4, "status unknown", as in supervisorctl.
    let unreachable = if cmd == "status" { 4 } else { 3 };
    let mut client = match Client::connect(path) {
        Ok(c) => c,
        Err(e) => {
            complain(&format!("taskmasterctl: {e}"));
            return unreachable;
        }
    };
    if cmd == "top" && args.is_empty() && taskmaster::top::usable_terminal() {
        // The live view opens connections of its own; this one said the daemon is there.
        drop(client);
        return match taskmaster::top::over_socket(path) {
            Ok(()) => 0,
            Err(e) => {
                complain(&format!("taskmasterctl: top: {e}"));
                1
            }
        };
    }
    match client.request(cmd, args) {
        Ok(reply) if reply.stream && is_attach(cmd) => {
            attach_and_report(client, &reply, true);
            0
        }
        Ok(reply) => {
            print_reply(&reply);
            if reply.stream {
                let mut buf = [0u8; 8192];
                while let Ok(n) = client.stream().read(&mut buf) {
                    if n == 0 || client::write_out(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
            reply.exit.clamp(0, 255) as u8
        }
        Err(e) => {
            complain(&format!("taskmasterctl: {e}"));
            unreachable
        }
    }
}

fn is_attach(cmd: &str) -> bool {
    cmd == "attach" || cmd == "fg"
}

fn print_reply(reply: &Response) {
    if !reply.output.is_empty() {
        say(&reply.output);
    }
    let _ = std::io::stdout().flush();
}

/// The interactive shell over one connection, reopened when it breaks.
struct SocketBackend {
    path: PathBuf,
    client: Option<Client>,
    /// Where notices go until a subscription is running (the daemon may not be up
    /// yet when the shell starts: it is tried again after each command).
    notices: Option<std::sync::mpsc::Sender<String>>,
    /// A command could not reach the daemon (commands piped in then exit 3).
    unreachable: bool,
    /// Set by the interrupter (Ctrl-C) of the command running: its connection was
    /// closed on purpose, and the command must not be sent again.
    interrupted: Arc<AtomicBool>,
    /// The shell's notices, held while attached.
    hold: shell::NoticeHold,
}

impl SocketBackend {
    fn request(&mut self, cmd: &str, args: &[String]) -> Result<Response, String> {
        // One retry on a fresh connection: the daemon may have been restarted.
        for attempt in 0..2 {
            let client = match self.client.take() {
                Some(c) => c,
                None => Client::connect(&self.path).map_err(|e| e.to_string())?,
            };
            self.client = Some(client);
            match self.client.as_mut().map(|c| c.request(cmd, args)) {
                Some(Ok(reply)) => return Ok(reply),
                Some(Err(_)) if self.interrupted.load(Ordering::SeqCst) => {
                    self.client = None;
                    return Err("interrupted".into());
                }
                Some(Err(e)) if attempt == 1 => {
                    self.client = None;
                    return Err(e.to_string());
                }
                _ => self.client = None,
            }
        }
        Err(format!(
            "cannot reach taskmaster at {}",
            self.path.display()
        ))
    }

    /// `tail -f`: copy the stream until Ctrl-C, which closes the connection.
    fn follow(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        let Some(closer) = client.closer() else {
            return;
        };
        until_ctrl_c(
            move || closer.close(),
            || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = client.stream().read(&mut buf) {
                    if n == 0 || client::write_out(&buf[..n]).is_err() {
                        break;
                    }
                }
            },
        );
        say("");
    }
}

impl Backend for SocketBackend {
    fn run(&mut self, line: &str) -> bool {
        let Some(words) = shlex::split(line) else {
            say("*** Unbalanced quotes in command line");
            return true;
        };
        let Some((cmd, args)) = words.split_first() else {
            return true;
        };
        if cmd == "quit" || cmd == "exit" {
            // `-y` is accepted as in the daemon's shell; leaving stops nothing here.
            return false;
        }
        if cmd == "top" && args.is_empty() && taskmaster::top::usable_terminal() {
            let path = self.path.clone();
            if let Err(e) = self.hold.holding(|| taskmaster::top::over_socket(&path)) {
                say(&format!("top: {e}"));
            }
            return true;
        }
        let result = self.request(cmd, args);
        let interrupted = std::mem::take(&mut self.interrupted);
        if result.is_err() && interrupted.load(Ordering::SeqCst) {
            say(&taskmaster::frontend::interrupted_message(line));
            return true;
        }
        if result.is_ok() {
            if let Some(tx) = self.notices.take() {
                if let Err(tx) = subscribe_notices(&self.path, tx) {
                    self.notices = Some(tx);
                }
            }
        }
        match result {
            Ok(reply) if reply.stream && is_attach(cmd) => {
                if let Some(client) = self.client.take() {
                    self.hold
                        .holding(|| attach_and_report(client, &reply, true));
                }
            }
            Ok(reply) => {
                print_reply(&reply);
                if reply.stream {
                    self.follow();
                }
            }
            Err(e) => {
                self.unreachable = true;
                say(&format!("taskmasterctl: {e}"));
            }
        }
        true
    }

    fn end_of_input(&mut self) {
        say("");
    }

    fn interrupter(&mut self) -> Option<Box<dyn FnOnce() + Send>> {
        if self.client.is_none() {
            self.client = Client::connect(&self.path).ok();
        }
        let closer = self.client.as_ref()?.closer()?;
        let interrupted = Arc::new(AtomicBool::new(false));
        self.interrupted = interrupted.clone();
        // Closing our end ends our wait; the daemon finishes the command anyway.
        Some(Box::new(move || {
            interrupted.store(true, Ordering::SeqCst);
            closer.close();
        }))
    }
}

fn interactive(path: &Path, history: Option<PathBuf>) -> u8 {
    // Say at once when the daemon is not there, rather than at the first command.
    // On a terminal the shell still opens (each command tries again: the daemon may
    // be starting); commands piped in would all fail, so they are not run.
    let terminal = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    if let Err(e) = Client::connect(path) {
        complain(&format!("taskmasterctl: {e}"));
        if !terminal {
            return 3;
        }
    }
    let names = {
        let path = path.to_path_buf();
        Arc::new(move || remote_names(&path)) as shell::NameSource
    };
    let channel = shell::NoticeChannel::new();
    let mut backend = SocketBackend {
        path: path.to_path_buf(),
        client: None,
        notices: subscribe_notices(path, channel.tx.clone()).err(),
        unreachable: false,
        interrupted: Arc::default(),
        hold: channel.hold(),
    };
    match shell::run(&mut backend, names, history, Some(channel)) {
        Ok(()) if backend.unreachable && !terminal => 3,
        Ok(()) => 0,
        Err(e) => {
            complain(&format!("taskmasterctl: {e}"));
            1
        }
    }
}

/// Event notices from the daemon, on a connection of their own, fed to `tx` for
/// the shell to print above its prompt. Gives `tx` back when the daemon cannot be
/// reached (yet).
fn subscribe_notices(
    path: &Path,
    tx: std::sync::mpsc::Sender<String>,
) -> Result<(), std::sync::mpsc::Sender<String>> {
    let Ok(mut client) = Client::connect(path) else {
        return Err(tx);
    };
    match client.request("notices", &[]) {
        Ok(reply) if reply.stream => {}
        _ => return Err(tx),
    }
    let reader = std::thread::Builder::new().name("notices-in".into());
    let forward = tx.clone();
    let started = reader.spawn(move || {
        use std::io::BufRead;
        for line in client.stream().lines().map_while(Result::ok) {
            if forward.send(line).is_err() {
                return;
            }
        }
    });
    started.map(drop).map_err(|_| tx)
}

/// Instance and program names, for completion.
fn remote_names(path: &Path) -> Vec<String> {
    let Ok(mut client) = Client::connect(path) else {
        return Vec::new();
    };
    let Ok(reply) = client.request("status", &["--json".to_string()]) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    if let Some(items) = reply.data.as_ref().and_then(|d| d.as_array()) {
        for item in items {
            if let Some(name) = item["name"].as_str() {
                names.push(name.to_string());
                if let Some((program, _)) = name.split_once(':') {
                    names.push(program.to_string());
                }
            }
        }
    }
    names
}
