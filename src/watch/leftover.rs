//! Members of a stopped process group that outlive its leader (SPEC §4: "any member
//! of its process group still alive at the stoptime deadline gets SIGKILL then").
//!
//! Each surviving member is watched through a pidfd, polled by the watcher with
//! its other descriptors, so the group is forgotten the moment its last member
//! exits — no polling, and a shutdown never waits for a deadline in vain.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use crate::sys;

pub struct LeftoverGroup {
    pub pgid: i32,
    /// The stop's `stoptime` deadline: SIGKILL to the group then.
    pub deadline: Instant,
    watched: Vec<OwnedFd>,
}

impl LeftoverGroup {
    /// After the leader of `pgid` was reaped during a stop; `None` when nobody is
    /// left in the group.
    pub fn after_leader_exit(pgid: i32, deadline: Instant) -> Option<LeftoverGroup> {
        let mut group = LeftoverGroup {
            pgid,
            deadline,
            watched: Vec::new(),
        };
        group.refresh().then_some(group)
    }

    /// The descriptors that become readable when a member exits.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.watched.iter().map(|fd| fd.as_fd())
    }

    /// Forgets members that exited; when none is left, looks again for members
    /// forked since. Returns whether the group is still alive.
    pub fn refresh(&mut self) -> bool {
        self.watched.retain(|fd| !sys::pidfd_exited(fd.as_fd()));
        if self.watched.is_empty() {
            // A member we cannot open a pidfd for (gone meanwhile) is simply skipped.
            self.watched = sys::group_members(self.pgid)
                .into_iter()
                .filter_map(|pid| sys::pidfd_open(pid).ok())
                .collect();
        }
        !self.watched.is_empty()
    }
}
