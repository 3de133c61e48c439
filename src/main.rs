//! `taskmaster`: the daemon, or (hidden first argument) the exec helper or the
//! spawn helper.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use taskmaster::watch::{helper, spawn::HELPER_FLAG, spawner};

/// Job-control daemon: starts the programs of a YAML file and keeps them alive.
#[derive(Parser)]
#[command(name = "taskmaster", version, about)]
struct Cli {
    /// Configuration file.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        default_value = "taskmaster.yaml"
    )]
    config: PathBuf,
    /// Validate the configuration file, print its errors, and exit (0 valid, 2 not).
    #[arg(long)]
    check: bool,
    /// Ignore standard input: run until SIGINT/SIGTERM or a `shutdown` command.
    #[arg(long)]
    no_shell: bool,
    /// Control socket path (overrides the config's `taskmaster.socket`).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == HELPER_FLAG) {
        helper::run(&args[2..]);
    }
    if args.get(1).is_some_and(|a| a == spawner::SPAWNER_FLAG) {
        spawner::server::run(&args[2..]);
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if cli.check {
        return match taskmaster::config::load(&cli.config) {
            Ok(config) => {
                println!(
                    "{}: OK ({} programs)",
                    config.file.display(),
                    config.programs.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::from(2)
            }
        };
    }
    let code = taskmaster::daemon::run(taskmaster::daemon::Options {
        config: cli.config,
        no_shell: cli.no_shell,
        socket: cli.socket,
    });
    ExitCode::from(code.clamp(0, 255) as u8)
}
