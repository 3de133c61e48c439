//! The foreground daemon (README: Command line): load the config, bind the control socket, start
//! the watchers, then serve commands until shutdown, reacting to SIGINT/SIGTERM/
//! SIGHUP.
//!
//! The main thread only waits for [`DaemonEvent`]s; signals, stdin (or the shell),
//! the socket server and the shutdown itself each run in their own thread, so none
//! can block the others (a second SIGINT must still reach us while the shutdown
//! waits).

use std::path::PathBuf;
use std::sync::mpsc::channel;
use std::sync::Arc;

use log::{error, info, warn};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

use crate::config;
use crate::control::{self, Source};
use crate::eventlog::EventLog;
use crate::headless::Headless;
use crate::hub::Hub;
use crate::reload::Reloader;
use crate::service_manager::ServiceManager;
use crate::shutdown_progress::{self, Terminal};
use crate::supervisor::Supervisor;
use crate::terminal::TerminalMode;
use crate::{frontend, sys};

#[path = "daemon/hooks.rs"]
mod hooks;
#[path = "daemon/previous_run.rs"]
mod previous_run;
#[path = "daemon/signals.rs"]
mod signals;
use hooks::hooks;
use previous_run::previous_run;
use signals::forward_signals;

/// Command-line options of the daemon.
pub struct Options {
    pub config: PathBuf,
    pub no_shell: bool,
    pub socket: Option<PathBuf>,
    /// `--format`: the configuration's syntax; `None` detects it.
    pub format: Option<config::Format>,
    /// `--init`: act as a container's init (also when PID 1): `init.rs`.
    pub init: bool,
    /// The hand-over of the process this one replaced (an upgrade in place).
    pub resume: Option<crate::upgrade::record::DaemonRecord>,
}

/// What the main thread waits for.
pub enum DaemonEvent {
    /// SIGINT/SIGTERM, `shutdown`, or end of stdin: who asked, and how (a
    /// command or event worth naming, or "").
    ShutdownRequested(Source, &'static str),
    Reload,
    ShutdownDone,
}

/// Runs the daemon; returns its exit status (0 clean, 1 fatal, 2 bad config; as
/// init, 3 when the shutdown had to SIGKILL: `init.rs`).
pub fn run(mut opts: Options) -> i32 {
    // With one thread still: every thread made from here on inherits the block, so
    // only a watcher's `ppoll` ever takes the wake signal, and only the `orphans`
    // thread SIGCHLD.
    sys::wake::block_in_this_thread();
    let pid_one = crate::init::is_pid_one();
    crate::orphans::start(pid_one);
    opts.init |= pid_one;
    // A container's stdin is mostly /dev/null: its end is no shutdown.
    opts.no_shell |= opts.init && !frontend::stdin_is_terminal();
    sys::malloc::use_one_arena();
    sys::fds::ensure_std_fds_open();
    control::daemon_status::mark_started();
    let headless = Arc::new(Headless::remember_terminal());
    sys::fds::mark_inherited_fds_cloexec();
    let nofile = sys::fds::raise_nofile_limit();
    // Whatever thread dies in raw mode, the terminal comes back as it was.
    let _terminal = TerminalMode::save(0);

    let config = match config::load_as(&opts.config, opts.format) {
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
    // Early, while the daemon's descriptor table is small: the helper's starts as a
    // copy of it.
    crate::watch::spawner::start();
    let resume = opts.resume.take();
    let socket_path = match &resume {
        Some(record) => record.socket.clone(),
        None => {
            control::socket::socket_path(opts.socket.as_deref(), config.daemon.socket.as_deref())
        }
    };
    let listener = match crate::upgrade::resume::listener_or_bind(resume.as_ref(), &socket_path) {
        Ok(l) => l,
        Err(e) => {
            error!("{e}");
            eprintln!("taskmaster: {e}");
            return 1;
        }
    };
    info!(
        "taskmaster {} {} with pid {}, config {}, {} programs, socket {}, fd limit {}",
        env!("CARGO_PKG_VERSION"),
        match resume {
            Some(_) => "resumed after an upgrade in place",
            None => "started",
        },
        std::process::id(),
        config.file.display(),
        config.programs.len(),
        socket_path.display(),
        nofile.map_or("unknown".to_string(), |n| n.to_string())
    );
    for warning in &config.warnings {
        warn!("configuration: {warning}");
    }
    // After an upgrade in place the dashboard keeps its token: open pages reconnect.
    let kept_token = resume.as_ref().and_then(|r| r.web_token.clone());
    let http = config.daemon.http.as_ref();
    let web = match crate::web::bind_if_configured(http, &socket_path, kept_token) {
        Ok(web) => web,
        Err(e) => {
            error!("{e}");
            eprintln!("taskmaster: {e}");
            return 1;
        }
    };
    let (web_url, web_token) = crate::web::url_reply(web.as_ref());
    let history = config.daemon.history.clone();

    let (events, inbox) = channel();
    let signals = match Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("taskmaster: cannot install signal handlers: {e}");
            return 1;
        }
    };
    let signal_handle = signals.handle();
    let service = ServiceManager::from_env();
    let verdict = crate::init::ShutdownVerdict::new();
    let subscribers = vec![service.subscriber(), verdict.clone()];
    let sup = match Supervisor::new(config, Hub::new(subscribers)) {
        Ok(s) => s,
        Err(e) => {
            error!("{e}");
            eprintln!("taskmaster: {e}");
            return 1;
        }
    };
    let reloader = Arc::new(Reloader::new(
        sup.clone(),
        log,
        opts.socket.clone(),
        service.clone(),
    ));
    let hooks = Arc::new(hooks(
        events.clone(),
        reloader.clone(),
        sup.clone(),
        (web_url, web.as_ref().map(|w| w.token())),
    ));
    let notices = (!opts.no_shell && frontend::stdin_is_terminal())
        .then(|| frontend::collect_notices(sup.hub()));
    // The interactive shell shows the daemon's messages above its prompt.
    let terminal = match notices {
        Some(_) => Terminal::Notice,
        None => Terminal::Stdout,
    };
    // Before any thread: an address already taken stops the start here.
    if let Err(e) = reloader.start_metrics() {
        error!("{e}");
        eprintln!("taskmaster: {e}");
        return 1;
    }
    let progress_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Err(e) = sup.run_scheduler() {
        eprintln!("taskmaster: cannot start the scheduler thread: {e}");
        return 1;
    }
    let adopted = resume.as_ref().map(crate::upgrade::resume::adopted_pids);
    let skip = previous_run(sup.hub(), &socket_path, adopted.as_deref().unwrap_or(&[]));
    // After an upgrade in place every instance is taken over before the socket
    // serves again: a client that waited in its backlog finds them as they were.
    let resumed = resume.map(|record| crate::upgrade::resume::take_over(&sup, record));
    let started = spawn_thread(
        "signals",
        forward_signals(signals, events.clone(), hooks.clone(), headless.clone()),
    )
    .and_then(|()| {
        let server =
            control::server::start(listener, socket_path.clone(), sup.clone(), hooks.clone())?;
        reloader.set_server(server, hooks.clone());
        let reloader = reloader.clone();
        spawn_thread("reload", move || reloader.serve_requests())
    })
    .and_then(|()| web.map_or(Ok(()), |web| web.start(sup.clone(), hooks.clone())));
    if let Err(e) = started {
        eprintln!("taskmaster: {e}");
        return 1;
    }
    if let Err(e) = crate::orphans::run_reaper() {
        eprintln!("taskmaster: {e}");
        return 1;
    }
    if opts.init {
        info!(
            "running as init (pid {}): exit status 3 if the shutdown has to SIGKILL",
            std::process::id()
        );
    }
    if let Err(e) = service.start(&sup) {
        warn!("{e}: the service manager gets no status and no keep-alive");
    }
    let queued = match resumed {
        // Nothing is started: every instance goes on where the old process left it.
        Some(text) => {
            terminal.tell(sup.hub(), &text);
            Vec::new()
        }
        None => sup.autostart(&skip),
    };
    // Every autostart program whose dependencies allow it has been spawned (or,
    // after an upgrade in place, every instance was taken over).
    service.ready();
    // Commands already waiting on stdin are served once the watchers have applied
    // the autostart, so a `status` piped in at start-up sees the programs started.
    if !opts.no_shell {
        let (sup, hooks) = (sup.clone(), hooks.clone());
        let serve = move || {
            for start in queued {
                start.spawned();
            }
            frontend::serve_stdin(&sup, &hooks, &headless, history, notices)
        };
        if let Err(e) = spawn_thread("stdin", serve) {
            eprintln!("taskmaster: {e}");
            return 1;
        }
    }

    let mut shutting_down = false;
    for event in inbox.iter() {
        match event {
            // A second signal insists: no more waiting. A second command just
            // waits for the same end (its reply comes when the shutdown is done).
            DaemonEvent::ShutdownRequested(source @ Source::Signal(_), how) if shutting_down => {
                let why = requester(&source, how);
                let text =
                    format!("{why} during shutdown: killing every process group still alive");
                warn!("{text}");
                terminal.tell(sup.hub(), &text);
                sup.kill_all();
            }
            DaemonEvent::ShutdownRequested(source, how) if shutting_down => {
                let why = requester(&source, how);
                terminal.say(
                    sup.hub(),
                    &format!("shutdown requested again, by {why}: already under way"),
                );
            }
            DaemonEvent::ShutdownRequested(source, how) => {
                shutting_down = true;
                service.stopping();
                verdict.shutdown_begun();
                // A `top` open in the shell gives the terminal back first, for the
                // shutdown's messages.
                crate::top::give_back_if_open();
                terminal.say(
                    sup.hub(),
                    &format!("shutdown begun, requested by {}", requester(&source, how)),
                );
                let (sup2, done) = (sup.clone(), progress_done.clone());
                if let Err(e) = spawn_thread("shutdown-progress", move || {
                    shutdown_progress::report(sup2, terminal, done)
                }) {
                    warn!("{e}: the shutdown's progress is not shown");
                }
                let (sup2, events, verdict2) = (sup.clone(), events.clone(), verdict.clone());
                let done = move || {
                    sup2.shutdown();
                    verdict2.killed(crate::orphans::stop_all());
                    let _ = events.send(DaemonEvent::ShutdownDone);
                };
                if let Err(e) = spawn_thread("shutdown", done) {
                    error!("{e}: stopping from the main thread");
                    sup.shutdown();
                    verdict.killed(crate::orphans::stop_all());
                    break;
                }
            }
            DaemonEvent::Reload if shutting_down => info!("SIGHUP during shutdown: no reload"),
            DaemonEvent::Reload => reloader.request(),
            DaemonEvent::ShutdownDone => break,
        }
    }
    progress_done.store(true, std::sync::atomic::Ordering::SeqCst);
    signal_handle.close();
    let _ = std::fs::remove_file(reloader.socket_path().unwrap_or(socket_path));
    web_token.map(std::fs::remove_file);
    // Alert commands still running are stopped, within a bound.
    sup.hub().notifier().shutdown();
    sup.hub().journal().close();
    crate::watch::spawner::shutdown();
    terminal.say(sup.hub(), "shutdown finished");
    // The last act: `taskmasterctl shutdown` returns now, with everything stopped
    // and the socket gone, so a new taskmaster can start at once.
    hooks
        .shutdown_waiters
        .answer(&control::Reply::ok("Shut down"));
    match opts.init {
        true => verdict.exit_code(),
        false => 0,
    }
}

/// Who asked for the shutdown, and how when it says more than `shutdown`:
/// `the daemon's shell (end of input, Ctrl-D)`, `taskmasterctl (uid 0, pid 1234)`.
fn requester(source: &Source, how: &str) -> String {
    match how {
        "" | "shutdown" => source.to_string(),
        how => format!("{source} ({how})"),
    }
}

pub(crate) fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), String> {
    std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(f)
        .map(drop)
        .map_err(|e| format!("cannot start the {name} thread: {e}"))
}
