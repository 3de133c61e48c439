//! The groups of leaders that are gone (`watch/leftover.rs`): signalled when the
//! leader exited on its own, SIGKILLed at their deadline.

use std::time::Instant;

use nix::sys::signal::Signal;

use super::Watcher;
use crate::hub::Event;
use crate::sys;
use crate::watch::leftover::{self, LeftoverGroup, Members};
use crate::watch::log_limit::LineKind;
use crate::watch::state::continue_after;

impl Watcher {
    /// The leader of `pgid` is gone: its live members, and what its run left
    /// adopted, get `signal` (and SIGCONT) now, when given, and SIGKILL at `kill_at`.
    pub(super) fn clean_up_group(&mut self, pgid: i32, signal: Option<Signal>, kill_at: Instant) {
        self.clean_up_members(pgid, signal, kill_at);
        self.clean_up_adopted(pgid, signal, kill_at);
    }

    fn clean_up_members(&mut self, pgid: i32, signal: Option<Signal>, kill_at: Instant) {
        let Some(group) = LeftoverGroup::after_leader_exit(pgid, kill_at) else {
            return;
        };
        if let Some(mut signal) = signal {
            // Too many groups already wait for their deadline: no grace for this one.
            let at_once = self.leftover_groups.len() >= leftover::MAX_GROUPS;
            if at_once {
                signal = Signal::SIGKILL;
            }
            for sig in
                std::iter::once(signal).chain(continue_after(signal).then_some(Signal::SIGCONT))
            {
                if let Err(errno) = sys::process_group::signal_group(pgid, sig) {
                    self.hub.publish(&Event::SignalFailed {
                        name: &self.instance.name(),
                        signal: sig,
                        errno,
                    });
                }
            }
            if self.limited_line(LineKind::Outlived) {
                self.hub.publish(&Event::GroupOutlived {
                    name: &self.instance.name(),
                    pgid,
                    members: group.members,
                    signal,
                });
            }
            if at_once {
                return;
            }
        }
        self.leftover_groups.push(group);
    }

    /// Forgets leftover groups that died out; SIGKILLs those whose deadline passed
    /// (or all of them when `all`).
    #[inline(never)]
    pub(super) fn kill_leftover_groups(&mut self, now: Instant, all: bool) {
        let name = &self.instance.name();
        let hub = &self.hub;
        self.leftover_groups.retain_mut(|group| {
            if !group.refresh() {
                false
            } else if all || group.deadline <= now {
                match &group.kind {
                    Members::Group => hub.publish(&Event::GroupKilled {
                        name,
                        pgid: group.pgid,
                    }),
                    Members::Adopted { .. } => hub.publish(&Event::AdoptedSignalled {
                        name,
                        count: group.members,
                        signal: Signal::SIGKILL,
                    }),
                }
                group.kill();
                false
            } else {
                true
            }
        });
    }
}
