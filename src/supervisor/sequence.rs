//! Starting and stopping many instances in order (see `order.rs` for the rules):
//! the autostart and the dependency scheduler, `start`/`stop` of several names, and
//! the shutdown.
//!
//! A batch of starts is done when every instance of it has been spawned (its
//! watcher has applied the `Start`: the `spawned:` line is written, or the spawn
//! failed) — not when it is RUNNING, which `starttime` may put far off. A batch of
//! stops is done when none of its instances has a process left.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::order::{batches, Direction, Member};
use super::{ProgramEntry, Supervisor};
use crate::watch::state::HealthState;
use crate::watch::{Command, Instance, StartTicket, State, StopTicket};

/// A program waiting for its automatic start.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// What its instances show meanwhile (empty: nothing yet).
    note: String,
    /// Instances not to start (their process from a previous run is alive).
    except: Vec<String>,
}

impl Supervisor {
    /// Queues every `autostart` program for its start, except the instances named
    /// in `skip` (their process from a previous run is still alive), and starts
    /// those it can now, in order (see [`Supervisor::schedule`]). Returns the
    /// starts it made; all are applied already.
    pub fn autostart(&self, skip: &[(String, String)]) -> Vec<StartTicket> {
        {
            let programs = self.programs.lock();
            let mut pending = self.pending.lock();
            for entry in programs.values() {
                let mut except = Vec::new();
                for instance in &entry.instances {
                    let name = instance.name();
                    if let Some((_, why)) = skip.iter().find(|(n, _)| *n == name) {
                        instance.send(Command::Note(why.clone()));
                        except.push(name);
                    }
                }
                if entry.config.policy.autostart {
                    let note = String::new();
                    pending.insert(entry.config.name.clone(), Waiting { note, except });
                }
            }
        }
        self.schedule()
    }

    /// The programs waiting for their automatic start and the instances each
    /// leaves out (an upgrade in place hands them over).
    pub fn pending_starts(&self) -> Vec<(String, Vec<String>)> {
        let pending = self.pending.lock();
        (pending.iter())
            .map(|(name, w)| (name.clone(), w.except.clone()))
            .collect()
    }

    /// After an upgrade in place: waits again for the programs handed over as
    /// waiting, and starts those ready now (see [`Supervisor::schedule`]).
    pub fn resume_pending(&self, waiting: Vec<(String, Vec<String>)>) -> Vec<StartTicket> {
        {
            let mut pending = self.pending.lock();
            for (name, except) in waiting {
                let note = String::new();
                pending.insert(name, Waiting { note, except });
            }
        }
        self.schedule()
    }

    /// Starts the waiting programs that are ready — every instance of each of
    /// their dependencies RUNNING — in batches: the lowest priority among the
    /// ready ones first, each batch spawned before the next one is sent `Start`.
    /// Tells the others what they wait for (shown by `status`). One sequence at a
    /// time, so the scheduler thread and a `start` never interleave their batches.
    pub fn schedule(&self) -> Vec<StartTicket> {
        let _turn = self.starting.lock();
        let mut started = Vec::new();
        // A batch may be empty: every instance of it is one a previous run left.
        while let Some(batch) = self.next_ready_batch() {
            let tickets: Vec<StartTicket> = batch.iter().map(|i| i.start()).collect();
            for ticket in tickets {
                ticket.spawned();
                started.push(ticket);
            }
        }
        started
    }

    /// Takes the next batch of ready programs out of `pending` (their instances to
    /// start), `None` when none is ready; updates the notes of those that wait.
    fn next_ready_batch(&self) -> Option<Vec<Arc<Instance>>> {
        let programs = self.programs.lock();
        let mut pending = self.pending.lock();
        if self.shutting_down.load(Ordering::SeqCst) {
            pending.clear();
            return None;
        }
        let mut ready = Vec::new();
        pending.retain(|name, waiting| {
            let Some(entry) = programs.get(name) else {
                return false;
            };
            match waits_for(entry, &programs) {
                None => ready.push((entry.config.policy.priority, name.clone())),
                Some(note) if waiting.note != note => {
                    for i in &entry.instances {
                        if !waiting.except.contains(&i.name()) {
                            i.send(Command::Note(note.clone()));
                        }
                    }
                    waiting.note = note;
                }
                Some(_) => {}
            }
            true
        });
        let lowest = ready.iter().map(|(p, _)| *p).min()?;
        let mut batch = Vec::new();
        for (_, name) in ready.iter().filter(|(p, _)| *p == lowest) {
            let (Some(waiting), Some(entry)) = (pending.remove(name), programs.get(name)) else {
                continue;
            };
            let to_start = entry
                .instances
                .iter()
                .filter(|i| !waiting.except.contains(&i.name()));
            batch.extend(to_start.cloned());
        }
        Some(batch)
    }

    /// The dependency scheduler's thread: re-evaluates waiting programs each time
    /// an instance enters RUNNING or FATAL.
    pub fn run_scheduler(self: &Arc<Self>) -> std::io::Result<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.hub.scheduler().connect(tx);
        let sup = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("scheduler".into())
            .stack_size(crate::stack::THREAD_STACK)
            .spawn(move || {
                for () in rx {
                    match sup.upgrade() {
                        Some(sup) => drop(sup.schedule()),
                        None => return,
                    }
                }
            })
            .map(drop)
    }

    /// `start` of several instances: sends `Start` batch by batch (dependencies
    /// first, then lower priority first; see `order.rs`), each batch spawned
    /// before the next. Does not wait for dependencies to be RUNNING: a manual
    /// start never does. Returns each instance's ticket, in the order given.
    pub fn start_in_order(&self, instances: &[Arc<Instance>]) -> Vec<StartTicket> {
        let _turn = self.starting.lock();
        self.in_order(
            instances,
            Direction::Start,
            Instance::start,
            StartTicket::spawned,
        )
    }

    /// `stop` of several instances: sends `Stop` batch by batch (dependants first,
    /// then higher priority first), each batch stopped — no process left — before
    /// the next gets its stop signal. Returns each instance's ticket (done), in
    /// the order given.
    pub fn stop_in_order(&self, instances: &[Arc<Instance>]) -> Vec<StopTicket> {
        self.in_order(instances, Direction::Stop, Instance::stop, |t| {
            t.wait();
        })
    }

    /// Stops every instance (each by its stopsignal and stoptime) in stop order and
    /// returns once none has a process left; no automatic start happens after it
    /// has begun.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.pending.lock().clear();
        let all = self.instances();
        self.in_order(&all, Direction::Stop, Instance::shutdown, |t| {
            t.wait();
        });
    }

    /// Asks `verb` of `instances` batch by batch in `direction`'s order, waiting
    /// on each batch's tickets (`done`) before the next. A later start or stop of
    /// an instance from another client ends its wait (see the tickets).
    fn in_order<T>(
        &self,
        instances: &[Arc<Instance>],
        direction: Direction,
        verb: impl Fn(&Arc<Instance>) -> T,
        done: impl Fn(&T),
    ) -> Vec<T> {
        // The programs concerned, in the registry's view; an instance whose
        // program a reload just removed goes on its own, at its old priority 0.
        let by_program: BTreeMap<&str, Vec<usize>> =
            instances
                .iter()
                .enumerate()
                .fold(BTreeMap::new(), |mut map, (i, instance)| {
                    map.entry(instance.program.as_str())
                        .or_insert_with(Vec::new)
                        .push(i);
                    map
                });
        let configs: Vec<(i32, Vec<String>)> = {
            let programs = self.programs.lock();
            by_program
                .keys()
                .map(|name| match programs.get(*name) {
                    Some(entry) => (
                        entry.config.policy.priority,
                        entry.config.policy.depends_on.clone(),
                    ),
                    None => (0, Vec::new()),
                })
                .collect()
        };
        let members: Vec<Member> = by_program
            .keys()
            .zip(&configs)
            .map(|(name, (priority, depends_on))| Member {
                name,
                priority: *priority,
                depends_on,
            })
            .collect();
        let groups: Vec<&Vec<usize>> = by_program.values().collect();
        let mut tickets: Vec<Option<T>> = instances.iter().map(|_| None).collect();
        for batch in batches(&members, direction) {
            let members_of_batch = batch.iter().flat_map(|&m| groups[m].iter().copied());
            let sent: Vec<usize> = members_of_batch.collect();
            for &i in &sent {
                tickets[i] = Some(verb(&instances[i]));
            }
            for ticket in sent.iter().filter_map(|&i| tickets[i].as_ref()) {
                done(ticket);
            }
        }
        // Every instance is in exactly one batch.
        tickets.into_iter().flatten().collect()
    }
}

/// Why a program cannot start yet: the first dependency not all RUNNING — or,
/// for one it waits for as `healthy`, not all healthy.
fn waits_for(entry: &ProgramEntry, programs: &BTreeMap<String, ProgramEntry>) -> Option<String> {
    let policy = &entry.config.policy;
    for dep in &policy.depends_on {
        // A dependency removed by a reload no longer holds anything back.
        let Some(d) = programs.get(dep) else { continue };
        let statuses: Vec<_> = d.instances.iter().map(|i| i.status()).collect();
        let fatal = statuses.iter().any(|s| s.state == State::Fatal);
        // One whose check a reload removed can never be healthy: RUNNING is enough.
        let healthy =
            policy.depends_on_healthy.contains(dep) && d.config.policy.healthcheck.is_some();
        let ready = |s: &crate::watch::Status| match healthy {
            true => s.state == State::Running && s.health == Some(HealthState::Healthy),
            false => s.state == State::Running,
        };
        if !statuses.iter().all(ready) {
            return Some(match (fatal, healthy) {
                (true, _) => format!("Waiting for {dep}, which is FATAL"),
                (false, true) => format!("Waiting for {dep} to be healthy"),
                (false, false) => format!("Waiting for {dep} to be RUNNING"),
            });
        }
    }
    None
}
