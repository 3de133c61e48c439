//! The driver's random actions: kill -9 of a child or a grandchild, a
//! `start`/`stop`/`restart` over the socket, a config edit applied by SIGHUP or
//! `reload`, and another flood run.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::model::{Kind, Prog};
use crate::procfs::{proc_info, still_alive};
use crate::run::{name, pid, state, Chaos};

impl Chaos {
    pub fn kill_child(&mut self) {
        let Some(status) = self.status() else { return };
        let candidates: Vec<(String, String, i32)> = status
            .iter()
            .filter(|i| matches!(state(i), "STARTING" | "RUNNING"))
            .filter(|i| i["program"] != "flood")
            .filter_map(|i| {
                Some((
                    name(i).to_string(),
                    i["program"].as_str()?.to_string(),
                    pid(i)?,
                ))
            })
            .collect();
        let Some((inst, program, p)) = self.rng.pick(&candidates).cloned() else {
            return;
        };
        // Never signal anything that is not our daemon's live child.
        let Some(info) = proc_info(p).filter(|x| x.live() && x.ppid == self.dpid) else {
            return;
        };
        self.seen.entry((p, info.start)).or_insert(inst);
        if kill(Pid::from_raw(p), Signal::SIGKILL).is_ok() {
            self.stats.kills += 1;
            self.killed.insert(p);
            if self.kind_of(&program).is_some_and(Kind::persistent) {
                *self.sigkills.entry(program).or_default() += 1;
            }
        }
    }

    pub fn kill_grandchild(&mut self) {
        self.scan_pidfiles();
        let live: Vec<(i32, u64, i32)> = self
            .grandchildren
            .iter()
            .filter(|((p, start), leader)| {
                proc_info(*p).is_some_and(|x| x.start == *start && x.live() && x.pgrp == **leader)
            })
            .map(|((p, s), l)| (*p, *s, *l))
            .collect();
        let Some(&(p, start, _)) = self.rng.pick(&live) else {
            return;
        };
        if still_alive(p, start) && kill(Pid::from_raw(p), Signal::SIGKILL).is_ok() {
            self.stats.grandchild_kills += 1;
        }
    }

    pub fn command(&mut self) {
        let verb: &'static str = ["start", "stop", "restart"][self.rng.below(3)];
        let target = match self.rng.below(20) {
            0 => format!("nosuch_{}", self.rng.below(5)),
            1..=5 => match self.rng.pick(&self.program_names(false)) {
                Some(n) => n.clone(),
                None => return,
            },
            _ => {
                let Some(status) = self.status() else { return };
                let names: Vec<String> = status
                    .iter()
                    .filter(|i| i["program"] != "flood")
                    .map(|i| name(i).to_string())
                    .collect();
                match self.rng.pick(&names) {
                    Some(n) => n.clone(),
                    None => return,
                }
            }
        };
        *self.stats.commands.entry(verb).or_default() += 1;
        if let Some(reply) = self.ctl(verb, std::slice::from_ref(&target)) {
            let exit = reply["exit"].as_i64();
            if reply["ok"].as_bool().is_none() || !matches!(exit, Some(0) | Some(1)) {
                self.violation(format!("{verb} {target}: unexpected reply {reply}"));
            } else if exit == Some(1) {
                self.stats.command_errors += 1;
            }
        }
    }

    /// One random edit of the model (never the flood), written atomically and applied
    /// by SIGHUP (mostly) or `reload` over the socket.
    pub fn reload_edit(&mut self) {
        let editable: Vec<usize> = (0..self.model.len())
            .filter(|&k| self.model[k].kind != Kind::Flood)
            .collect();
        let k = *self.rng.pick(&editable).expect("programs to edit");
        let what: &'static str = match self.rng.below(4) {
            0 => {
                let r = self.rng.below(7);
                let p = &mut self.model[k];
                match r {
                    0 => p.autorestart = ["always", "unexpected", "never"][self.rng.below(3)],
                    1 => p.starttime = [0.0, 0.1, 0.2, 0.3][self.rng.below(4)],
                    2 => p.stoptime = [0.2, 0.5, 0.8][self.rng.below(3)],
                    3 => p.startretries = self.rng.range(1, 5) as u32,
                    4 => p.exitcodes = ["[0]", "[0, 1]", "0"][self.rng.below(3)],
                    5 => p.stopsignal = ["TERM", "INT", "SIGTERM"][self.rng.below(3)],
                    _ => p.autostart = !p.autostart,
                }
                "policy"
            }
            1 => {
                let r = self.rng.below(3);
                let p = &mut self.model[k];
                match r {
                    0 => p.gen += 1,
                    1 => p.umask = if p.umask.is_some() { None } else { Some("027") },
                    _ if p.kind == Kind::Crash => {
                        p.crash_after = 1.0 + self.rng.range(0, 9) as f64 / 10.0
                    }
                    _ => p.gen += 1,
                }
                "launch"
            }
            2 => {
                let p = &mut self.model[k];
                let old = p.numprocs;
                while p.numprocs == old {
                    p.numprocs = self.rng.range(1, 4) as u32;
                }
                "scale"
            }
            _ => {
                let extras: Vec<usize> = (0..self.model.len())
                    .filter(|&k| self.model[k].name.starts_with("extra_"))
                    .collect();
                if !extras.is_empty() && (extras.len() >= 6 || self.rng.below(2) == 0) {
                    let gone = *self.rng.pick(&extras).expect("an extra");
                    self.model.remove(gone);
                    "remove"
                } else {
                    let kind = [Kind::Steady, Kind::Quick, Kind::Stubborn][self.rng.below(3)];
                    let name = format!("extra_{}", self.next_extra);
                    self.next_extra += 1;
                    let numprocs = self.rng.range(1, 2) as u32;
                    let p = Prog::new(name.clone(), kind, numprocs, &mut self.rng);
                    self.kinds.insert(name, kind);
                    self.model.push(p);
                    "add"
                }
            }
        };
        *self.stats.edits.entry(what).or_default() += 1;
        self.write_config();
        if self.rng.below(6) == 0 {
            self.stats.socket_reloads += 1;
            if let Some(reply) = self.ctl("reload", &[]) {
                if reply["exit"].as_i64() != Some(0) {
                    self.violation(format!("reload of a valid config failed: {reply}"));
                }
            }
        } else {
            self.stats.sighups += 1;
            self.d.signal(1);
        }
    }

    /// Another flood run, when the last one is over.
    pub fn flood(&mut self) {
        if self.stats.flood_starts >= self.flood_max_starts {
            return;
        }
        let Some(status) = self.status() else { return };
        if status
            .iter()
            .any(|i| name(i) == "flood" && state(i) == "EXITED")
        {
            self.stats.flood_starts += 1;
            if let Some(reply) = self.ctl("start", &["flood".to_string()]) {
                if reply["exit"].as_i64() != Some(0) {
                    self.violation(format!("start flood: {reply}"));
                }
            }
        }
    }
}
