//! Running health checks (README: Health checks) off the watcher's thread.
//!
//! A check may take up to its `timeout` — a command that hangs, a server that
//! does not answer — and the watcher must answer commands meanwhile. So each
//! instance whose checks are due has a small `health:NAME` thread, made at its
//! first check and ended when no check is due any more (its child stopped or
//! exited, its healthcheck removed by a reload). The watcher asks it for one
//! check at a time (a channel of one), on the instance's own schedule; the
//! thread runs the probe, bounded by the timeout, and sends the result back
//! through the instance's inbox, which wakes the watcher like a command. An idle
//! checker blocks on its channel: no timer.
//!
//! Dropping the [`Checker`] ends the thread after the check under way, and kills
//! a check command still running (its whole process group), so no check
//! outlives the child it was for.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::instance::{Command, Instance};
use crate::config::{ProgramConfig, Probe};

mod command;
mod net;

/// One check to run: of child `pid`, as its program's config says.
struct Request {
    pid: i32,
    config: Arc<ProgramConfig>,
}

/// What the watcher's side and the checker thread share.
#[derive(Default)]
struct Slot {
    /// The pid of the check command running now, if any: its process group is
    /// SIGKILLed through this when the checker is dropped. The checker thread
    /// clears it (under the lock) before it reaps the command, so the pid still
    /// names that command's group whenever the slot holds it.
    pid: Option<i32>,
    /// The checker was dropped: a request still queued is not run.
    closed: bool,
}

type Running = Arc<Mutex<Slot>>;

/// The watcher's handle on its instance's checker thread.
pub struct Checker {
    requests: SyncSender<Request>,
    running: Running,
}

impl Checker {
    /// Starts the checker thread of `instance`.
    pub fn start(instance: &Arc<Instance>) -> std::io::Result<Checker> {
        let (requests, rx) = std::sync::mpsc::sync_channel(1);
        let running = Running::default();
        let (for_thread, instance) = (running.clone(), instance.clone());
        std::thread::Builder::new()
            .name(format!("health:{}", instance.name()))
            .stack_size(crate::stack::THREAD_STACK)
            .spawn(move || serve(&instance, &rx, &for_thread))?;
        Ok(Checker { requests, running })
    }

    /// Asks for a check of child `pid`; false when the thread has ended. The
    /// machine asks one at a time, so the channel of one is never full (a full
    /// one would mean a check is already under way: nothing to add).
    pub fn ask(&self, pid: i32, config: Arc<ProgramConfig>) -> bool {
        match self.requests.try_send(Request { pid, config }) {
            Ok(()) | Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        command::kill_running(&self.running);
    }
}

/// The checker thread: one check per request until the watcher drops its end.
fn serve(instance: &Instance, requests: &Receiver<Request>, running: &Running) {
    for request in requests {
        if running.lock().closed {
            return;
        }
        let result = run(&request.config, running);
        instance.send(Command::HealthResult {
            pid: request.pid,
            result,
        });
    }
}

/// Runs the program's check once: `Err` says why it failed, in words for
/// `status`. Every probe ends by `timeout`.
fn run(config: &ProgramConfig, running: &Running) -> Result<(), String> {
    let Some(check) = &config.policy.healthcheck else {
        return Ok(());
    };
    let deadline = Instant::now() + check.timeout;
    match &check.probe {
        Probe::Cmd { argv, .. } => command::run(&config.launch, argv, check.timeout, running),
        Probe::Http(target) => net::http_get(target, deadline, check.timeout),
        Probe::Tcp { host, port } => net::tcp_connect(host, *port, deadline, check.timeout)
            .map(drop)
            .map_err(|e| format!("connect to {host}:{port}: {e}")),
    }
}
