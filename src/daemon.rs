//! The foreground daemon (SPEC §2): load the config, bind the control socket, start
//! the watchers, then serve commands until shutdown, reacting to SIGINT/SIGTERM/
//! SIGHUP.
//!
//! The main thread only waits for [`DaemonEvent`]s; signals, stdin (or the shell),
//! the socket server and the shutdown itself each run in their own thread, so none
//! can block the others (a second SIGINT must still reach us while the shutdown
//! waits).

use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use log::{error, info, warn};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::config;
use crate::control::{self, Hooks};
use crate::eventlog::EventLog;
use crate::pty::TerminalMode;
use crate::reload::Reloader;
use crate::supervisor::Supervisor;
use crate::{frontend, sys};

/// Command-line options of the daemon.
pub struct Options {
    pub config: PathBuf,
    pub no_shell: bool,
    pub socket: Option<PathBuf>,
}

/// What the main thread waits for.
pub enum DaemonEvent {
    /// SIGINT/SIGTERM, `shutdown`, or end of stdin.
    ShutdownRequested(&'static str),
    Reload,
    ShutdownDone,
}

/// Runs the daemon; returns its exit status (0 clean, 1 fatal, 2 bad config).
pub fn run(opts: Options) -> i32 {
    sys::ensure_std_fds_open();
    crate::headless::remember_terminal();
    sys::mark_inherited_fds_cloexec();
    let nofile = sys::raise_nofile_limit();
    // Whatever thread dies in raw mode, the terminal comes back as it was.
    let _terminal = TerminalMode::save(0);

    let config = match config::load(&opts.config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return 2;
        }
    };
    let log = match EventLog::init(&config.daemon) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("taskmaster: {e}");
            return 1;
        }
    };
    crate::notify::configure(config.daemon.notify.clone());
    let socket_path =
        control::socket::socket_path(opts.socket.as_deref(), config.daemon.socket.as_deref());
    let listener = match control::socket::bind_control_socket(&socket_path) {
        Ok(l) => l,
        Err(e) => {
            error!("{e}");
            eprintln!("taskmaster: {e}");
            return 1;
        }
    };
    info!(
        "taskmaster {} started with pid {}, config {}, {} programs, socket {}, fd limit {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        config.file.display(),
        config.programs.len(),
        socket_path.display(),
        nofile.map_or("unknown".to_string(), |n| n.to_string())
    );
    let history = config.daemon.history.clone();

    let (events, inbox) = channel();
    let signals = match Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("taskmaster: cannot install signal handlers: {e}");
            return 1;
        }
    };
    let signal_handle = signals.handle();
    let sup = match Supervisor::new(config) {
        Ok(s) => s,
        Err(e) => {
            error!("{e}");
            eprintln!("taskmaster: {e}");
            return 1;
        }
    };
    let reloader = Arc::new(Reloader::new(sup.clone(), log, opts.socket.clone()));
    let hooks = Arc::new(hooks(events.clone(), reloader.clone()));
    let notices = (!opts.no_shell && frontend::stdin_is_terminal()).then(frontend::collect_notices);
    let started = spawn_thread(
        "signals",
        forward_signals(signals, events.clone(), hooks.clone()),
    )
    .and_then(|()| {
        let server =
            control::server::start(listener, socket_path.clone(), sup.clone(), hooks.clone())?;
        reloader.set_server(server, hooks.clone());
        let reloader = reloader.clone();
        spawn_thread("reload", move || reloader.serve_requests())
    });
    if let Err(e) = started {
        eprintln!("taskmaster: {e}");
        return 1;
    }
    if let Err(e) = sup.run_scheduler() {
        eprintln!("taskmaster: cannot start the scheduler thread: {e}");
        return 1;
    }
    let skip = previous_run(&socket_path);
    let queued = sup.autostart(&skip);
    // Commands already waiting on stdin are served once the watchers have applied
    // the autostart, so a `status` piped in at start-up sees the programs started.
    if !opts.no_shell {
        let (sup, hooks) = (sup.clone(), hooks.clone());
        let serve = move || {
            for (instance, seq) in queued {
                instance.wait_for(seq, |_| true);
            }
            frontend::serve_stdin(&sup, &hooks, history, notices)
        };
        if let Err(e) = spawn_thread("stdin", serve) {
            eprintln!("taskmaster: {e}");
            return 1;
        }
    }

    let mut shutting_down = false;
    for event in inbox.iter() {
        match event {
            DaemonEvent::ShutdownRequested(why) if shutting_down => {
                warn!("{why} during shutdown: killing every process group still alive");
                sup.kill_all();
            }
            DaemonEvent::ShutdownRequested(why) => {
                shutting_down = true;
                info!("shutdown begun ({why})");
                let (sup2, events) = (sup.clone(), events.clone());
                let done = move || {
                    sup2.shutdown();
                    let _ = events.send(DaemonEvent::ShutdownDone);
                };
                if let Err(e) = spawn_thread("shutdown", done) {
                    error!("{e}: stopping from the main thread");
                    sup.shutdown();
                    break;
                }
            }
            DaemonEvent::Reload if shutting_down => info!("SIGHUP during shutdown: no reload"),
            DaemonEvent::Reload => reloader.request(),
            DaemonEvent::ShutdownDone => break,
        }
    }
    signal_handle.close();
    let _ = std::fs::remove_file(reloader.socket_path().unwrap_or(socket_path));
    crate::journal::close();
    info!("shutdown finished");
    0
}

/// Starts this run's children journal and reports the processes a previous run
/// (ended by SIGKILL or a crash) left alive; returns their instance names, which
/// are not autostarted: better a stopped instance than a silent duplicate.
fn previous_run(socket: &std::path::Path) -> Vec<(String, String)> {
    let mut path = socket.as_os_str().to_owned();
    path.push(".children");
    let leftovers = match crate::journal::open(std::path::Path::new(&path)) {
        Ok(l) => l,
        Err(e) => {
            warn!(
                "cannot keep the children journal {}: {e}",
                std::path::Path::new(&path).display()
            );
            return Vec::new();
        }
    };
    for l in &leftovers {
        let msg = format!(
            "{}: its process from a previous taskmaster run (pid {}) is still alive and unsupervised; \
             not starting another (stop it, then `start {}`)",
            l.name, l.pid, l.name
        );
        warn!("{msg}");
        eprintln!("taskmaster: {msg}");
    }
    leftovers
        .into_iter()
        .map(|l| {
            (
                l.name,
                format!(
                    "Not started: pid {} of a previous run is still alive",
                    l.pid
                ),
            )
        })
        .collect()
}

/// What the transports may ask of the daemon itself.
fn hooks(events: Sender<DaemonEvent>, reloader: Arc<Reloader>) -> Hooks {
    let events = parking_lot::Mutex::new(events);
    Hooks {
        shutdown: Box::new(move |why| {
            let _ = events.lock().send(DaemonEvent::ShutdownRequested(why));
        }),
        reload: {
            let reloader = reloader.clone();
            Box::new(move || reloader.reload())
        },
        socket_path: Box::new(move || reloader.socket_path().unwrap_or_default()),
    }
}

pub(crate) fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), String> {
    std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(sys::THREAD_STACK)
        .spawn(f)
        .map(drop)
        .map_err(|e| format!("cannot start the {name} thread: {e}"))
}

/// The signal thread: handlers only notify (signal-hook's self-pipe); this thread
/// turns each signal into an event for the main thread.
fn forward_signals(
    mut signals: Signals,
    events: Sender<DaemonEvent>,
    hooks: Arc<Hooks>,
) -> impl FnOnce() + Send {
    move || {
        for sig in signals.forever() {
            let event = match sig {
                // Our terminal hanging up is not a reload request (`headless`).
                SIGHUP if crate::headless::sighup_is_hangup(&(hooks.socket_path)()) => {
                    info!("signal received: SIGHUP, from the terminal hanging up: not a reload");
                    continue;
                }
                SIGHUP => {
                    info!("signal received: SIGHUP");
                    DaemonEvent::Reload
                }
                SIGINT => {
                    info!("signal received: SIGINT");
                    DaemonEvent::ShutdownRequested("SIGINT")
                }
                _ => {
                    info!("signal received: SIGTERM");
                    DaemonEvent::ShutdownRequested("SIGTERM")
                }
            };
            if events.send(event).is_err() {
                return;
            }
        }
    }
}
