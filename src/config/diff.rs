//! The reload plan (README: Reload): what must change between the running configuration
//! and a new one, as a pure function so every field's side of the launch/policy
//! line is unit-tested.
//!
//! Launch fields shape the process (a running instance must be restarted to take
//! them); policy fields only steer the watcher's next decisions and are applied in
//! place; `numprocs` adds or removes the highest-numbered instances.

use std::path::PathBuf;

use super::{Config, LaunchSpec, Policy, ProgramConfig};

/// What happens to one program.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgramChange {
    Added(ProgramConfig),
    Removed(String),
    Changed {
        config: ProgramConfig,
        /// Names of the changed launch fields: running instances restart.
        launch: Vec<&'static str>,
        /// Names of the changed policy fields: applied in place.
        policy: Vec<&'static str>,
        /// `(old, new)` numprocs when it changed.
        scale: Option<(u32, u32)>,
    },
}

impl ProgramChange {
    pub fn name(&self) -> &str {
        match self {
            ProgramChange::Added(c) | ProgramChange::Changed { config: c, .. } => &c.name,
            ProgramChange::Removed(name) => name,
        }
    }
}

/// Everything a reload must do; empty when the files are equivalent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReloadPlan {
    /// In name order; unchanged programs are absent.
    pub programs: Vec<ProgramChange>,
    /// The event log moves to this file.
    pub logfile: Option<PathBuf>,
    /// The control socket moves (`None` inside: back to the default path).
    pub socket: Option<Option<PathBuf>>,
    /// Names of daemon settings that changed and apply without further action
    /// (`tail_buffer` for instances created from now on, `history`, `detach_key`).
    pub settings: Vec<&'static str>,
    pub unchanged: usize,
}

impl ReloadPlan {
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
            && self.logfile.is_none()
            && self.socket.is_none()
            && self.settings.is_empty()
    }
}

/// The launch fields of `a` and `b` that differ.
pub fn launch_changes(a: &LaunchSpec, b: &LaunchSpec) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name, differs: bool| {
        if differs {
            out.push(name);
        }
    };
    check("cmd", a.argv != b.argv);
    check("env", a.env != b.env);
    check("workingdir", a.workingdir != b.workingdir);
    check("umask", a.umask != b.umask);
    check("stdout", a.stdout != b.stdout);
    check("stderr", a.stderr != b.stderr);
    check(
        "stdout_maxbytes/backups",
        a.stdout_rotation != b.stdout_rotation,
    );
    check(
        "stderr_maxbytes/backups",
        a.stderr_rotation != b.stderr_rotation,
    );
    check("pty", a.pty != b.pty);
    check("user", a.user != b.user);
    out
}

/// The policy fields of `a` and `b` that differ.
pub fn policy_changes(a: &Policy, b: &Policy) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name, differs: bool| {
        if differs {
            out.push(name);
        }
    };
    check("autostart", a.autostart != b.autostart);
    check("autorestart", a.autorestart != b.autorestart);
    check("exitcodes", a.exitcodes != b.exitcodes);
    check("startretries", a.startretries != b.startretries);
    check("backoff", a.backoff != b.backoff);
    check("priority", a.priority != b.priority);
    check(
        "depends_on",
        a.depends_on != b.depends_on || a.depends_on_healthy != b.depends_on_healthy,
    );
    check("starttime", a.starttime != b.starttime);
    check("stopsignal", a.stopsignal != b.stopsignal);
    check("stoptime", a.stoptime != b.stoptime);
    check("restart_throttle", a.restart_throttle != b.restart_throttle);
    check("max_memory", a.max_memory != b.max_memory);
    check("pidfile", a.pidfile != b.pidfile);
    check("healthcheck", a.healthcheck != b.healthcheck);
    out
}

/// The plan that turns `old` into `new`.
pub fn diff(old: &Config, new: &Config) -> ReloadPlan {
    let mut plan = ReloadPlan::default();
    for (name, before) in &old.programs {
        if !new.programs.contains_key(name) {
            plan.programs
                .push(ProgramChange::Removed(before.name.clone()));
        }
    }
    for (name, after) in &new.programs {
        let Some(before) = old.programs.get(name) else {
            plan.programs.push(ProgramChange::Added(after.clone()));
            continue;
        };
        let launch = launch_changes(&before.launch, &after.launch);
        let policy = policy_changes(&before.policy, &after.policy);
        let scale =
            (before.numprocs != after.numprocs).then_some((before.numprocs, after.numprocs));
        if launch.is_empty() && policy.is_empty() && scale.is_none() {
            plan.unchanged += 1;
        } else {
            plan.programs.push(ProgramChange::Changed {
                config: after.clone(),
                launch,
                policy,
                scale,
            });
        }
    }
    plan.programs.sort_by(|a, b| a.name().cmp(b.name()));

    let (a, b) = (&old.daemon, &new.daemon);
    if a.logfile != b.logfile || a.log_rotation != b.log_rotation || a.syslog != b.syslog {
        plan.logfile = Some(b.logfile.clone());
    }
    if a.socket != b.socket {
        plan.socket = Some(b.socket.clone());
    }
    if a.tail_buffer != b.tail_buffer {
        plan.settings.push("tail_buffer");
    }
    if a.history != b.history {
        plan.settings.push("history");
    }
    if a.detach_key != b.detach_key {
        plan.settings.push("detach_key");
    }
    if a.notify != b.notify {
        plan.settings.push("notify");
    }
    plan
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
