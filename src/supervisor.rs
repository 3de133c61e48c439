//! The registry of programs and their instances, shared by every transport.
//!
//! Locking rule: the `programs` lock is held only to read or change the registry,
//! never while waiting on an instance; an instance's own locks (status, inbox) may be
//! taken while holding it, never the other way round.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::{Config, ProgramChange, ProgramConfig, ReloadPlan};
use crate::watch::{start_watcher, Command, Instance, State};

mod order;
mod sequence;

use sequence::Waiting;

/// A reload step whose end a reload waits for, outside the registry lock.
enum Pending {
    /// Removed: wait until the watcher has stopped its child and ended.
    Gone(Arc<Instance>),
    /// Started or restarted: wait until the command was applied and any stop done.
    Settled(Arc<Instance>, u64),
}

/// One program and its instances, index order.
pub struct ProgramEntry {
    pub config: Arc<ProgramConfig>,
    pub instances: Vec<Arc<Instance>>,
}

pub struct Supervisor {
    config: Mutex<Arc<Config>>,
    programs: Mutex<BTreeMap<String, ProgramEntry>>,
    /// Programs waiting for their automatic start (for their dependencies, or
    /// for their turn), with the note their instances show meanwhile. Taken after
    /// `programs`.
    pending: Mutex<BTreeMap<String, Waiting>>,
    /// Held through a whole sequence of ordered starts (`sequence.rs`), so two
    /// never interleave their batches. Taken before `programs`, held across waits
    /// for spawns (which take no supervisor lock).
    starting: Mutex<()>,
    /// The shutdown has begun: no automatic start any more.
    shutting_down: AtomicBool,
}

/// Wakes the dependency scheduler (see [`Supervisor::schedule`]).
static SCHEDULER: std::sync::OnceLock<std::sync::mpsc::Sender<()>> = std::sync::OnceLock::new();

/// An instance entered RUNNING or FATAL: programs waiting on it may start, or learn
/// why they keep waiting. Called by watchers after they publish.
pub fn dependency_changed() {
    if let Some(tx) = SCHEDULER.get() {
        let _ = tx.send(());
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start the watcher thread of {name}: {source}")]
pub struct SupervisorError {
    name: String,
    source: std::io::Error,
}

impl Supervisor {
    /// Creates every instance and its watcher; nothing is started yet.
    pub fn new(config: Config) -> Result<Arc<Supervisor>, SupervisorError> {
        let sup = Arc::new(Supervisor {
            programs: Mutex::new(BTreeMap::new()),
            config: Mutex::new(Arc::new(config.clone())),
            pending: Mutex::new(BTreeMap::new()),
            starting: Mutex::new(()),
            shutting_down: AtomicBool::new(false),
        });
        for program in config.programs.values() {
            let entry = sup.create_program(program, config.daemon.tail_buffer)?;
            sup.programs.lock().insert(program.name.clone(), entry);
        }
        Ok(sup)
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.lock().clone()
    }

    fn create_program(
        &self,
        program: &ProgramConfig,
        tail_buffer: usize,
    ) -> Result<ProgramEntry, SupervisorError> {
        let config = Arc::new(program.clone());
        let mut instances = Vec::with_capacity(program.numprocs as usize);
        for index in 0..program.numprocs {
            instances.push(Self::create_instance(&config, index, tail_buffer)?);
        }
        Ok(ProgramEntry { config, instances })
    }

    fn create_instance(
        config: &Arc<ProgramConfig>,
        index: u32,
        tail_buffer: usize,
    ) -> Result<Arc<Instance>, SupervisorError> {
        let name = config.instance_name(index);
        let instance = Instance::new(name.clone(), config.name.clone(), index, tail_buffer)
            .map_err(|e| SupervisorError {
                name: name.clone(),
                source: e.into(),
            })?;
        let instance = Arc::new(instance);
        start_watcher(instance.clone(), config.clone())
            .map_err(|source| SupervisorError { name, source })?;
        Ok(instance)
    }

    /// Every instance, by program name then index.
    pub fn instances(&self) -> Vec<Arc<Instance>> {
        self.programs
            .lock()
            .values()
            .flat_map(|e| e.instances.iter().cloned())
            .collect()
    }

    /// Instance names for completion and help.
    pub fn names(&self) -> Vec<String> {
        let programs = self.programs.lock();
        let mut names = Vec::new();
        for (name, entry) in programs.iter() {
            if entry.instances.len() > 1 || entry.config.numprocs > 1 {
                names.push(name.clone());
            }
            names.extend(entry.instances.iter().map(|i| i.name()));
        }
        names
    }

    /// Resolves command arguments per SPEC §3: `all`, `NAME` (every instance of the
    /// program), `NAME:K`, `NAME:*` or `NAME:` (every instance, as supervisorctl). Each unknown name is an error of its own;
    /// an instance named twice is listed once.
    pub fn resolve(&self, names: &[String]) -> Vec<Result<Arc<Instance>, String>> {
        let programs = self.programs.lock();
        let mut out: Vec<Result<Arc<Instance>, String>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut push = |out: &mut Vec<_>, inst: &Arc<Instance>| {
            if seen.insert(inst.name()) {
                out.push(Ok(inst.clone()));
            }
        };
        for name in names {
            if name == "all" {
                for inst in programs.values().flat_map(|e| &e.instances) {
                    push(&mut out, inst);
                }
                continue;
            }
            let (program, index) = match name.split_once(':') {
                Some((p, i)) => (p, Some(i)),
                None => (name.as_str(), None),
            };
            let Some(entry) = programs.get(program) else {
                out.push(Err(name.clone()));
                continue;
            };
            match index {
                None | Some("*" | "") => entry.instances.iter().for_each(|i| push(&mut out, i)),
                Some(_) => match entry.instances.iter().find(|i| i.name() == *name) {
                    Some(inst) => push(&mut out, inst),
                    None => out.push(Err(name.clone())),
                },
            }
        }
        out
    }

    /// Applies a reload plan (SPEC §7) and returns one line per affected program.
    /// Replies once removed instances are stopped and new or restarted ones spawned,
    /// without waiting for their starttime.
    pub fn apply(
        &self,
        plan: &ReloadPlan,
        new_config: Config,
    ) -> Result<Vec<String>, SupervisorError> {
        let tail_buffer = new_config.daemon.tail_buffer;
        let mut pending = Vec::new();
        let mut lines = Vec::new();
        {
            let mut programs = self.programs.lock();
            for change in &plan.programs {
                let line = match change {
                    ProgramChange::Added(config) => {
                        let entry = self.create_program(config, tail_buffer)?;
                        if config.policy.autostart && !config.policy.depends_on.is_empty() {
                            self.pending
                                .lock()
                                .insert(config.name.clone(), Waiting::default());
                        } else if config.policy.autostart {
                            for i in &entry.instances {
                                pending.push(Pending::Settled(i.clone(), i.send(Command::Start)));
                            }
                        }
                        programs.insert(config.name.clone(), entry);
                        "added".to_string()
                    }
                    ProgramChange::Removed(name) => {
                        // Listed (STOPPING) until stopped, then forgotten below.
                        if let Some(entry) = programs.get(name) {
                            for i in &entry.instances {
                                i.send(Command::Remove);
                                pending.push(Pending::Gone(i.clone()));
                            }
                        }
                        "removed".to_string()
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
                        Self::change_program(
                            entry,
                            config,
                            launch,
                            policy,
                            *scale,
                            tail_buffer,
                            &mut pending,
                        )?
                    }
                };
                lines.push(format!("{}: {line}", change.name()));
            }
        }
        *self.config.lock() = Arc::new(new_config);
        for p in pending {
            match p {
                Pending::Gone(i) => {
                    i.wait_for(u64::MAX, |_| false);
                }
                Pending::Settled(i, seq) => {
                    i.wait_for(seq, |s| s.state != State::Stopping);
                }
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
        Ok(lines)
    }

    /// Updates one program's entry in place; returns its reply text.
    fn change_program(
        entry: &mut ProgramEntry,
        config: &ProgramConfig,
        launch: &[&'static str],
        policy: &[&'static str],
        scale: Option<(u32, u32)>,
        tail_buffer: usize,
        pending: &mut Vec<Pending>,
    ) -> Result<String, SupervisorError> {
        let config = Arc::new(config.clone());
        entry.config = config.clone();
        let mut parts = Vec::new();
        // Scale down: the highest-numbered instances go (they stay listed, STOPPING,
        // until stopped; `apply` forgets them then).
        let keep = config.numprocs as usize;
        for i in entry.instances.iter().skip(keep) {
            i.send(Command::Remove);
            pending.push(Pending::Gone(i.clone()));
        }
        let mut restarted = 0;
        for (index, i) in entry.instances.iter().take(keep).enumerate() {
            i.rename(config.instance_name(index as u32));
            i.send(Command::Update(config.clone()));
            // A running instance takes a new launch spec by restarting; Stop then
            // Start queue up, the start happening once the stop is complete.
            if !launch.is_empty() && matches!(i.status().state, State::Starting | State::Running) {
                i.send(Command::Stop);
                pending.push(Pending::Settled(i.clone(), i.send(Command::Start)));
                restarted += 1;
            }
        }
        // Scale up: new instances at the end.
        for index in entry.instances.len() as u32..config.numprocs {
            let i = Self::create_instance(&config, index, tail_buffer)?;
            if config.policy.autostart {
                pending.push(Pending::Settled(i.clone(), i.send(Command::Start)));
            }
            entry.instances.push(i);
        }
        if let Some((old, new)) = scale {
            parts.push(format!("scaled {old} -> {new}"));
        }
        if !launch.is_empty() {
            let fields = launch.join(", ");
            parts.push(match restarted {
                0 => format!("updated ({fields} changed; nothing was running)"),
                _ => format!("restarted ({fields} changed)"),
            });
        }
        if !policy.is_empty() {
            parts.push(format!("updated in place ({} changed)", policy.join(", ")));
        }
        Ok(parts.join(", "))
    }

    /// SIGKILL to every process group still alive (second SIGINT/SIGTERM).
    pub fn kill_all(&self) {
        for instance in self.instances() {
            instance.send(Command::KillNow);
        }
    }
}
