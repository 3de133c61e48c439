//! Members of a process group that outlive its leader, whether the leader was
//! stopped or exited on its own (README: Process states): any member of its process
//! group still alive at the stoptime deadline gets SIGKILL then.
//!
//! Surviving members are watched through pidfds, polled by the watcher with its
//! other descriptors, so the group is forgotten the moment its last member exits —
//! no polling, and a shutdown never waits for a deadline in vain. At most
//! [`WATCHED_PER_GROUP`] of them at a time: once those are gone the group is looked
//! at again, so a group of thousands costs a handful of descriptors.
//!
//! The same holds for what a run left outside its group: the adopted processes
//! (README: Running in production) that descend from it, found by their
//! environment's marks rather than by group (`Members::Adopted`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use nix::sys::signal::Signal;

use crate::{orphans, sys};

/// Members of one group watched through a pidfd at once.
const WATCHED_PER_GROUP: usize = 8;

/// Groups an instance keeps waiting for at once: past this (a crash loop whose
/// every run leaves a member that ignores its stop signal), a new group is
/// SIGKILLed at once instead of getting its `stoptime`, so the watcher's
/// descriptors stay bounded.
pub const MAX_GROUPS: usize = 32;

/// Whose processes a leftover is.
pub enum Members {
    /// The process group `pgid`.
    Group,
    /// The adopted processes the run `run` of the instance `name` (its leader
    /// `pgid`) left behind, in groups and sessions of their own
    /// (`orphans::adopted`).
    Adopted { name: String, run: u64 },
}

pub struct LeftoverGroup {
    pub pgid: i32,
    pub kind: Members,
    /// The `stoptime` deadline: SIGKILL to the group then.
    pub deadline: Instant,
    /// Live members when the leader exited.
    pub members: usize,
    watched: Vec<OwnedFd>,
}

impl LeftoverGroup {
    /// After the leader of `pgid` was reaped; `None` when nobody is left in the
    /// group. (Its id cannot be reused while a member lives: the kernel keeps a
    /// pid allocated as long as it names a group.)
    pub fn after_leader_exit(pgid: i32, deadline: Instant) -> Option<LeftoverGroup> {
        LeftoverGroup::found(pgid, Members::Group, deadline)
    }

    /// After the leader `leader` of the run `run` of the instance `name` was
    /// reaped; `None` when it left no adopted process alive.
    pub fn adopted(
        name: String,
        run: u64,
        leader: i32,
        deadline: Instant,
    ) -> Option<LeftoverGroup> {
        LeftoverGroup::found(leader, Members::Adopted { name, run }, deadline)
    }

    fn found(pgid: i32, kind: Members, deadline: Instant) -> Option<LeftoverGroup> {
        let mut group = LeftoverGroup {
            pgid,
            kind,
            deadline,
            members: 0,
            watched: Vec::new(),
        };
        group.members = group.look_again();
        (group.members > 0).then_some(group)
    }

    /// The descriptors that become readable when a member exits.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.watched.iter().map(|fd| fd.as_fd())
    }

    /// Forgets members that exited; when none is left, looks again for members
    /// forked since. Returns whether the group is still alive.
    pub fn refresh(&mut self) -> bool {
        self.watched
            .retain(|fd| !sys::pidfd::pidfd_exited(fd.as_fd()));
        if self.watched.is_empty() {
            self.look_again();
        }
        !self.watched.is_empty()
    }

    /// SIGKILL to every member alive.
    pub fn kill(&self) {
        match &self.kind {
            Members::Group => {
                let _ = sys::process_group::signal_group(self.pgid, Signal::SIGKILL);
            }
            Members::Adopted { name, run } => {
                for process in orphans::left_by(name, *run, self.pgid) {
                    process.signal(Signal::SIGKILL);
                }
            }
        }
    }

    /// Watches some of the group's live members; returns how many live.
    fn look_again(&mut self) -> usize {
        let (count, watched) = match &self.kind {
            Members::Group => {
                let members = sys::process_group::group_members(self.pgid);
                // A member we cannot open a pidfd for (gone meanwhile) is skipped.
                let watched = members
                    .iter()
                    .filter_map(|&pid| sys::pidfd::pidfd_open(pid).ok())
                    .take(WATCHED_PER_GROUP)
                    .collect();
                (members.len(), watched)
            }
            Members::Adopted { name, run } => {
                let members = orphans::left_by(name, *run, self.pgid);
                let count = members.len();
                let watched = members
                    .into_iter()
                    .map(|m| m.pidfd)
                    .take(WATCHED_PER_GROUP)
                    .collect();
                (count, watched)
            }
        };
        self.watched = watched;
        if self.watched.is_empty() {
            0
        } else {
            count
        }
    }
}
