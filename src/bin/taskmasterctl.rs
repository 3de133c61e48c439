//! `taskmasterctl [-c FILE | -s PATH | -H URL… | --hosts FILE] [COMMAND [ARG...]]`:
//! one command over the control socket — or through ssh to remote daemons — or
//! the same interactive shell as the daemon's (README: Command line, Many hosts
//! over SSH). `taskmasterctl --stdio` is the remote end of `-H`.
//!
//! Exit status: 0 the command succeeded, 1 it reported an error, 2 bad command line
//! or unknown command, 3 the daemon cannot be reached. `status` exits with
//! supervisorctl's LSB status codes instead: 0 all running, 3 some not running,
//! 4 an unknown name or no daemon to ask. Several hosts: the highest of theirs.

#[path = "taskmasterctl/shell_backend.rs"]
mod shell_backend;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

use taskmaster::control::client::{self, complain, say};
use taskmaster::control::protocol::Response;
use taskmaster::control::socket::socket_path;
use taskmaster::control::COMMANDS;
use taskmaster::remote::url::{self, SshTarget};
use taskmaster::remote::{fanout, hosts, ssh::SshSettings, Endpoint};
use taskmaster::shell;
use taskmaster::terminal::attach::attach_and_report;

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
    /// A remote taskmaster, through ssh: ssh://[user@]host[:port][/socket].
    /// Repeat it to run a command on several hosts.
    #[arg(
        short = 'H',
        long = "host",
        value_name = "URL",
        conflicts_with_all = ["config", "socket", "stdio"]
    )]
    host: Vec<String>,
    /// A file of such URLs, one a line (blank lines and # comments skipped).
    #[arg(
        long = "hosts",
        value_name = "FILE",
        conflicts_with_all = ["config", "socket", "stdio"]
    )]
    hosts_file: Option<PathBuf>,
    /// Relay stdin and stdout to the daemon's socket, bytes as they are: what ssh
    /// runs on the remote host for -H.
    #[arg(long = "stdio")]
    stdio: bool,
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
    if cli.stdio && !cli.command.is_empty() {
        complain("taskmasterctl: --stdio takes no command: it relays the protocol");
        return ExitCode::from(2);
    }
    let code = match remote_targets(&cli) {
        Err(e) => {
            complain(&format!("taskmasterctl: {e}"));
            2
        }
        Ok(Some(targets)) => remote(targets, &cli.command),
        Ok(None) => match local_socket(&cli) {
            Err(code) => code,
            Ok(path) if cli.stdio => taskmaster::remote::stdio::relay(&path),
            Ok(path) => run(&Endpoint::Socket(path), &cli.command),
        },
    };
    ExitCode::from(code)
}

/// The socket: -s, else the config's (-c, or ./taskmaster.yaml if present), else
/// the default. A bad -c file is exit code 2.
fn local_socket(cli: &Cli) -> Result<PathBuf, u8> {
    let config = match (&cli.config, &cli.socket) {
        (Some(file), _) => match taskmaster::config::load(file) {
            Ok(c) => Some(c),
            Err(errors) => {
                complain(&errors.to_string());
                return Err(2);
            }
        },
        (None, None) => taskmaster::config::load(&taskmaster::config::default_config_path()).ok(),
        (None, Some(_)) => None,
    };
    Ok(socket_path(
        cli.socket.as_deref(),
        config.as_ref().and_then(|c| c.daemon.socket.as_deref()),
    ))
}

/// The remote hosts: -H and --hosts, else TASKMASTER_HOST unless -s or -c names a
/// local daemon (or this is the relay, which is always local).
fn remote_targets(cli: &Cli) -> Result<Option<Vec<SshTarget>>, String> {
    if !cli.host.is_empty() || cli.hosts_file.is_some() {
        return hosts::targets(&cli.host, cli.hosts_file.as_deref()).map(Some);
    }
    if cli.stdio || cli.config.is_some() || cli.socket.is_some() {
        return Ok(None);
    }
    match std::env::var(hosts::HOST_VAR) {
        Ok(url) if !url.trim().is_empty() => match url::parse(url.trim()) {
            Ok(target) => Ok(Some(vec![target])),
            Err(e) => Err(format!("{}={}: {e}", hosts::HOST_VAR, url.trim())),
        },
        _ => Ok(None),
    }
}

/// A command (or the shell) on remote hosts: one is driven as a local daemon is;
/// several get the command each, gathered (`remote::fanout`).
fn remote(mut targets: Vec<SshTarget>, words: &[String]) -> u8 {
    let settings = match SshSettings::from_env() {
        Ok(s) => s,
        Err(e) => {
            complain(&format!("taskmasterctl: {e}"));
            return 2;
        }
    };
    if targets.len() == 1 {
        let target = targets.remove(0);
        return run(&Endpoint::Ssh { target, settings }, words);
    }
    let Some((cmd, args)) = words.split_first() else {
        complain("taskmasterctl: the interactive shell drives one host; give a command to run it on every host");
        return 2;
    };
    if cmd == "quit" || cmd == "exit" {
        return 0;
    }
    if fanout::needs_one_host(cmd, args) {
        complain(&format!(
            "taskmasterctl: `{}` holds the connection open and needs one host (one -H)",
            words.join(" ")
        ));
        return 2;
    }
    let answers = fanout::ask_all(&targets, &settings, cmd, args);
    let gathered = fanout::gather(&targets, cmd, args, &answers);
    let _ = client::write_out(gathered.text.as_bytes());
    gathered.exit
}

/// One command, or the interactive shell when there is none, on one daemon.
fn run(endpoint: &Endpoint, words: &[String]) -> u8 {
    match words.split_first() {
        Some((cmd, args)) => one_shot(endpoint, cmd, args),
        None => {
            // Never the daemon's history file (`history` in the config): see
            // `shell::default_history`.
            let history = shell::default_history(".taskmasterctl_history");
            shell_backend::interactive(endpoint, history)
        }
    }
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

fn one_shot(endpoint: &Endpoint, cmd: &str, args: &[String]) -> u8 {
    if cmd == "quit" || cmd == "exit" {
        return 0;
    }
    // `status` speaks LSB status codes, where 3 means "not running": a daemon
    // that cannot be asked is 4, "status unknown", as in supervisorctl.
    let unreachable = if cmd == "status" { 4 } else { 3 };
    if cmd == "top" && args.is_empty() && taskmaster::top::usable_terminal() {
        // The live view opens connections of its own; this one said the daemon is there.
        if let Err(e) = endpoint.connect_checked() {
            complain(&format!("taskmasterctl: {e}"));
            return unreachable;
        }
        return match taskmaster::top::over_connection(|| endpoint.connect()) {
            Ok(()) => 0,
            Err(e) => {
                complain(&format!("taskmasterctl: top: {e}"));
                1
            }
        };
    }
    let mut client = match endpoint.connect() {
        Ok(c) => c,
        Err(e) => {
            complain(&format!("taskmasterctl: {e}"));
            return unreachable;
        }
    };
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
