//! `taskmaster`: the daemon, or (hidden first argument) the exec helper or the
//! spawn helper.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use taskmaster::config::Format;
use taskmaster::watch::{helper, spawn::HELPER_FLAG, spawner};

/// Job-control daemon: starts the programs of a YAML file (or a supervisord.conf)
/// and keeps them alive.
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
    /// The configuration's syntax: `yaml` (taskmaster's) or `supervisor` (a
    /// supervisord.conf). Default: supervisor's for a `.conf`/`.ini` file or one
    /// whose first line is a `[section]` header, else YAML.
    #[arg(long, value_name = "FORMAT")]
    format: Option<FormatArg>,
    /// With --check: print the configuration as taskmaster YAML (to migrate a
    /// supervisord.conf for good).
    #[arg(long, value_name = "FORMAT", requires = "check")]
    print_config: Option<PrintFormat>,
    /// Ignore standard input: run until SIGINT/SIGTERM or a `shutdown` command.
    #[arg(long)]
    no_shell: bool,
    /// Control socket path (overrides the config's `taskmaster.socket`).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Act as a container's init (the default when running as PID 1): no shell
    /// unless stdin is a terminal; exit 3 when the shutdown had to SIGKILL.
    #[arg(long)]
    init: bool,
    /// Read a password (a line of standard input) and print its hash for the web
    /// dashboard's `http.auth.password_hash`, then exit.
    #[arg(long)]
    hash_password: bool,
    /// Asked by a running daemon before it upgrades in place to this binary:
    /// print the hand-over schemas this binary reads, and check the file.
    #[arg(long, hide = true)]
    upgrade_check: bool,
}

impl Cli {
    /// A run that only answers and exits: no daemon starts.
    fn answers_and_exits(&self) -> bool {
        self.check || self.hash_password || self.upgrade_check
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Yaml,
    Supervisor,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PrintFormat {
    Yaml,
}

/// `--check [--print-config yaml]`: errors on stderr (exit 2), else warnings on
/// stderr and `OK` (or the YAML) on stdout.
fn check(path: &std::path::Path, format: Option<Format>, print: bool) -> ExitCode {
    let loaded = if print {
        taskmaster::config::load_as_yaml(path, format).map(|(c, yaml)| (c, Some(yaml)))
    } else {
        taskmaster::config::load_as(path, format).map(|c| (c, None))
    };
    match loaded {
        Ok((config, yaml)) => {
            for warning in &config.warnings {
                eprintln!("warning: {warning}");
            }
            match yaml {
                Some(yaml) => print!("{yaml}"),
                None => println!(
                    "{}: OK ({} programs)",
                    config.file.display(),
                    config.programs.len()
                ),
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let helper_mode = args
        .get(1)
        .is_some_and(|a| a == HELPER_FLAG || a == spawner::SPAWNER_FLAG);
    // Parsed before anything else happens: --help, --version and bad arguments
    // end here. The helpers take a hidden first argument of their own.
    let cli = match helper_mode {
        true => None,
        false => match Cli::try_parse_from(&args) {
            Ok(cli) => Some(cli),
            Err(e) => {
                let _ = e.print();
                return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
            }
        },
    };
    // Then, with one thread: the daemon's allocator without per-thread caches
    // (an exec; not for the helpers, which start with every child or are small,
    // nor for a run that only answers and exits).
    if cli.as_ref().is_some_and(|cli| !cli.answers_and_exits()) {
        taskmaster::sys::malloc::without_thread_caches();
    }
    // Then: an upgrade in place handed this process a record.
    let resume = match taskmaster::upgrade::resume::take_record() {
        Some(Ok(record)) => Some(record),
        Some(Err(e)) => {
            // The old daemon asked this binary first (--upgrade-check), so this is
            // a damaged record: start as after a crash, where the children journal
            // names every process still running and none is started twice.
            eprintln!("taskmaster: cannot resume after the upgrade: {e}");
            taskmaster::upgrade::resume::forget_handover();
            None
        }
        None => None,
    };
    if args.get(1).is_some_and(|a| a == HELPER_FLAG) {
        helper::run(&args[2..]);
    }
    if args.get(1).is_some_and(|a| a == spawner::SPAWNER_FLAG) {
        spawner::server::run(&args[2..]);
    }
    let Some(cli) = cli else {
        return ExitCode::FAILURE;
    };
    let format = cli.format.map(|f| match f {
        FormatArg::Yaml => Format::Yaml,
        FormatArg::Supervisor => Format::Supervisor,
    });
    if cli.hash_password {
        return match taskmaster::web::auth::hash_password_from_stdin() {
            Ok(hash) => {
                println!("{hash}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("taskmaster: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.upgrade_check {
        println!(
            "upgrade-record-schemas: {}",
            (1..=taskmaster::upgrade::record::SCHEMA)
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        return match taskmaster::config::load_as(&cli.config, format) {
            Ok(_) => ExitCode::SUCCESS,
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::from(2)
            }
        };
    }
    if cli.check {
        return check(&cli.config, format, cli.print_config.is_some());
    }
    let code = taskmaster::daemon::run(taskmaster::daemon::Options {
        config: cli.config,
        no_shell: cli.no_shell,
        socket: cli.socket,
        format,
        init: cli.init,
        resume,
    });
    // What the event log and the daemon's messages still queue for a pipe.
    taskmaster::stream_out::flush_before_exit();
    ExitCode::from(code.clamp(0, 255) as u8)
}
