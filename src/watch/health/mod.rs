//! Running health checks (README: Health checks) off the watcher's thread, on
//! the instance's own schedule.
//!
//! A check may take up to its `timeout` — a command that hangs, a server that
//! does not answer — and the watcher must answer commands meanwhile. So while an
//! instance's checks are due (a RUNNING child under a `healthcheck`: the
//! machine's `health` is set), it has a small `health:NAME` thread for that
//! child. The thread runs the first check at once and each next one `interval`
//! after the last ended, waiting in between on its channel with that timeout —
//! the instance's own timer, never a global tick, and none at all for a program
//! without a check. A result goes back through the instance's inbox, which wakes
//! the watcher like a command, unless it is a pass right after a pass: that
//! changes nothing in the machine (the last result it had was a pass: healthy,
//! no failure counted), so a healthy instance costs its watcher no wake-up.
//!
//! Dropping the [`Checker`] ends the thread, and kills a check command still
//! running (its whole process group), so no check outlives its child's health.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::instance::{Command, Instance};
use crate::config::{Probe, ProgramConfig};

mod command;
mod engine;
mod flight;
mod net;
mod nonblocking;
mod schedule;

/// What the watcher's side and the checker thread share.
#[derive(Default)]
struct Slot {
    /// The pid of the check command running now, if any: its process group is
    /// SIGKILLed through this when the checker is dropped. The checker thread
    /// clears it (under the lock) before it reaps the command, so the pid still
    /// names that command's group whenever the slot holds it.
    pid: Option<i32>,
    /// The checker was dropped: no further check.
    closed: bool,
}

type Running = Arc<Mutex<Slot>>;

/// The watcher's handle on the checks of one child.
pub struct Checker {
    pid: i32,
    instance: Arc<Instance>,
    run: u64,
    /// The program's settings, replaced by a reload.
    config: Arc<Mutex<Arc<ProgramConfig>>>,
    runner: Runner,
}

/// Where the checks run: `http` and `tcp` checks to an address on the
/// daemon's one `health-net` thread (`engine.rs`), others (a command, a host
/// name to look up) on a `health:NAME` thread of the child's own.
enum Runner {
    /// Held only to be dropped: that ends the checks.
    Net {
        _checks: engine::Registration,
    },
    Thread {
        _own: OwnThread,
    },
}

/// A `health:NAME` thread; dropping this ends it and kills its check command.
struct OwnThread {
    /// Never sent on: dropping it ends the thread's wait at once.
    _wake: SyncSender<()>,
    running: Running,
}

impl Drop for OwnThread {
    fn drop(&mut self) {
        command::kill_running(&self.running);
    }
}

/// Whether these settings' checks run on the `health-net` thread.
fn on_net_thread(config: &ProgramConfig) -> bool {
    config
        .policy
        .healthcheck
        .as_ref()
        .is_some_and(flight::runs_on_net_thread)
}

impl Checker {
    /// Starts checking child `pid` of `instance`, the first check at once.
    /// `run` is the watcher's run of that child: a check command is marked with
    /// it, so what the command leaves behind is stopped with the instance.
    pub fn start(
        instance: &Arc<Instance>,
        pid: i32,
        run: u64,
        config: Arc<ProgramConfig>,
    ) -> std::io::Result<Checker> {
        let net = on_net_thread(&config);
        let config = Arc::new(Mutex::new(config));
        let runner = Self::runner(instance, pid, run, &config, net)?;
        Ok(Checker {
            pid,
            instance: instance.clone(),
            run,
            config,
            runner,
        })
    }

    fn runner(
        instance: &Arc<Instance>,
        pid: i32,
        run: u64,
        config: &Arc<Mutex<Arc<ProgramConfig>>>,
        net: bool,
    ) -> std::io::Result<Runner> {
        if net {
            return engine::Registration::start(instance, pid, config.clone())
                .map(|checks| Runner::Net { _checks: checks });
        }
        let (wake, ended) = std::sync::mpsc::sync_channel(0);
        let own = OwnThread {
            _wake: wake,
            running: Running::default(),
        };
        let (running, config) = (own.running.clone(), config.clone());
        let instance = instance.clone();
        std::thread::Builder::new()
            .name(format!("health:{}", instance.name()))
            .stack_size(crate::stack::THREAD_STACK)
            .spawn(move || serve(&instance, pid, run, &ended, &running, &config))?;
        Ok(Runner::Thread { _own: own })
    }

    /// The child it checks.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// New settings (reload): the next check runs by them. A check that moves
    /// between the `health-net` thread and a thread of its own (a command
    /// instead of a URL, a host name instead of an address) starts there at
    /// once; `Err` when that thread cannot be started (the old one is gone).
    pub fn update(&mut self, config: Arc<ProgramConfig>) -> std::io::Result<()> {
        let net = on_net_thread(&config);
        *self.config.lock() = config;
        if net != matches!(self.runner, Runner::Net { .. }) {
            // The old one first: no two runners check the same child.
            self.runner = Runner::Thread {
                _own: OwnThread {
                    _wake: std::sync::mpsc::sync_channel(0).0,
                    running: Running::default(),
                },
            };
            self.runner = Self::runner(&self.instance, self.pid, self.run, &self.config, net)?;
        }
        Ok(())
    }
}

/// The checker thread: a check, then a wait of `interval`, until dropped.
fn serve(
    instance: &Instance,
    pid: i32,
    run: u64,
    ended: &Receiver<()>,
    running: &Running,
    config: &Mutex<Arc<ProgramConfig>>,
) {
    let mut next = Instant::now();
    // The last result sent was a pass.
    let mut passing = false;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        if !wait.is_zero() && ended.recv_timeout(wait) != Err(RecvTimeoutError::Timeout) {
            return;
        }
        if running.lock().closed {
            return;
        }
        let config = config.lock().clone();
        // Without a check (a reload removed it) the watcher drops this soon.
        let Some(check) = &config.policy.healthcheck else {
            return;
        };
        let marker = crate::orphans::Marker {
            name: &instance.name(),
            run,
        };
        let result = check_once(&config, marker, running);
        // Dropped meanwhile (its check killed): the result is of no one's child.
        if running.lock().closed {
            return;
        }
        next = Instant::now() + check.interval;
        let repeat_pass = passing && result.is_ok();
        passing = result.is_ok();
        if !repeat_pass {
            instance.send(Command::HealthResult { pid, result });
        }
    }
}

/// Runs the program's check once: `Err` says why it failed, in words for
/// `status`. Every probe ends by `timeout`.
fn check_once(
    config: &ProgramConfig,
    marker: crate::orphans::Marker<'_>,
    running: &Running,
) -> Result<(), String> {
    let Some(check) = &config.policy.healthcheck else {
        return Ok(());
    };
    let deadline = Instant::now() + check.timeout;
    match &check.probe {
        Probe::Cmd { argv, .. } => {
            command::run(&config.launch, argv, marker, check.timeout, running)
        }
        Probe::Http(target) => net::http_get(target, deadline, check.timeout),
        Probe::Tcp { host, port } => net::tcp_connect(host, *port, deadline, check.timeout)
            .map(drop)
            .map_err(|e| format!("connect to {host}:{port}: {e}")),
    }
}
