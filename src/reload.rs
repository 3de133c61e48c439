//! Reload (README: Reload): re-read the file, diff it against the running configuration,
//! and apply only what changed. An invalid file changes nothing.
//!
//! Reloads never interleave (one lock), and a burst of SIGHUPs collapses into as
//! few reloads as it takes for the last one to start after the last signal: the
//! final state always matches the file as last written.

use std::path::PathBuf;
use std::sync::Arc;

use log::{info, warn};
use parking_lot::{Condvar, Mutex};

use crate::config::{self, ProgramChange};
use crate::control::server::{self, ServerHandle};
use crate::control::{socket, ConfigChange, Hooks, Reply};
use crate::eventlog::EventLog;
use crate::hub::{Event, Hub};
use crate::service_manager::ServiceManager;
use crate::supervisor::{Applied, AppliedChange, Supervisor};

mod part;

/// Whose words a reply to a configuration change speaks: `reload`'s own, or
/// supervisorctl's (`update`, `add`, `remove`), for scripts written for it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Words {
    Taskmaster,
    Supervisor,
}

pub struct Reloader {
    sup: Arc<Supervisor>,
    log: EventLog,
    /// `--socket` wins over the config's `socket`, so the socket never moves then.
    socket_override: Option<PathBuf>,
    /// The running control server, to move it when the socket path changes.
    server: Mutex<Option<(ServerHandle, Arc<Hooks>)>>,
    /// The `/metrics` listener, moved when its setting changes.
    metrics: crate::metrics::Endpoint,
    /// Told of each reload of the whole file (systemd's `RELOADING=1`, `READY=1`).
    service: Arc<ServiceManager>,
    /// Held for the whole of a reload.
    running: Mutex<()>,
    /// SIGHUPs not yet served.
    pending: Mutex<bool>,
    wake: Condvar,
}

impl Reloader {
    pub fn new(
        sup: Arc<Supervisor>,
        log: EventLog,
        socket_override: Option<PathBuf>,
        service: Arc<ServiceManager>,
    ) -> Reloader {
        Reloader {
            metrics: crate::metrics::Endpoint::new(sup.clone()),
            sup,
            log,
            socket_override,
            server: Mutex::new(None),
            service,
            running: Mutex::new(()),
            pending: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// Records the running server (after it started with hooks that point here).
    pub fn set_server(&self, handle: ServerHandle, hooks: Arc<Hooks>) {
        *self.server.lock() = Some((handle, hooks));
    }

    /// Starts the `/metrics` listener if the configuration asks for one.
    pub fn start_metrics(&self) -> Result<(), String> {
        self.metrics.start()
    }

    /// The clients following the event log (`maintail -f`).
    pub fn log_followers(&self) -> Arc<crate::eventlog::LogFollowers> {
        self.log.followers()
    }

    /// Runs `f` with no reload under way and none able to start, given the
    /// running server's listening socket and path (an upgrade in place hands
    /// them over).
    pub fn exclusive<R>(
        &self,
        f: impl FnOnce(Option<(std::os::fd::BorrowedFd<'_>, &std::path::Path)>) -> R,
    ) -> R {
        let _one = self.running.lock();
        let server = self.server.lock();
        f(server
            .as_ref()
            .map(|(h, _)| (h.listener(), h.path.as_path())))
    }

    /// The control socket's current path.
    pub fn socket_path(&self) -> Option<PathBuf> {
        self.server.lock().as_ref().map(|(h, _)| h.path.clone())
    }

    /// Asks for a reload from a signal: served by [`serve_requests`](Self::serve_requests).
    pub fn request(&self) {
        *self.pending.lock() = true;
        self.wake.notify_one();
    }

    /// The reload thread: one reload per burst of requests.
    pub fn serve_requests(&self) {
        loop {
            {
                let mut pending = self.pending.lock();
                while !*pending {
                    self.wake.wait(&mut pending);
                }
                *pending = false;
            }
            info!("reload requested by SIGHUP");
            let reply = self.reload_all(Words::Taskmaster);
            if reply.exit != 0 {
                crate::eventlog::sighup_reload_failed(self.sup.hub(), &reply.output);
            }
        }
    }

    /// Carries out a change asked for by a command (`reload`, `update`, `add`,
    /// `remove`).
    pub fn change(&self, change: &ConfigChange) -> Reply {
        match change {
            ConfigChange::Reload => self.reload_all(Words::Taskmaster),
            ConfigChange::Update(names) if names.is_empty() || names.iter().any(|n| n == "all") => {
                self.reload_all(Words::Supervisor)
            }
            _ => self.change_part(change),
        }
    }

    /// Re-reads the configuration file and applies the difference.
    fn reload_all(&self, words: Words) -> Reply {
        let _one_at_a_time = self.running.lock();
        // `READY=1` again when this returns, applied or not.
        let _reloading = self.service.reloading();
        let old = self.sup.config();
        let command = match words {
            Words::Taskmaster => "reload",
            Words::Supervisor => "update",
        };
        let new = match load(self.sup.hub(), &old, command) {
            Ok(c) => c,
            Err(reply) => return *reply,
        };
        for warning in &new.warnings {
            warn!("configuration: {warning}");
        }
        let plan = config::diff(&old, &new);
        // Everything that can fail in the program part first, before anything
        // changes: a reload is applied whole or not at all.
        let prepared = match self.sup.prepare(&plan, new.daemon.tail_buffer) {
            Ok(prepared) => prepared,
            Err(e) => return refused(self.sup.hub(), &e.to_string()),
        };
        let mut lines = Vec::new();
        if let Some(path) = &plan.logfile {
            match self.log.reopen(&new.daemon) {
                Ok(()) => lines.push(format!(
                    "taskmaster: event log moved to {} (rotation: {} bytes, {} backups)",
                    path.display(),
                    new.daemon.log_rotation.maxbytes,
                    new.daemon.log_rotation.backups
                )),
                Err(e) => lines.push(format!(
                    "taskmaster: ERROR ({e}); the event log stays where it was"
                )),
            }
        } else if let Err(e) = self.log.reopen(&new.daemon) {
            // Same settings: reopened all the same, so a file logrotate moved away
            // (or a directory removed and made again) is written anew.
            lines.push(format!(
                "taskmaster: ERROR (cannot reopen the event log: {e}); it stays where it was"
            ));
        }
        if let Some(configured) = &plan.socket {
            lines.push(self.move_socket(configured.as_deref()));
        }
        lines.extend(self.metrics.apply(new.daemon.metrics));
        for setting in &plan.settings {
            lines.push(format!(
                "taskmaster: {setting} updated (for what starts from now on)"
            ));
        }
        if new.daemon.http != old.daemon.http {
            lines.push(crate::web::SETTINGS_AT_START.to_string());
        }
        self.sup.hub().configure(&new.daemon);
        let counts = count(&plan.programs);
        // Only a file that says `programs: {}` loads with no program (an empty or
        // truncated one is an error), so this is what the user asked for: say it.
        let removes_every_program = new.programs.is_empty() && !old.programs.is_empty();
        let applied = self.sup.apply(&plan, new, prepared);
        let mut last = Vec::new();
        if removes_every_program {
            last.push("taskmaster: removed every program (the file says `programs: {}`)".into());
        }
        // The log in taskmaster's words; the reply in the command's.
        let logged = (lines.iter())
            .chain(&program_lines(&applied, Words::Taskmaster))
            .chain(&last)
            .map(|line| format!("reload: {line}"))
            .collect::<Vec<_>>();
        for line in logged {
            info!("{line}");
        }
        let lines: Vec<String> = (lines.into_iter())
            .chain(program_lines(&applied, words))
            .chain(last)
            .collect();
        let applied_line = format!(
            "reload applied: {} added, {} removed, {} changed, {} unchanged",
            counts.0, counts.1, counts.2, plan.unchanged
        );
        info!("{applied_line}");
        self.sup.hub().publish(&Event::Reloaded {
            text: &applied_line,
        });
        if lines.is_empty() {
            Reply::ok("No config updates to processes")
        } else {
            Reply::ok(lines.join("\n"))
        }
    }

    /// Reopens the event log at its configured path: after logrotate moved the file
    /// away (SIGUSR1, `reopen`), or its directory was removed and made again.
    pub fn reopen_log(&self) -> Reply {
        let _one_at_a_time = self.running.lock();
        let daemon = &self.sup.config().daemon;
        match self.log.reopen(daemon) {
            Ok(()) => {
                let text = format!("event log reopened: {}", daemon.logfile.display());
                info!("{text}");
                Reply::ok(format!("taskmaster: {text}"))
            }
            Err(e) => {
                let text = format!("cannot reopen the event log ({e}); it stays where it was");
                warn!("{text}");
                Reply::error(format!(
                    "taskmaster: ERROR ({e}); the event log stays where it was"
                ))
            }
        }
    }

    fn move_socket(&self, configured: Option<&std::path::Path>) -> String {
        if self.socket_override.is_some() {
            return "taskmaster: socket setting changed, but --socket on the command line keeps it where it is".into();
        }
        let path = socket::socket_path(None, configured);
        let mut server = self.server.lock();
        let Some((old, hooks)) = server.take() else {
            return "taskmaster: ERROR (no control server to move)".into();
        };
        if old.path == path {
            *server = Some((old, hooks));
            return format!("taskmaster: socket stays at {}", path.display());
        }
        let moved = socket::bind_control_socket(&path)
            .map_err(|e| e.to_string())
            .and_then(|listener| {
                server::start(listener, path.clone(), self.sup.clone(), hooks.clone())
            });
        match moved {
            Ok(new) => {
                old.stop();
                *server = Some((new, hooks));
                format!("taskmaster: socket moved to {}", path.display())
            }
            Err(e) => {
                *server = Some((old, hooks));
                format!("taskmaster: ERROR ({e}); the socket stays where it was")
            }
        }
    }
}

/// The configuration file, loaded for `command`; an invalid one is logged, told
/// to the hub (the `reload_failed` alert) and the error reply, nothing changed.
fn load(hub: &Hub, old: &config::Config, command: &str) -> Result<config::Config, Box<Reply>> {
    // The format the daemon started with (`--format`), not a guess from the file again.
    config::load_as(&old.file, Some(old.format)).map_err(|errors| {
        let text = errors.to_string().replace('\n', "; ");
        warn!("{command} failed, configuration unchanged: {text}");
        hub.publish(&Event::ReloadFailed {
            text: &format!("{command} failed, nothing changed: {text}"),
        });
        Box::new(Reply::error(format!(
            "ERROR ({command} failed; nothing changed)\n{errors}"
        )))
    })
}

/// One reply line per program changed, in `words`: taskmaster's own (`web:
/// added`, `api: restarted (cmd changed)`) or supervisorctl's (`web: added
/// process group`, `db: stopped` then `db: removed process group`, `api: updated
/// process group`, with what taskmaster did to it).
fn program_lines(applied: &[Applied], words: Words) -> Vec<String> {
    let mut lines = Vec::new();
    for Applied { program, change } in applied {
        match (words, change) {
            (Words::Taskmaster, AppliedChange::Added) => lines.push(format!("{program}: added")),
            (Words::Taskmaster, AppliedChange::Removed) => {
                lines.push(format!("{program}: removed"))
            }
            (Words::Taskmaster, AppliedChange::Changed(what)) => {
                lines.push(format!("{program}: {what}"))
            }
            (Words::Supervisor, AppliedChange::Added) => {
                lines.push(format!("{program}: added process group"))
            }
            (Words::Supervisor, AppliedChange::Removed) => {
                lines.push(format!("{program}: stopped"));
                lines.push(format!("{program}: removed process group"));
            }
            (Words::Supervisor, AppliedChange::Changed(what)) => {
                lines.push(format!("{program}: updated process group: {what}"))
            }
        }
    }
    lines
}

/// A reload that cannot be applied in full (no thread for a new instance): it
/// was not begun, and the reply and the log say what was refused.
fn refused(hub: &Hub, why: &str) -> Reply {
    warn!("reload refused, nothing changed: {why}");
    hub.publish(&Event::ReloadFailed {
        text: &format!("reload refused, nothing changed: {why}"),
    });
    Reply::error(format!("ERROR (reload refused; nothing changed)\n{why}"))
}

/// (added, removed, changed) programs.
fn count(changes: &[ProgramChange]) -> (usize, usize, usize) {
    changes
        .iter()
        .fold((0, 0, 0), |(a, r, c), change| match change {
            ProgramChange::Added(_) => (a + 1, r, c),
            ProgramChange::Removed(_) => (a, r + 1, c),
            ProgramChange::Changed { .. } => (a, r, c + 1),
        })
}
