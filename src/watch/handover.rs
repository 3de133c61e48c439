//! What one instance hands over to the next taskmaster binary in an upgrade in
//! place (README: Upgrading in place), and how its watcher stops for it.
//!
//! The record is plain data (serde): the machine's state with every `Instant`
//! as an offset from one moment ([`Clock`]), the published times, and the
//! numbers of the descriptors kept open across the exec (the child's pidfd, its
//! output pipes' read ends or its pty master). The upgrade (`crate::upgrade`)
//! puts every instance's record in one versioned file; the new process turns
//! each back into an [`Adopted`] and sends it to the new watcher.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};

use super::handover_output::StreamRecord;
use super::handover_state::{HealthRecord, PidFileRecord};
use super::spawn::StdinPipe;
use super::state::{ExitStatus, Machine, StartFailure, State};

/// One moment of this process, against which `Instant`s are written as offsets.
/// The next process makes its own for the same moment (the monotonic clock goes
/// on across an exec: `crate::upgrade` measures how much time passed).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now: Instant,
}

impl Clock {
    /// `t` as nanoseconds from the clock's moment (negative: before it).
    pub fn offset(&self, t: Instant) -> i64 {
        let clamp = |d: Duration| d.as_nanos().min(i64::MAX as u128) as i64;
        match t.checked_duration_since(self.now) {
            Some(after) => clamp(after),
            None => -clamp(self.now - t),
        }
    }

    /// The `Instant` at `offset` from the clock's moment.
    pub fn instant(&self, offset: i64) -> Instant {
        let d = Duration::from_nanos(offset.unsigned_abs());
        let t = match offset >= 0 {
            true => self.now.checked_add(d),
            false => self.now.checked_sub(d),
        };
        t.unwrap_or(self.now)
    }
}

fn wall_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64)
}

fn wall(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

/// One instance, as handed over.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    pub program: String,
    pub index: u32,
    pub machine: MachineRecord,
    /// The published start of the current or last process: offset, wall ns.
    pub started_at: Option<(i64, u64)>,
    pub stopped_at: Option<u64>,
    pub note: Option<String>,
    pub child: Option<ChildRecord>,
    /// stdout's and stderr's history (`handover_output`).
    #[serde(default)]
    pub output: Vec<StreamRecord>,
    /// Process groups whose leader is gone and whose members await SIGKILL:
    /// pgid and deadline (offset).
    #[serde(default)]
    pub leftover_groups: Vec<(i32, i64)>,
    /// The watcher's count of spawns, which marks its children's descendants
    /// (`orphans::Marker`); absent in an older record: 0.
    #[serde(default)]
    pub run: u64,
}

/// The live child and the descriptors kept for it (numbers valid in the next
/// process: exec keeps them).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ChildRecord {
    pub pid: i32,
    pub pidfd: RawFd,
    /// Its stdin pipe's identity (st_dev, st_ino), for attach.
    pub stdin: Option<(u64, u64)>,
    pub stdout: Option<RawFd>,
    pub stderr: Option<RawFd>,
    pub pty: Option<RawFd>,
    /// The pty's pump held a `\r` back (see `OutputBuffers::held_cr`).
    #[serde(default)]
    pub held_cr: bool,
}

impl ChildRecord {
    /// Every descriptor this child keeps across the exec.
    pub fn fds(&self) -> impl Iterator<Item = RawFd> {
        [Some(self.pidfd), self.stdout, self.stderr, self.pty]
            .into_iter()
            .flatten()
    }
}

/// [`Machine`], with its instants as [`Clock`] offsets and its enums by name.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MachineRecord {
    pub state: String,
    pub backoff: u32,
    pub restarts: u32,
    pub pid: Option<i32>,
    pub started_at: Option<i64>,
    pub deadline: Option<i64>,
    /// `code N` or `signal N`.
    pub last_exit: Option<(String, i32)>,
    pub last_exited_pid: Option<i32>,
    pub spawnerr: Option<String>,
    /// `spawn_error` (with the reason), `exited_too_quickly`, `throttled`.
    pub start_failure: Option<(String, Option<String>)>,
    pub ever_started: bool,
    pub shutting_down: bool,
    pub start_after_stop: bool,
    pub quick_deaths: u32,
    pub throttled: bool,
    pub memory_check_at: Option<i64>,
    pub restart_after_stop: bool,
    /// Absent in a record of a binary without health checks: none due.
    #[serde(default)]
    pub health: Option<HealthRecord>,
    /// Absent in a record of a binary without `pidfile`: no such start.
    #[serde(default)]
    pub pidfile: Option<PidFileRecord>,
}

/// A record the next process cannot use (a newer daemon's, or damaged).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(pub String);

impl MachineRecord {
    pub fn of(m: &Machine, clock: &Clock) -> MachineRecord {
        MachineRecord {
            state: m.state.name().to_string(),
            backoff: m.backoff,
            restarts: m.restarts,
            pid: m.pid,
            started_at: m.started_at.map(|t| clock.offset(t)),
            deadline: m.deadline.map(|t| clock.offset(t)),
            last_exit: m.last_exit.map(|e| match e {
                ExitStatus::Code(c) => ("code".to_string(), c),
                ExitStatus::Signal(s) => ("signal".to_string(), s as i32),
            }),
            last_exited_pid: m.last_exited_pid,
            spawnerr: m.spawnerr.clone(),
            start_failure: m.start_failure.as_ref().map(|f| match f {
                StartFailure::SpawnError(why) => ("spawn_error".to_string(), Some(why.clone())),
                StartFailure::ExitedTooQuickly => ("exited_too_quickly".to_string(), None),
                StartFailure::Throttled => ("throttled".to_string(), None),
            }),
            ever_started: m.ever_started,
            shutting_down: m.shutting_down,
            start_after_stop: m.start_after_stop,
            quick_deaths: m.quick_deaths,
            throttled: m.throttled,
            memory_check_at: m.memory_check_at.map(|t| clock.offset(t)),
            restart_after_stop: m.restart_after_stop,
            health: HealthRecord::of(&m.health),
            pidfile: PidFileRecord::of(&m.pidfile, clock),
        }
    }

    pub fn restore(&self, clock: &Clock) -> Result<Machine, RecordError> {
        let bad = |what: &str, v: &str| RecordError(format!("unknown {what} '{v}'"));
        let state = State::ALL
            .into_iter()
            .find(|s| s.name() == self.state)
            .ok_or_else(|| bad("state", &self.state))?;
        let last_exit = match &self.last_exit {
            None => None,
            Some((kind, n)) if kind == "code" => Some(ExitStatus::Code(*n)),
            Some((kind, n)) if kind == "signal" => Some(ExitStatus::Signal(
                Signal::try_from(*n).map_err(|_| bad("signal", &n.to_string()))?,
            )),
            Some((kind, _)) => return Err(bad("exit", kind)),
        };
        let start_failure = match &self.start_failure {
            None => None,
            Some((kind, why)) => Some(match kind.as_str() {
                "spawn_error" => StartFailure::SpawnError(why.clone().unwrap_or_default()),
                "exited_too_quickly" => StartFailure::ExitedTooQuickly,
                "throttled" => StartFailure::Throttled,
                other => return Err(bad("start failure", other)),
            }),
        };
        let mut m = Machine::new();
        m.state = state;
        m.backoff = self.backoff;
        m.restarts = self.restarts;
        m.pid = self.pid;
        m.started_at = self.started_at.map(|o| clock.instant(o));
        m.deadline = self.deadline.map(|o| clock.instant(o));
        m.last_exit = last_exit;
        m.last_exited_pid = self.last_exited_pid;
        m.spawnerr = self.spawnerr.clone();
        m.start_failure = start_failure;
        m.ever_started = self.ever_started;
        m.shutting_down = self.shutting_down;
        m.start_after_stop = self.start_after_stop;
        m.quick_deaths = self.quick_deaths;
        m.throttled = self.throttled;
        m.memory_check_at = self.memory_check_at.map(|o| clock.instant(o));
        m.restart_after_stop = self.restart_after_stop;
        m.health = HealthRecord::restore(self.health.as_ref())?;
        m.pidfile = PidFileRecord::restore(self.pidfile.as_ref(), clock);
        Ok(m)
    }
}

/// The child's descriptors, owned again in the new process.
pub struct AdoptedChild {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub stdin: Option<StdinPipe>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub pty: Option<OwnedFd>,
    pub held_cr: bool,
}

/// An instance's record made live again: what its new watcher takes over.
pub struct Adopted {
    pub machine: Machine,
    pub started_at: Option<(Instant, SystemTime)>,
    pub stopped_at: Option<SystemTime>,
    pub note: Option<String>,
    pub child: Option<AdoptedChild>,
    pub output: Vec<StreamRecord>,
    pub leftover_groups: Vec<(i32, Instant)>,
    pub run: u64,
}

impl InstanceRecord {
    /// What the instance publishes, written at `clock`'s moment.
    pub fn times(
        started_at: Option<(Instant, SystemTime)>,
        stopped_at: Option<SystemTime>,
        clock: &Clock,
    ) -> (Option<(i64, u64)>, Option<u64>) {
        (
            started_at.map(|(t, w)| (clock.offset(t), wall_ns(w))),
            stopped_at.map(wall_ns),
        )
    }

    /// Takes ownership of the descriptors the record names. Only the new process
    /// calls this, once per record, for descriptors the old one kept for it and
    /// that `crate::upgrade::resume` checked are open.
    pub fn adopt(self, clock: &Clock) -> Result<Adopted, RecordError> {
        let machine = self.machine.restore(clock)?;
        // SAFETY: each number names a descriptor the previous process kept open
        // across its exec for this child alone, and nothing else in this process
        // owns it (the resume checked each is open, and each record is adopted once).
        let own = |fd: RawFd| unsafe { OwnedFd::from_raw_fd(fd) };
        let child = self.child.map(|c| AdoptedChild {
            pid: c.pid,
            pidfd: own(c.pidfd),
            stdin: c.stdin.map(|(dev, ino)| StdinPipe { dev, ino }),
            stdout: c.stdout.map(own),
            stderr: c.stderr.map(own),
            pty: c.pty.map(own),
            held_cr: c.held_cr,
        });
        Ok(Adopted {
            machine,
            started_at: self.started_at.map(|(o, w)| (clock.instant(o), wall(w))),
            stopped_at: self.stopped_at.map(wall),
            note: self.note,
            child,
            output: self.output,
            leftover_groups: (self.leftover_groups.into_iter())
                .map(|(pgid, deadline)| (pgid, clock.instant(deadline)))
                .collect(),
            run: self.run,
        })
    }
}

/// Where the watchers stop for an upgrade: each hands in its record and waits
/// here until the exec (which ends it) or until the upgrade gives up.
pub struct QuiesceHold {
    pub clock: Clock,
    state: Mutex<HoldState>,
    changed: Condvar,
}

struct HoldState {
    records: Vec<InstanceRecord>,
    released: bool,
}

impl QuiesceHold {
    pub fn new(clock: Clock) -> Arc<QuiesceHold> {
        Arc::new(QuiesceHold {
            clock,
            state: Mutex::new(HoldState {
                records: Vec::new(),
                released: false,
            }),
            changed: Condvar::new(),
        })
    }

    /// The watcher's side: hands in its record and waits for the release.
    pub(super) fn park(&self, record: InstanceRecord) {
        let mut state = self.state.lock();
        if state.released {
            return; // the upgrade gave up before this watcher got here
        }
        state.records.push(record);
        self.changed.notify_all();
        while !state.released {
            self.changed.wait(&mut state);
        }
    }

    /// Waits until `count` watchers have parked, at most until `deadline`.
    pub fn wait_for(&self, count: usize, deadline: Instant) -> Option<Vec<InstanceRecord>> {
        let mut state = self.state.lock();
        while state.records.len() < count {
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                return None;
            }
        }
        Some(state.records.clone())
    }

    /// The upgrade is over in this process (it failed): the watchers go on.
    pub fn release(&self) {
        self.state.lock().released = true;
        self.changed.notify_all();
    }
}

/// Sends `adopted` to `instance`'s watcher; see [`wait_adopted`].
pub fn send_adopted(instance: &super::Instance, adopted: Adopted) -> u64 {
    instance.send(super::Command::Adopt(Box::new(adopted)))
}

/// Waits until `instance`'s watcher has handled command `seq` (its adoption).
pub fn wait_adopted(instance: &super::Instance, seq: u64) {
    instance.wait_or_superseded(seq, |_| true, |_| true);
}
