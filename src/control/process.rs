//! `start`, `stop`, `restart`: several names go in batches of equal priority, in
//! parallel within a batch, in the order `Supervisor::start_in_order` and
//! `stop_in_order` give (README: Process states).

use std::collections::HashSet;
use std::sync::Arc;

use log::info;

use super::{Reply, Source};
use crate::supervisor::Supervisor;
use crate::watch::{Command, Instance, SignalOutcome, StartOutcome, State, StopOutcome};

/// Collects reply lines and the worst exit code.
#[derive(Default)]
struct Outcome {
    lines: Vec<String>,
    failed: bool,
    /// Instances named on their own: only they say "not running" or "already
    /// started"; under a group address (`all`, `NAME:*`) those are left out.
    singly: HashSet<String>,
}

impl Outcome {
    fn line(&mut self, name: &str, text: &str) {
        self.lines.push(format!("{name}: {text}"));
    }
    fn error(&mut self, line: String) {
        self.lines.push(line);
        self.failed = true;
    }
    fn reply(self) -> Reply {
        let text = self.lines.join("\n");
        if self.failed {
            Reply::error(text)
        } else {
            Reply::ok(text)
        }
    }
}

/// The instances named by `args`; unknown names become error lines in `out`.
/// `None` when no name was given at all (a usage error).
fn targets(
    sup: &Arc<Supervisor>,
    args: &[String],
    out: &mut Outcome,
) -> Option<Vec<Arc<Instance>>> {
    if args.is_empty() {
        return None;
    }
    let mut errors = Vec::new();
    let found = super::resolve(sup, args, &mut errors);
    errors.into_iter().for_each(|e| out.error(e));
    out.singly = super::named_singly(sup, args);
    Some(found)
}

fn needs_name(cmd: &str) -> Reply {
    Reply::usage(format!(
        "Error: {cmd} requires a process name (NAME, NAME:K or all)"
    ))
}

pub fn start(sup: &Arc<Supervisor>, args: &[String]) -> Reply {
    let mut out = Outcome::default();
    let Some(instances) = targets(sup, args, &mut out) else {
        return needs_name("start");
    };
    start_all(sup, &instances, &mut out);
    out.reply()
}

pub fn stop(sup: &Arc<Supervisor>, args: &[String]) -> Reply {
    let mut out = Outcome::default();
    let Some(instances) = targets(sup, args, &mut out) else {
        return needs_name("stop");
    };
    stop_all(sup, &instances, &mut out, false);
    out.reply()
}

pub fn restart(sup: &Arc<Supervisor>, args: &[String]) -> Reply {
    let mut out = Outcome::default();
    let Some(instances) = targets(sup, args, &mut out) else {
        return needs_name("restart");
    };
    stop_all(sup, &instances, &mut out, true);
    start_all(sup, &instances, &mut out);
    out.reply()
}

/// Spawns in priority and dependency order (`Supervisor::start_in_order`), then
/// waits for each to leave STARTING.
fn start_all(sup: &Supervisor, instances: &[Arc<Instance>], out: &mut Outcome) {
    let mut to_start = Vec::new();
    for instance in instances {
        if instance.status().state.is_started() {
            if out.singly.contains(&instance.name()) {
                out.line(&instance.name(), "ERROR (already started)");
            }
        } else {
            to_start.push(instance.clone());
        }
    }
    for ticket in sup.start_in_order(&to_start) {
        let instance = ticket.instance();
        // Another client's stop (or restart) handled meanwhile ends the wait too.
        match start_verdict(&ticket.wait()) {
            Ok(()) => match orphan_warning(sup, instance) {
                Some(warning) => out.line(&instance.name(), &warning),
                None => out.line(&instance.name(), "started"),
            },
            Err(why) => out.error(format!("{}: ERROR ({why})", instance.name())),
        }
    }
}

/// Stops the processes a previous taskmaster run left for `instance` (it was held
/// back for them: see `journal`), each checked by its journal identity, with the
/// program's stopsignal and stoptime. Whether there were any.
fn stop_orphans(sup: &Supervisor, instance: &Instance, out: &mut Outcome) -> bool {
    let name = instance.name();
    let orphans = sup.hub().journal().orphans_of(&name);
    if orphans.is_empty() {
        return false;
    }
    let (signal, grace) = match sup.config().programs.get(&instance.program) {
        Some(p) => (p.policy.stopsignal, p.policy.stoptime),
        None => (
            nix::sys::signal::Signal::SIGTERM,
            std::time::Duration::from_secs(10),
        ),
    };
    for pid in orphans {
        if sup.hub().journal().stop_orphan(pid, signal, grace) {
            info!("stopped: {name}'s process from a previous taskmaster run (pid {pid})");
            out.line(&name, &format!("stopped (pid {pid} of a previous run)"));
        }
    }
    instance.send(Command::Note("Not started".to_string()));
    true
}

/// What a manual start of `instance` says when a previous run's process of it
/// still lives: started all the same, but the user should know there are two.
fn orphan_warning(sup: &Supervisor, instance: &Instance) -> Option<String> {
    let orphans = sup.hub().journal().orphans_of(&instance.name());
    let pids: Vec<String> = orphans.iter().map(|p| p.to_string()).collect();
    (!pids.is_empty()).then(|| {
        log::warn!(
            "{}: started while pid {} of a previous taskmaster run still runs",
            instance.name(),
            pids.join(", ")
        );
        format!(
            "started (warning: pid {} of a previous run is still running; `stop {}` stops it)",
            pids.join(", "),
            instance.name()
        )
    })
}

/// The verdict on an instance whose watcher failed (`watch::watcher::crash`).
const CRASHED: &str = "internal error, see the log";

/// supervisorctl's verdicts: RUNNING is success; a start that failed to exec is a
/// spawn error; one that died before `starttime` an abnormal termination.
fn start_verdict(outcome: &StartOutcome) -> Result<(), &'static str> {
    match outcome {
        StartOutcome::Running => Ok(()),
        StartOutcome::Cancelled | StartOutcome::Stopped => Err("start cancelled by a later stop"),
        StartOutcome::Crashed => Err(CRASHED),
        StartOutcome::Removed => Err("removed"),
        StartOutcome::SpawnError(_) | StartOutcome::Throttled => Err("spawn error"),
        StartOutcome::ExitedTooQuickly => Err("abnormal termination"),
    }
}

/// Stops in dependency and priority order (`Supervisor::stop_in_order`).
/// `quiet_if_stopped`: restart says nothing for an instance that was not running.
fn stop_all(
    sup: &Supervisor,
    instances: &[Arc<Instance>],
    out: &mut Outcome,
    quiet_if_stopped: bool,
) {
    let mut to_stop = Vec::new();
    for instance in instances {
        let state = instance.status().state;
        // A previous run's process of it goes too (it was held back for it, or
        // started beside it with a warning).
        let had_orphans = stop_orphans(sup, instance, out);
        if state.is_started() || state == State::Stopping {
            to_stop.push(instance.clone());
        } else if !had_orphans && !quiet_if_stopped && out.singly.contains(&instance.name()) {
            out.line(&instance.name(), "ERROR (not running)");
        }
    }
    for ticket in sup.stop_in_order(&to_stop) {
        let instance = ticket.instance();
        // Done already (in order); once STOPPING is over the stop is done, even
        // if another client's start has already brought up a new process.
        match ticket.wait() {
            StopOutcome::Crashed => out.error(format!("{}: ERROR ({CRASHED})", instance.name())),
            StopOutcome::Stopped => out.line(&instance.name(), "stopped"),
        }
    }
}

/// `signal SIG NAME...`: through each instance's watcher, which signals its own
/// live child's group, so a recycled pid can never be hit.
/// Each signal sent is logged with the instance, its pid and who asked.
pub fn signal(sup: &Arc<Supervisor>, args: &[String], source: &Source) -> Reply {
    let [sig, names @ ..] = args else {
        return Reply::usage("Error: signal requires a signal name and a process name");
    };
    if names.is_empty() {
        return Reply::usage("Error: signal requires a process name");
    }
    let Some(signal) = crate::sys::signals::parse_signal(sig) else {
        return Reply::usage(format!("ERROR (bad signal name): {sig}"));
    };
    let mut out = Outcome::default();
    let mut errors = Vec::new();
    let instances = super::resolve(sup, names, &mut errors);
    errors.into_iter().for_each(|e| out.error(e));
    let mut pending = Vec::new();
    for instance in instances {
        // The child the watcher holds now is the one it signals.
        let pid = instance.status().pid;
        let ticket = instance.signal(signal);
        pending.push((instance, pid, ticket));
    }
    for (instance, pid, ticket) in pending {
        let name = instance.name();
        let result = ticket.wait();
        match (&result, pid) {
            (SignalOutcome::Sent, Some(pid)) => {
                info!(
                    "signal: {sig} sent to {name} (pid {pid}), requested by {source}",
                    sig = signal.as_str()
                )
            }
            (SignalOutcome::Sent, None) => {
                info!(
                    "signal: {sig} sent to {name}, requested by {source}",
                    sig = signal.as_str()
                )
            }
            (SignalOutcome::NotRunning, _) => info!(
                "signal: {sig} not sent to {name} (not running), requested by {source}",
                sig = signal.as_str()
            ),
            (SignalOutcome::Failed(why), _) => info!(
                "signal: {sig} not sent to {name} ({why}), requested by {source}",
                sig = signal.as_str()
            ),
            (SignalOutcome::Removed, _) => {}
        }
        match result {
            SignalOutcome::Sent => out.line(&instance.name(), "signalled"),
            SignalOutcome::NotRunning => out.line(&instance.name(), "ERROR (not running)"),
            SignalOutcome::Failed(why) => out.error(format!("{}: ERROR ({why})", instance.name())),
            SignalOutcome::Removed => out.error(format!("{}: ERROR (removed)", instance.name())),
        }
    }
    out.reply()
}

/// `pid`: taskmaster's own; `pid NAME...`: one line per instance, 0 if not running.
pub fn pid(sup: &Arc<Supervisor>, args: &[String]) -> Reply {
    if args.is_empty() {
        return Reply::ok(std::process::id().to_string());
    }
    let mut out = Outcome::default();
    let mut errors = Vec::new();
    let instances = super::resolve(sup, args, &mut errors);
    let single = instances.len() == 1 && errors.is_empty();
    for instance in instances {
        let pid = instance.status().pid.unwrap_or(0);
        if single {
            out.lines.push(pid.to_string());
        } else {
            out.line(&instance.name(), &pid.to_string());
        }
    }
    errors.into_iter().for_each(|e| out.error(e));
    out.reply()
}
