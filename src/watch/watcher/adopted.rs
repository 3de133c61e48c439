//! An instance's adopted processes (`orphans::adopted`: what its runs left in
//! groups and sessions of their own, handed to the daemon when their parent
//! exited) are stopped with it, by the same rules as its process group: the
//! stop's signals when the group gets them, and when a leader is reaped, the
//! stop signal (when it exited on its own) and SIGKILL at `stoptime`.

use std::time::Instant;

use nix::sys::signal::Signal;

use super::Watcher;
use crate::hub::Event;
use crate::orphans;
use crate::watch::leftover::{self, LeftoverGroup};
use crate::watch::state::continue_after;

impl Watcher {
    /// What a stop's signal to the child's group (`leader`) does not reach: a
    /// followed process that leads no group (`pidfile`), the adopted processes.
    pub(super) fn signal_outside_group(&self, leader: i32, signal: Signal) {
        self.signal_followed(leader, signal);
        self.signal_adopted(leader, signal);
    }

    /// The machine signalled the child's group (`leader`) to stop it: the
    /// instance's adopted processes get the same signal.
    fn signal_adopted(&self, leader: i32, signal: Signal) {
        let name = self.instance.name();
        let found = orphans::of_instance(&name, leader);
        for process in &found {
            process.signal(signal);
        }
        // SIGCONT follows a stop signal: one line for both.
        if !found.is_empty() && signal != Signal::SIGCONT {
            self.hub.publish(&Event::AdoptedSignalled {
                name: &name,
                count: found.len(),
                signal,
            });
        }
    }

    /// The leader of the current run is reaped: what the run left adopted gets
    /// `signal` now, when given, and SIGKILL at `kill_at`.
    pub(super) fn clean_up_adopted(
        &mut self,
        leader: i32,
        signal: Option<Signal>,
        kill_at: Instant,
    ) {
        let name = self.instance.name();
        let Some(left) = LeftoverGroup::adopted(name.clone(), self.run, leader, kill_at) else {
            return;
        };
        if let Some(mut signal) = signal {
            // As for groups: past the bound, no grace.
            let at_once = self.leftover_groups.len() >= leftover::MAX_GROUPS;
            if at_once {
                signal = Signal::SIGKILL;
            }
            let found = orphans::left_by(&name, self.run, leader);
            for process in &found {
                process.signal(signal);
                if continue_after(signal) {
                    process.signal(Signal::SIGCONT);
                }
            }
            self.hub.publish(&Event::AdoptedSignalled {
                name: &name,
                count: found.len(),
                signal,
            });
            if at_once {
                return;
            }
        }
        self.leftover_groups.push(left);
    }
}
