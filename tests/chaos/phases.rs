//! The run's phases around the chaos: waiting for the instances to settle,
//! starting every program, stopping everything until nothing of ours is alive,
//! and cleaning the orphans our own kills made.

use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::common::*;
use crate::model::Kind;
use crate::procfs::{children, marked, proc_info};
use crate::run::{active, name, state, Chaos};

impl Chaos {
    /// Waits until the instances are exactly the model's and every instance of a
    /// persistent program is RUNNING.
    pub fn wait_settled(&mut self, what: &str) {
        let want = self.expected_instances();
        let mut have = BTreeSet::new();
        let mut pending = Vec::new();
        let settled = poll_until(secs(90.0), Duration::from_millis(50), || {
            let status = self.status_must();
            have = status.iter().map(|i| name(i).to_string()).collect();
            pending = status
                .iter()
                .filter(|i| {
                    let program = i["program"].as_str().unwrap_or("?");
                    self.kind_of(program).is_some_and(Kind::persistent) && state(i) != "RUNNING"
                })
                .map(|i| format!("{} {}", name(i), state(i)))
                .collect();
            (have == want && pending.is_empty()).then_some(())
        });
        if settled.is_none() {
            let missing: Vec<&String> = want.difference(&have).collect();
            let extra: Vec<&String> = have.difference(&want).collect();
            panic!(
                "seed {}: timed out waiting for {what}: missing {missing:?}, unexpected \
                 {extra:?}, not RUNNING {pending:?}",
                self.seed
            );
        }
    }

    /// `start` every program but the flood, checking the reply.
    pub fn start_programs(&mut self) {
        let names = self.program_names(false);
        let reply = self.ctl("start", &names).expect("a reply to start");
        assert!(
            matches!(reply["exit"].as_i64(), Some(0) | Some(1)),
            "seed {}: start of every program: {reply}",
            self.seed
        );
    }

    /// `stop all`, then waits until no process of ours is alive at all (children and
    /// leftover grandchildren), so the pumps are done.
    pub fn stop_everything(&mut self) {
        let reply = self
            .ctl("stop", &["all".to_string()])
            .expect("a reply to stop all");
        assert!(
            matches!(reply["exit"].as_i64(), Some(0) | Some(1)),
            "seed {}: stop all: {reply}",
            self.seed
        );
        let (dpid, token) = (self.dpid, self.token.clone());
        wait_for(
            "every process of ours to be gone after stop all",
            secs(30.0),
            || (children(dpid).is_empty() && marked(&token).is_empty()).then_some(()),
        );
        let status = self.status_must();
        let busy: Vec<String> = status
            .iter()
            .filter(|i| active(state(i)) || state(i) == "BACKOFF")
            .map(|i| format!("{} {}", name(i), state(i)))
            .collect();
        assert!(
            busy.is_empty(),
            "seed {}: instances still started after stop all: {busy:?}",
            self.seed
        );
    }

    /// Kills the grandchildren orphaned by our own kill -9 of their leader that are
    /// still alive (taskmaster gives them the stopsignal and SIGKILL at `stoptime`,
    /// README: Process states; the forkers that ignore TERM would outlive the run's
    /// settling otherwise). Returns how many there were.
    pub fn kill_our_orphans(&mut self) -> u64 {
        let mut n = 0;
        for (p, info) in marked(&self.token) {
            if info.ppid != self.dpid && self.killed.contains(&info.pgrp) {
                let leader_alive = proc_info(info.pgrp).is_some_and(|x| x.live());
                if !leader_alive && kill(Pid::from_raw(p), Signal::SIGKILL).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }
}
