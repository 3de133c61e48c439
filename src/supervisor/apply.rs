//! Applying a reload plan (README: Reload), all or nothing.
//!
//! Two steps. [`Supervisor::prepare`] does everything that can fail — it creates
//! every new instance and its watcher thread — without touching the registry or
//! sending a command to any running instance; if one creation fails, the ones
//! made are discarded (their watchers never started a child, so they end at once)
//! and the error names the instance refused: nothing has changed. Only then does
//! [`Supervisor::apply`] change the registry and send the commands, which cannot
//! fail. A reload can therefore never be half applied.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{discard, ProgramEntry, Supervisor, SupervisorError, Waiting};
use crate::config::{Config, ProgramChange, ProgramConfig, ReloadPlan};
use crate::watch::handle::RemovalTicket;
use crate::watch::{Command, Instance, StartTicket, State};

/// What a reload did to one program, for the reply's words (`reload`'s and
/// `update`'s differ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub program: String,
    pub change: AppliedChange,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppliedChange {
    Added,
    /// Stopped, then forgotten.
    Removed,
    /// Updated: what was done, in taskmaster's words (`restarted (cmd changed)`,
    /// `updated in place (stoptime changed)`, `scaled 2 -> 4`).
    Changed(String),
}

/// A reload step whose end a reload waits for, outside the registry lock.
enum Pending {
    /// Removed: wait until the watcher has stopped its child and ended.
    Gone(RemovalTicket),
    /// Started or restarted: wait until spawned, after any stop.
    Settled(StartTicket),
}

/// The instances a reload needs, created before anything changes. Dropped
/// unused (the reload abandoned), their watchers are ended.
#[derive(Default)]
pub struct Prepared {
    /// Programs added, by name.
    added: BTreeMap<String, ProgramEntry>,
    /// Instances added to programs that grow, by program name, in index order.
    grown: BTreeMap<String, Vec<Arc<Instance>>>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let added = std::mem::take(&mut self.added);
        let grown = std::mem::take(&mut self.grown);
        let unused: Vec<Arc<Instance>> = added
            .into_values()
            .flat_map(|e| e.instances)
            .chain(grown.into_values().flatten())
            .collect();
        discard(&unused);
    }
}

impl Supervisor {
    /// Creates every instance `plan` adds (new programs, programs that grow), with
    /// their watchers, changing nothing else. On failure, nothing was created.
    pub fn prepare(
        &self,
        plan: &ReloadPlan,
        tail_buffer: usize,
    ) -> Result<Prepared, SupervisorError> {
        // How many instances each growing program has now: new ones follow.
        let counts: BTreeMap<&str, u32> = {
            let programs = self.programs.lock();
            plan.programs
                .iter()
                .filter_map(|change| match change {
                    ProgramChange::Changed { config, .. } => programs
                        .get(&config.name)
                        .map(|e| (config.name.as_str(), e.instances.len() as u32)),
                    _ => None,
                })
                .collect()
        };
        // Dropped on an early return: what was made so far is discarded.
        let mut prepared = Prepared::default();
        for change in &plan.programs {
            match change {
                ProgramChange::Added(config) => {
                    let entry = self.create_program(config, tail_buffer)?;
                    prepared.added.insert(config.name.clone(), entry);
                }
                ProgramChange::Changed { config, .. } => {
                    let Some(&from) = counts.get(config.name.as_str()) else {
                        continue;
                    };
                    let config = Arc::new(config.clone());
                    let new = self.create_instances(&config, from, tail_buffer)?;
                    if !new.is_empty() {
                        prepared.grown.insert(config.name.clone(), new);
                    }
                }
                ProgramChange::Removed(_) => {}
            }
        }
        Ok(prepared)
    }

    /// Applies a reload plan (README: Reload) with the instances [`prepare`](Self::prepare)
    /// made for it, and returns what it did to each affected program. Cannot fail.
    /// Replies once removed instances are stopped and new or restarted ones
    /// spawned, without waiting for their starttime.
    pub fn apply(
        &self,
        plan: &ReloadPlan,
        new_config: Config,
        mut prepared: Prepared,
    ) -> Vec<Applied> {
        let mut pending = Vec::new();
        let mut applied = Vec::new();
        {
            let mut programs = self.programs.lock();
            for change in &plan.programs {
                let done = match change {
                    ProgramChange::Added(config) => {
                        let Some(entry) = prepared.added.remove(&config.name) else {
                            continue;
                        };
                        if config.policy.autostart && !config.policy.depends_on.is_empty() {
                            self.pending
                                .lock()
                                .insert(config.name.clone(), Waiting::default());
                        } else if config.policy.autostart {
                            for i in &entry.instances {
                                pending.push(Pending::Settled(i.start()));
                            }
                        }
                        programs.insert(config.name.clone(), entry);
                        AppliedChange::Added
                    }
                    ProgramChange::Removed(name) => {
                        // Listed (STOPPING) until stopped, then forgotten below.
                        if let Some(entry) = programs.get(name) {
                            for i in &entry.instances {
                                pending.push(Pending::Gone(i.remove()));
                            }
                        }
                        AppliedChange::Removed
                    }
                    ProgramChange::Changed {
                        config,
                        launch,
                        policy,
                        scale,
                    } => {
                        let Some(entry) = programs.get_mut(&config.name) else {
                            continue;
                        };
                        let grown = prepared.grown.remove(&config.name).unwrap_or_default();
                        let change = Change {
                            config,
                            launch,
                            policy,
                            scale: *scale,
                        };
                        AppliedChange::Changed(change_program(entry, &change, grown, &mut pending))
                    }
                };
                applied.push(Applied {
                    program: change.name().to_string(),
                    change: done,
                });
            }
        }
        *self.config.lock() = Arc::new(new_config);
        for p in pending {
            match p {
                Pending::Gone(removal) => removal.wait(),
                Pending::Settled(start) => start.spawned(),
            }
        }
        // Forget what has stopped for good: removed programs and scaled-down instances.
        let mut programs = self.programs.lock();
        for change in &plan.programs {
            if let ProgramChange::Removed(name) = change {
                programs.remove(name);
            }
        }
        for entry in programs.values_mut() {
            // A crashed instance stays listed (FATAL, with the reason) until restart.
            entry.instances.retain(|i| {
                let s = i.status();
                !s.finished || s.crashed
            });
        }
        drop(programs);
        self.schedule();
        applied
    }
}

/// What changed in one program.
struct Change<'a> {
    config: &'a ProgramConfig,
    launch: &'a [&'static str],
    policy: &'a [&'static str],
    scale: Option<(u32, u32)>,
}

/// Updates one program's entry in place, `grown` being its new instances (made
/// by `prepare`); returns its reply text.
fn change_program(
    entry: &mut ProgramEntry,
    change: &Change,
    grown: Vec<Arc<Instance>>,
    pending: &mut Vec<Pending>,
) -> String {
    let config = Arc::new(change.config.clone());
    entry.config = config.clone();
    let mut parts = Vec::new();
    // Scale down: the highest-numbered instances go (they stay listed, STOPPING,
    // until stopped; `apply` forgets them then).
    let keep = config.numprocs as usize;
    for i in entry.instances.iter().skip(keep) {
        pending.push(Pending::Gone(i.remove()));
    }
    let mut restarted = 0;
    for (index, i) in entry.instances.iter().take(keep).enumerate() {
        i.rename(config.instance_name(index as u32));
        i.send(Command::Update(config.clone()));
        // A running instance takes a new launch spec by restarting; the start
        // happens once the stop is complete.
        if !change.launch.is_empty() && matches!(i.status().state, State::Starting | State::Running)
        {
            pending.push(Pending::Settled(i.restart()));
            restarted += 1;
        }
    }
    // Scale up: the new instances at the end. They were created with the new
    // config already.
    for i in grown {
        if config.policy.autostart {
            pending.push(Pending::Settled(i.start()));
        }
        entry.instances.push(i);
    }
    if let Some((old, new)) = change.scale {
        parts.push(format!("scaled {old} -> {new}"));
    }
    if !change.launch.is_empty() {
        let fields = change.launch.join(", ");
        parts.push(match restarted {
            0 => format!("updated ({fields} changed; nothing was running)"),
            _ => format!("restarted ({fields} changed)"),
        });
    }
    if !change.policy.is_empty() {
        parts.push(format!(
            "updated in place ({} changed)",
            change.policy.join(", ")
        ));
    }
    parts.join(", ")
}
