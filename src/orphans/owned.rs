//! The daemon's own children: the pids some thread of the daemon will reap by its
//! own pid (an instance's watcher, the alert command's `notify` thread, the
//! `spawner` thread for the spawn helper). The orphan reaper reaps a child only
//! when it is none of these and no spawn is under way: so it can never take an
//! instance's exit status.
//!
//! A spawn holds a [`Spawning`] from before its child exists until the pid is
//! registered (or the spawn failed and its child, if any, was reaped by the
//! spawner itself); the reaper waits until none is held, under the same lock, so
//! a child whose pid is still on its way (in the spawn helper's reply) is never
//! taken for an orphan. An owner calls [`released`] after it reaped its child.
//!
//! One static for the process, like the spawn helper's sockets: children are a
//! fact of the process, and every spawn path registers here wherever it runs.
//! This is the adopted-process state an in-place upgrade would have to carry.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

pub(super) struct Owned {
    pids: BTreeSet<i32>,
    /// Spawns begun whose child is not registered yet.
    in_flight: usize,
    /// The main thread's children no thread owned when last read, and when
    /// (see [`Owned::recent_unowned`]).
    unowned: Option<(Instant, Vec<i32>)>,
}

/// How long a reading of the main thread's children serves the lookups of
/// adopted processes. The kernel lists a thousand children in a few hundred
/// microseconds, under this lock; a `stop all` of a thousand instances looks up
/// each instance's adopted processes at once, and read anew for each they made
/// the stop five times slower (0.1 → 0.47 s). What is reparented to the daemon
/// after a reading is found by the next one: at `stoptime`, at the leader's
/// exit, at shutdown.
const CHILDREN_FRESH: Duration = Duration::from_millis(25);

impl Owned {
    pub(super) fn owns(&self, pid: i32) -> bool {
        self.pids.contains(&pid)
    }

    /// An adopted process taken as a thread's own (`orphans::claim`).
    pub(super) fn insert(&mut self, pid: i32) {
        self.pids.insert(pid);
    }

    /// The main thread's children that no thread owns, read at most
    /// [`CHILDREN_FRESH`] ago and checked against the owners now. A pid in it
    /// may since have been reaped (and reused): the caller pins each with a
    /// pidfd and checks it is still the daemon's child.
    ///
    /// Only the unowned are kept from a reading: during a `stop all` each
    /// instance asks once or more while the others' children are reaped and
    /// released, and a kept list of every child made each lookup test (and try
    /// to pin) a thousand pids, most of them gone.
    pub(super) fn recent_unowned(&mut self) -> Vec<i32> {
        let now = Instant::now();
        let fresh = self
            .unowned
            .as_ref()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) < CHILDREN_FRESH);
        if !fresh {
            let unowned = super::subreaper::main_thread_children()
                .into_iter()
                .filter(|&pid| !self.owns(pid))
                .collect();
            self.unowned = Some((now, unowned));
        }
        match &self.unowned {
            Some((_, unowned)) => unowned
                .iter()
                .copied()
                .filter(|&pid| !self.owns(pid))
                .collect(),
            None => Vec::new(),
        }
    }
}

static OWNED: Mutex<Owned> = Mutex::new(Owned {
    pids: BTreeSet::new(),
    in_flight: 0,
    unowned: None,
});
/// Notified when the last spawn under way ends.
static SETTLED: Condvar = Condvar::new();

/// A spawn under way: holds the orphan reaper off until dropped.
#[must_use]
pub struct Spawning(());

/// Call before the child can exist (before the clone or `posix_spawn`).
pub fn spawning() -> Spawning {
    OWNED.lock().in_flight += 1;
    Spawning(())
}

impl Spawning {
    /// The spawn made `pid`, which its caller will reap by its own pid.
    pub fn owns(self, pid: i32) {
        OWNED.lock().pids.insert(pid);
    }
}

impl Drop for Spawning {
    fn drop(&mut self) {
        let mut owned = OWNED.lock();
        owned.in_flight -= 1;
        if owned.in_flight == 0 {
            SETTLED.notify_all();
        }
    }
}

/// The owner reaped `pid` (or knows it gone): it is no longer the daemon's.
pub fn released(pid: i32) {
    OWNED.lock().pids.remove(&pid);
}

/// The registry, locked; with `settled`, once no spawn is under way (and none can
/// begin while the guard is held).
pub(super) fn lock(settled: bool) -> MutexGuard<'static, Owned> {
    let mut owned = OWNED.lock();
    while settled && owned.in_flight > 0 {
        SETTLED.wait(&mut owned);
    }
    owned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_is_owned_from_its_registration_until_released() {
        let pid = -4242; // never a real child
        let spawn = spawning();
        assert!(!lock(false).owns(pid));
        spawn.owns(pid);
        assert!(lock(true).owns(pid), "settled once the spawn registered");
        released(pid);
        assert!(!lock(true).owns(pid));
    }
}
