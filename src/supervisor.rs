//! The registry of programs and their instances, shared by every transport.
//!
//! Locking rule: the `programs` lock is held only to read or change the registry,
//! never while waiting on an instance; an instance's own locks (status, inbox) may be
//! taken while holding it, never the other way round.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::{Config, ProgramChange, ProgramConfig, ReloadPlan};
use crate::watch::{start_watcher, Command, Instance, State};

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
    /// Programs waiting for their dependencies before their automatic start, with
    /// the note their instances show meanwhile. Taken after `programs`.
    pending: Mutex<BTreeMap<String, String>>,
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

    /// Sends `Start` to every instance of every `autostart` program, except those
    /// named in `skip` (their process from a previous run is still alive).
    /// Lower `priority` first; a program with `depends_on` waits (see `schedule`).
    /// Returns the starts it queued, for whoever must not act before they apply.
    pub fn autostart(&self, skip: &[(String, String)]) -> Vec<(Arc<Instance>, u64)> {
        let mut queued = Vec::new();
        {
            let programs = self.programs.lock();
            let mut order: Vec<&ProgramEntry> = programs.values().collect();
            order.sort_by_key(|e| e.config.policy.priority);
            for entry in order {
                let waits = !entry.config.policy.depends_on.is_empty();
                if entry.config.policy.autostart && waits {
                    self.pending
                        .lock()
                        .insert(entry.config.name.clone(), String::new());
                }
                for instance in &entry.instances {
                    let name = instance.name();
                    match skip.iter().find(|(n, _)| *n == name) {
                        Some((_, why)) => {
                            instance.send(Command::Note(why.clone()));
                        }
                        None if entry.config.policy.autostart && !waits => {
                            queued.push((instance.clone(), instance.send(Command::Start)));
                        }
                        None => {}
                    }
                }
            }
        }
        self.schedule();
        queued
    }

    /// Starts the waiting programs whose dependencies all run; tells the others
    /// what they wait for (shown by `status`).
    pub fn schedule(&self) {
        let programs = self.programs.lock();
        let mut pending = self.pending.lock();
        pending.retain(|name, shown| {
            let Some(entry) = programs.get(name) else {
                return false;
            };
            let mut waiting = None;
            for dep in &entry.config.policy.depends_on {
                // A dependency removed by a reload no longer holds anything back.
                let Some(d) = programs.get(dep) else { continue };
                let states: Vec<State> = d.instances.iter().map(|i| i.status().state).collect();
                if !states.iter().all(|s| *s == State::Running) {
                    let fatal = states.contains(&State::Fatal);
                    waiting = Some(match fatal {
                        true => format!("Waiting for {dep}, which is FATAL"),
                        false => format!("Waiting for {dep} to be RUNNING"),
                    });
                    break;
                }
            }
            match waiting {
                None => {
                    entry.instances.iter().for_each(|i| {
                        i.send(Command::Start);
                    });
                    false
                }
                Some(note) => {
                    if *shown != note {
                        entry.instances.iter().for_each(|i| {
                            i.send(Command::Note(note.clone()));
                        });
                        *shown = note;
                    }
                    true
                }
            }
        });
    }

    /// The dependency scheduler's thread: re-evaluates waiting programs each time
    /// an instance enters RUNNING or FATAL.
    pub fn run_scheduler(self: &Arc<Self>) -> std::io::Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        let _ = SCHEDULER.set(tx);
        let sup = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("scheduler".into())
            .stack_size(crate::sys::THREAD_STACK)
            .spawn(move || {
                for () in rx {
                    match sup.upgrade() {
                        Some(sup) => sup.schedule(),
                        None => return,
                    }
                }
            })
            .map(drop)
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

    /// Stops every instance (each by its stopsignal and stoptime) and returns once
    /// none has a process left: dependants before their dependencies, higher
    /// `priority` before lower, everything of one rank in parallel.
    pub fn shutdown(&self) {
        self.pending.lock().clear();
        for group in self.stop_groups() {
            let seqs: Vec<u64> = group.iter().map(|i| i.send(Command::Shutdown)).collect();
            for (instance, seq) in group.iter().zip(seqs) {
                instance.wait_for(seq, |s| {
                    !s.state.has_process() && s.state != State::Backoff && !s.leftovers
                });
            }
        }
    }

    /// Instances grouped by stop rank: (dependency depth, priority), highest first.
    fn stop_groups(&self) -> Vec<Vec<Arc<Instance>>> {
        /// The longest `depends_on` chain below `name`. Memoised: without it, a
        /// program depending on all of thirty others took seconds (the walk is
        /// exponential in a dense graph) and shutdown waited for it.
        fn depth<'a>(
            name: &'a str,
            programs: &'a BTreeMap<String, ProgramEntry>,
            known: &mut HashMap<&'a str, usize>,
            seen: usize,
        ) -> usize {
            if let Some(&d) = known.get(name) {
                return d;
            }
            // `seen` bounds the walk even if a cycle slipped through validation.
            if seen > programs.len() {
                return 0;
            }
            let Some(entry) = programs.get(name) else {
                return 0;
            };
            let d = (entry.config.policy.depends_on.iter())
                .map(|dep| 1 + depth(dep, programs, known, seen + 1))
                .max()
                .unwrap_or(0);
            known.insert(name, d);
            d
        }
        let programs = self.programs.lock();
        let mut known = HashMap::new();
        let mut ranked: BTreeMap<(usize, i32), Vec<Arc<Instance>>> = BTreeMap::new();
        for (name, entry) in programs.iter() {
            let rank = (
                depth(name, &programs, &mut known, 0),
                entry.config.policy.priority,
            );
            ranked
                .entry(rank)
                .or_default()
                .extend(entry.instances.iter().cloned());
        }
        ranked.into_values().rev().collect()
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
                                .insert(config.name.clone(), String::new());
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
