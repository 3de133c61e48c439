//! The continuous invariants, checked every ~0.5 s while the driver runs: `status`
//! agrees with /proc (see tests/chaos.rs), with one re-check after a grace for a
//! spawn in progress or a death being reaped.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::common::*;
use crate::procfs::{children, describe_pid, proc_info, Proc};
use crate::run::{active, name, pid, state, Chaos, UNNAMED};

/// Grace before a suspicious observation is re-checked (spawn in progress, reaping).
const GRACE: Duration = Duration::from_millis(200);

impl Chaos {
    /// Remembers every process of ours in `status` and among the daemon's children,
    /// and every grandchild named by a PIDFILE.
    fn record(&mut self, status: &[Value], kids: &[(i32, Proc)]) {
        for i in status {
            if let Some(p) = pid(i) {
                if let Some(info) = proc_info(p).filter(|x| x.live() && x.ppid == self.dpid) {
                    self.seen
                        .entry((p, info.start))
                        .or_insert_with(|| name(i).to_string());
                }
            }
        }
        for (p, info) in kids {
            if info.live() {
                self.seen
                    .entry((*p, info.start))
                    .or_insert_with(|| UNNAMED.to_string());
            }
        }
        self.scan_pidfiles();
    }

    pub fn scan_pidfiles(&mut self) {
        let entries: Vec<(i32, PathBuf)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().into_string().ok()?;
                let leader = n.strip_prefix("pidf.")?.parse().ok()?;
                Some((leader, e.path()))
            })
            .collect();
        for (leader, path) in entries {
            for line in read(&path).lines().skip(1) {
                let Ok(p) = line.trim().parse::<i32>() else {
                    continue;
                };
                // Ours only if it is in the leader's process group (setsid made it).
                if let Some(info) = proc_info(p).filter(|x| x.live() && x.pgrp == leader) {
                    if self.grandchildren.insert((p, info.start), leader).is_none() {
                        self.seen
                            .insert((p, info.start), format!("grandchild of {leader}"));
                    }
                }
            }
        }
    }

    /// The last log lines about the instance that `pid` was spawned for.
    fn log_context(&self, pid: i32) -> String {
        let log = self.d.log();
        let needle = format!("with pid {pid}");
        let Some(spawn) = log
            .lines()
            .find(|l| l.contains("spawned: '") && l.ends_with(&needle))
        else {
            return format!("(no spawned line for pid {pid} in the log)");
        };
        let inst = spawn.split('\'').nth(1).unwrap_or("?").to_string();
        let about: Vec<&str> = log.lines().filter(|l| l.contains(&inst)).collect();
        let tail = &about[about.len().saturating_sub(5)..];
        let program = inst.split(':').next().unwrap_or(&inst);
        let reload = log
            .lines()
            .rfind(|l| l.contains(&format!("reload: {program}: ")))
            .unwrap_or("(none yet: a reload logs its lines once applied)");
        format!("log: {spawn:?}; last lines about {inst}: {tail:?}; last reload of {program}: {reload:?}")
    }

    /// The continuous invariants (see tests/chaos.rs). Suspects get one re-check
    /// after `GRACE`; what still holds then is a violation.
    pub fn check(&mut self) {
        let Some(status) = self.status() else {
            return;
        };
        let kids = children(self.dpid);
        self.record(&status, &kids);
        let dpid = self.dpid;
        // A: shown with a process -> that process is alive and ours.
        let mut sus_a: Vec<(String, String, Option<i32>)> = Vec::new();
        for i in &status {
            if !active(state(i)) {
                continue;
            }
            let ok = pid(i)
                .and_then(proc_info)
                .is_some_and(|p| p.live() && p.ppid == dpid);
            if !ok {
                sus_a.push((name(i).to_string(), state(i).to_string(), pid(i)));
            }
        }
        // B: every live child that leads its process group is shown as the pid of
        // a started instance (one that does not is an adopted member of a group
        // whose leader is gone: README, Running in production); C: no zombie.
        let shown: HashSet<i32> = status
            .iter()
            .filter(|i| active(state(i)))
            .filter_map(pid)
            .collect();
        let sus_b: Vec<(i32, Proc)> = kids
            .iter()
            .filter(|(p, i)| i.live() && i.pgrp == *p && !shown.contains(p))
            .copied()
            .collect();
        let sus_c: Vec<(i32, Proc)> = kids.iter().filter(|(_, i)| !i.live()).copied().collect();
        if sus_a.is_empty() && sus_b.is_empty() && sus_c.is_empty() {
            self.stats.checks += 1;
            return;
        }
        // The grace window the invariants allow (spawn in progress, death being reaped).
        std::thread::sleep(GRACE);
        let Some(status2) = self.status() else {
            return;
        };
        let before = self.violations.len();
        for (inst, st, p) in sus_a {
            let now = status2.iter().find(|i| name(i) == inst);
            let Some(now) = now else { continue };
            if !active(state(now)) || pid(now) != p {
                continue;
            }
            let still_bad = !p
                .and_then(proc_info)
                .is_some_and(|x| x.live() && x.ppid == dpid);
            if still_bad {
                let what = p.map_or("no pid".to_string(), describe_pid);
                let ctx = p.map(|p| self.log_context(p)).unwrap_or_default();
                self.violation(format!(
                    "{inst} shown {st} (then {}) with pid {p:?}, but /proc: {what} \
                     (the daemon is {dpid}); {ctx}",
                    state(now)
                ));
            }
        }
        let shown2: HashMap<i32, (String, String)> = status2
            .iter()
            .filter_map(|i| Some((pid(i)?, (name(i).to_string(), state(i).to_string()))))
            .collect();
        for (p, info) in sus_b {
            let Some(now) = proc_info(p) else { continue };
            if now.start != info.start || !now.live() || now.ppid != dpid {
                continue;
            }
            match shown2.get(&p) {
                Some((_, st)) if active(st) => {}
                other => {
                    let shown_as = match other {
                        Some((n, st)) => format!("shown as {n} in {st}"),
                        None => "shown by no instance".to_string(),
                    };
                    let msg = format!(
                        "live child of the daemon not shown as started ({shown_as}) \
                         {GRACE:?} later: {}; {}",
                        describe_pid(p),
                        self.log_context(p)
                    );
                    self.violation(msg);
                }
            }
        }
        for (p, info) in sus_c {
            if proc_info(p).is_some_and(|x| x.start == info.start && x.state == 'Z') {
                let msg = format!(
                    "zombie child {p} of the daemon still unreaped {GRACE:?} later; {}",
                    self.log_context(p)
                );
                self.violation(msg);
            }
        }
        if self.violations.len() == before {
            self.stats.checks += 1;
            self.stats.rechecked += 1;
        }
    }
}
