//! The event log checked at the end: a spawn line for every pid seen, every kill -9
//! of a persistent program's process as an exit by SIGKILL, the reloads and the
//! shutdown, with the crash-loop summary lines counted for what they replace.

use std::collections::{HashMap, HashSet};

use crate::run::{Chaos, UNNAMED};

impl Chaos {
    /// The event log: a spawn line (or a crash-loop summary's count) for every pid seen, every kill -9 of a persistent
    /// program's process as an exit by SIGKILL, the reloads, the shutdown.
    pub fn check_log(&mut self) {
        let log = self.d.log();
        let spawned: HashSet<i32> = log
            .lines()
            .filter(|l| l.contains("spawned: '"))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        // A crash loop's spawns beyond the first few a second are counted in a summary
        // line instead: an instance may miss as many `spawned` lines as it summarised.
        let summarised = summarised_spawns(&log);
        let mut missing: Vec<(i32, String)> = self
            .seen
            .iter()
            .filter(|((p, _), what)| !what.starts_with("grandchild") && !spawned.contains(p))
            .map(|((p, _), what)| (*p, what.clone()))
            .collect();
        // A child seen in /proc before any status named it is not attributed: it may
        // be one of the summarised spawns left over once the named ones are counted.
        let mut missing_per_instance: HashMap<&str, u64> = HashMap::new();
        for (_, what) in &missing {
            *missing_per_instance.entry(what.as_str()).or_default() += 1;
        }
        let mut left_over: u64 = summarised.values().sum();
        let mut unaccounted: HashSet<String> = HashSet::new();
        for (what, n) in &missing_per_instance {
            if *what == UNNAMED {
                continue;
            }
            if summarised.get(*what).copied().unwrap_or(0) < *n {
                unaccounted.insert(what.to_string());
            }
            left_over = left_over.saturating_sub(*n);
        }
        if missing_per_instance
            .get(UNNAMED)
            .is_some_and(|n| *n > left_over)
        {
            unaccounted.insert(UNNAMED.to_string());
        }
        missing.retain(|(_, what)| unaccounted.contains(what));
        missing.sort();
        if !missing.is_empty() {
            self.violation(format!(
                "{} pids seen without a `spawned` line in the log: {:?}",
                missing.len(),
                &missing[..missing.len().min(10)]
            ));
        }
        for (program, kills) in self.sigkills.clone() {
            let logged = log
                .lines()
                .filter(|l| l.contains("terminated by SIGKILL"))
                .filter(|l| {
                    ["exited: ", "stopped: "].iter().any(|ev| {
                        l.split_once(ev).is_some_and(|(_, rest)| {
                            rest.strip_prefix(program.as_str())
                                .is_some_and(|r| r.starts_with(' ') || r.starts_with(':'))
                        })
                    })
                })
                .count() as u64
                + summarised_sigkill_exits(&log, &program);
            if logged < kills {
                self.violation(format!(
                    "{program}: we kill -9'd {kills} of its processes, the log shows only \
                     {logged} exits by SIGKILL"
                ));
            }
        }
        let applied = log.matches("reload applied:").count() as u64;
        let sent = self.stats.sighups + self.stats.socket_reloads;
        if applied < 1 || applied > sent {
            self.violation(format!(
                "{applied} `reload applied` lines for {sent} reloads sent (allowed 1..={sent})"
            ));
        }
        let failed = log.lines().filter(|l| l.contains("reload failed")).count();
        if failed > 0 {
            self.violation(format!(
                "{failed} reloads of valid configs failed (see the log)"
            ));
        }
        if self.stats.sighups > 0 && !log.contains("signal received: SIGHUP") {
            self.violation("no `signal received: SIGHUP` line in the log".into());
        }
        for line in ["shutdown begun", "shutdown finished"] {
            if !log.contains(line) {
                self.violation(format!("no `{line}` line in the log"));
            }
        }
    }
}

/// Per instance, the spawns that crash-loop summary lines
/// (`NAME: N more spawns, … in the last second`) counted instead of logging.
fn summarised_spawns(log: &str) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for line in log.lines() {
        let Some(rest) = line.strip_suffix(" in the last second") else {
            continue;
        };
        // `DATE TIME LEVEL  NAME: PARTS`
        let Some(message) = rest.get(24..).and_then(|m| m.split_once(' ')) else {
            continue;
        };
        let Some((name, parts)) = message.1.trim_start().split_once(": ") else {
            continue;
        };
        for part in parts.split(", ") {
            if let Some(n) = part
                .strip_suffix(" more spawns")
                .or_else(|| part.strip_suffix(" more spawn"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                *counts.entry(name.to_string()).or_default() += n;
            }
        }
    }
    counts
}

/// The exits by SIGKILL of `program`'s instances that crash-loop summary lines counted
/// instead of logging (`NAME: … N more exits (terminated by SIGKILL; not expected) …`).
fn summarised_sigkill_exits(log: &str, program: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.strip_suffix(" in the last second"))
        .filter_map(|l| l.split_once(&format!(" {program}")).map(|(_, rest)| rest))
        // `PROGRAM: …` or `PROGRAM:N: …`
        .filter_map(|rest| {
            let after = rest.strip_prefix(':')?;
            match after.strip_prefix(' ') {
                Some(parts) => Some(parts),
                None => {
                    let (n, parts) = after.split_once(": ")?;
                    n.parse::<u32>().ok().map(|_| parts)
                }
            }
        })
        .flat_map(|parts| parts.split(", "))
        .filter(|part| part.contains("(terminated by SIGKILL"))
        .filter_map(|part| part.split(' ').next()?.parse::<u64>().ok())
        .sum()
}
