//! The registry of programs and their instances, shared by every transport.
//!
//! Locking rule: the `programs` lock is held only to read or change the registry,
//! never while waiting on an instance; an instance's own locks (status, inbox) may be
//! taken while holding it, never the other way round.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::{Config, ProgramConfig};
use crate::hub::Hub;
use crate::watch::{start_watcher, Command, Instance};

mod apply;
mod order;
mod sequence;

pub use apply::{Applied, AppliedChange, Prepared};
use sequence::Waiting;

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
    /// Where every watcher reports; handed to each at its creation.
    hub: Hub,
    /// CPU and memory of the instances, sampled when `status` asks.
    resources: crate::resources::Resources,
}

/// Ends the watchers of instances that were never put in the registry (a reload
/// that could not be applied in full): they never started a child, so each ends
/// at once. Returns when all have.
fn discard(instances: &[Arc<Instance>]) {
    let removals: Vec<_> = instances.iter().map(|i| i.remove()).collect();
    for removal in removals {
        removal.wait();
    }
}

/// Debug builds only: `TASKMASTER_TEST_FAIL_THREAD_FOR=NAME` makes the creation of
/// instance NAME fail as if no thread were available (EAGAIN), so a test can see a
/// reload refused whole; as root, RLIMIT_NPROC would not do it.
fn failpoint(name: &str) -> std::io::Result<()> {
    #[cfg(debug_assertions)]
    if std::env::var_os("TASKMASTER_TEST_FAIL_THREAD_FOR").is_some_and(|v| v == name) {
        return Err(nix::errno::Errno::EAGAIN.into());
    }
    let _ = name;
    Ok(())
}

/// Debug builds only: `TASKMASTER_TEST_DEADLOCK_ON=NAME` makes a command naming
/// NAME keep the registry's lock for ever, as a deadlock would: the watchdog's
/// keep-alives must stop (README: Under systemd).
fn deadlock_failpoint(names: &[String]) {
    #[cfg(debug_assertions)]
    if let Some(wedge) = std::env::var_os("TASKMASTER_TEST_DEADLOCK_ON") {
        if names.iter().any(|n| wedge == n.as_str()) {
            log::warn!("failpoint: {wedge:?} keeps the registry's lock for ever");
            loop {
                std::thread::park();
            }
        }
    }
    let _ = names;
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start the watcher thread of {name}: {source}")]
pub struct SupervisorError {
    name: String,
    source: std::io::Error,
}

impl Supervisor {
    /// Creates every instance and its watcher, each reporting to `hub`; nothing is
    /// started yet. The hub is given the daemon's settings.
    pub fn new(config: Config, hub: Hub) -> Result<Arc<Supervisor>, SupervisorError> {
        hub.configure(&config.daemon);
        let sup = Arc::new(Supervisor {
            programs: Mutex::new(BTreeMap::new()),
            config: Mutex::new(Arc::new(config.clone())),
            pending: Mutex::new(BTreeMap::new()),
            starting: Mutex::new(()),
            shutting_down: AtomicBool::new(false),
            hub,
            resources: Default::default(),
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

    /// The hub the watchers report to (to subscribe to notices, to reach the
    /// journal or the alerts).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The instances' CPU and memory, read from `/proc` when asked.
    pub fn resources(&self) -> &crate::resources::Resources {
        &self.resources
    }

    fn create_program(
        &self,
        program: &ProgramConfig,
        tail_buffer: usize,
    ) -> Result<ProgramEntry, SupervisorError> {
        let config = Arc::new(program.clone());
        let instances = self.create_instances(&config, 0, tail_buffer)?;
        Ok(ProgramEntry { config, instances })
    }

    /// Instances `from..numprocs` of a program, each with its watcher; all or none
    /// (those made before a failure are discarded).
    fn create_instances(
        &self,
        config: &Arc<ProgramConfig>,
        from: u32,
        tail_buffer: usize,
    ) -> Result<Vec<Arc<Instance>>, SupervisorError> {
        let mut instances = Vec::with_capacity(config.numprocs.saturating_sub(from) as usize);
        for index in from..config.numprocs {
            match self.create_instance(config, index, tail_buffer) {
                Ok(instance) => instances.push(instance),
                Err(e) => {
                    discard(&instances);
                    return Err(e);
                }
            }
        }
        Ok(instances)
    }

    fn create_instance(
        &self,
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
        failpoint(&name).map_err(|source| SupervisorError {
            name: name.clone(),
            source,
        })?;
        start_watcher(instance.clone(), config.clone(), self.hub.clone())
            .map_err(|source| SupervisorError { name, source })?;
        Ok(instance)
    }

    /// The shutdown has begun (the daemon's own `top` closes then).
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(std::sync::atomic::Ordering::SeqCst)
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
        drop(programs);
        names.extend(self.config.lock().groups.keys().cloned());
        names
    }

    /// The program a name given to `update`, `add` or `remove` addresses: those
    /// take whole programs, as supervisorctl takes groups, so `NAME`, `NAME:` and
    /// `NAME:*` are the same.
    pub fn program_of(name: &str) -> &str {
        name.strip_suffix(":*")
            .or_else(|| name.strip_suffix(':'))
            .unwrap_or(name)
    }

    /// Resolves command arguments per README: Configuration: `all`, `NAME` (every instance of the
    /// program), `NAME:K`, `NAME:*` or `NAME:` (every instance, as supervisorctl). Each unknown name is an error of its own;
    /// an instance named twice is listed once.
    /// A group's name (README: Coming from supervisor) addresses its programs:
    /// `GROUP`, `GROUP:*`, `GROUP:` and `GROUP:PROGRAM`; a lone program is also
    /// `NAME:NAME`, supervisor's full name for it.
    pub fn resolve(&self, names: &[String]) -> Vec<Result<Arc<Instance>, String>> {
        let groups = self.config.lock().groups.clone();
        let programs = self.programs.lock();
        deadlock_failpoint(names);
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
            let members = groups
                .get(program)
                .filter(|_| !programs.contains_key(program));
            if let Some(members) = members {
                let chosen: Vec<&String> = match index {
                    None | Some("*" | "") => members.iter().collect(),
                    Some(member) => members.iter().filter(|m| *m == member).collect(),
                };
                if chosen.is_empty() {
                    out.push(Err(name.clone()));
                }
                for member in chosen {
                    if let Some(entry) = programs.get(member) {
                        entry.instances.iter().for_each(|i| push(&mut out, i));
                    }
                }
                continue;
            }
            let Some(entry) = programs.get(program) else {
                out.push(Err(name.clone()));
                continue;
            };
            match index {
                None | Some("*" | "") => entry.instances.iter().for_each(|i| push(&mut out, i)),
                Some(same) if same == program && entry.config.numprocs == 1 => {
                    entry.instances.iter().for_each(|i| push(&mut out, i))
                }
                Some(_) => match entry.instances.iter().find(|i| i.name() == *name) {
                    Some(inst) => push(&mut out, inst),
                    None => out.push(Err(name.clone())),
                },
            }
        }
        out
    }

    /// The instances of `program` that have a process or are about to (any state
    /// but STOPPED, EXITED and FATAL): what keeps `remove` from removing it.
    /// `None` when no such program is in use.
    pub fn unstopped(&self, program: &str) -> Option<Vec<String>> {
        use crate::watch::State;
        let programs = self.programs.lock();
        let entry = programs.get(program)?;
        let stopped = |i: &Arc<Instance>| {
            matches!(
                i.status().state,
                State::Stopped | State::Exited | State::Fatal
            )
        };
        Some(
            (entry.instances.iter())
                .filter(|i| !stopped(i))
                .map(|i| i.name())
                .collect(),
        )
    }

    /// SIGKILL to every process group still alive (second SIGINT/SIGTERM).
    pub fn kill_all(&self) {
        for instance in self.instances() {
            instance.send(Command::KillNow);
        }
    }
}

#[cfg(test)]
#[path = "supervisor/engine_tests.rs"]
mod engine_tests;
