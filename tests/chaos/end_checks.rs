//! The checks once the chaos is over: every flood byte in its file with the right
//! pattern, and restarts counted right.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::common::*;
use crate::model::{Kind, FLOOD_BYTES, PERIOD};
use crate::procfs::proc_info;
use crate::run::{name, pid, state, Chaos};

impl Chaos {
    /// The flood file: `runs` runs of FLOOD_BYTES, each the pattern from 0.
    pub fn check_flood(&mut self) {
        let runs = self
            .d
            .log()
            .lines()
            .filter(|l| l.contains("spawned: 'flood' with pid"))
            .count() as u64;
        if runs != self.stats.flood_starts + 1 {
            self.violation(format!(
                "flood spawned {runs} times, expected {} (autostart + our starts)",
                self.stats.flood_starts + 1
            ));
        }
        let path = self.dir.join("flood.out");
        let want = runs * FLOOD_BYTES;
        let mut seen_len = 0;
        let done = poll_until(secs(120.0), Duration::from_millis(50), || {
            let exited = self
                .status()
                .is_some_and(|s| s.iter().any(|i| name(i) == "flood" && state(i) == "EXITED"));
            seen_len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            (exited && seen_len >= want).then_some(())
        })
        .is_some();
        if !done || seen_len != want {
            self.violation(format!(
                "flood.out has {seen_len} bytes, expected {runs} x {FLOOD_BYTES} = {want}"
            ));
            return;
        }
        const CHUNK: usize = 1 << 20;
        assert_eq!(FLOOD_BYTES % CHUNK as u64, 0);
        let pattern: Vec<u8> = (0..CHUNK + PERIOD).map(|i| (i % PERIOD) as u8).collect();
        let mut file = std::fs::File::open(&path).expect("open flood.out");
        let mut buf = vec![0u8; CHUNK];
        let mut pos: u64 = 0;
        while pos < want {
            file.read_exact(&mut buf).expect("read flood.out");
            let at = ((pos % FLOOD_BYTES) % PERIOD as u64) as usize;
            if buf[..] != pattern[at..at + CHUNK] {
                let off = (0..CHUNK).find(|&j| buf[j] != pattern[at + j]).unwrap_or(0);
                self.violation(format!(
                    "flood.out: wrong byte at offset {} (run {}): {} instead of {}",
                    pos + off as u64,
                    pos / FLOOD_BYTES,
                    buf[off],
                    pattern[at + off]
                ));
                return;
            }
            pos += CHUNK as u64;
        }
        self.stats.bytes_checked = want;
    }

    /// Restarts counted right: kill -9 some steady instances a known number of times
    /// after a manual restart; and a crashing instance's count against its spawns.
    pub fn check_restarts(&mut self) {
        let steady: Vec<String> = self
            .model
            .iter()
            .filter(|p| p.kind == Kind::Steady)
            .flat_map(|p| p.instance_names())
            .take(4)
            .collect();
        let reply = self.ctl("restart", &steady).expect("a reply to restart");
        assert_eq!(
            reply["exit"], 0,
            "seed {}: restart {steady:?}: {reply}",
            self.seed
        );
        let dpid = self.dpid;
        let restarts_of = |status: &[Value], n: &str| {
            status
                .iter()
                .find(|i| name(i) == n)
                .map(|i| (state(i).to_string(), pid(i), i["restarts"].as_u64()))
        };
        let status = self.status_must();
        let mut pids: BTreeMap<String, i32> = BTreeMap::new();
        for n in &steady {
            let (st, p, r) = restarts_of(&status, n).expect("a steady instance");
            assert_eq!(st, "RUNNING", "seed {}: {n} after restart", self.seed);
            if r != Some(0) {
                self.violation(format!("{n}: restarts {r:?} right after a manual restart"));
            }
            pids.insert(n.clone(), p.expect("a pid"));
        }
        for round in 1..=3u64 {
            for (n, p) in pids.clone() {
                let info = proc_info(p).filter(|x| x.live() && x.ppid == dpid);
                let info =
                    info.unwrap_or_else(|| panic!("seed {}: {n} pid {p} not ours", self.seed));
                self.seen.entry((p, info.start)).or_insert(n.clone());
                kill(Pid::from_raw(p), Signal::SIGKILL).expect("kill a steady instance");
                self.stats.kills += 1;
                self.killed.insert(p);
                let program = n.split(':').next().unwrap_or(&n).to_string();
                *self.sigkills.entry(program).or_default() += 1;
                let next = wait_for(
                    &format!("{n} RUNNING again after kill -9"),
                    secs(20.0),
                    || {
                        let status = self.status()?;
                        match restarts_of(&status, &n)? {
                            (st, Some(np), r) if st == "RUNNING" && np != p => Some((np, r)),
                            _ => None,
                        }
                    },
                );
                if next.1 != Some(round) {
                    self.violation(format!(
                        "{n}: restarts {:?} after {round} kill -9 since a manual restart",
                        next.1
                    ));
                } else {
                    self.stats.restarts_checked += 1;
                }
                pids.insert(n, next.0);
            }
        }
        // A crashing instance: its count of automatic spawns against the log's.
        let Some(crash) = self
            .model
            .iter()
            .find(|p| p.kind == Kind::Crash)
            .map(|p| p.instance_names()[0].clone())
        else {
            return;
        };
        let reply = self
            .ctl("restart", std::slice::from_ref(&crash))
            .expect("reply");
        // From the reply on: the restart's own spawn is logged before it (the reply
        // waits for RUNNING or a failed start), and an autorestart racing the
        // restart's stop, before it, is left out as well.
        let mark = self.d.log().len();
        assert!(
            matches!(reply["exit"].as_i64(), Some(0) | Some(1)),
            "seed {}: restart {crash}: {reply}",
            self.seed
        );
        let needle = format!("spawned: '{crash}' with pid");
        let ok = wait_for(
            &format!("{crash} to crash and restart twice"),
            secs(30.0),
            || {
                let s1 = self.status()?;
                let (_, p1, r1) = restarts_of(&s1, &crash)?;
                let spawns = self.d.log()[mark..].matches(&needle).count() as u64;
                let s2 = self.status()?;
                let (_, p2, r2) = restarts_of(&s2, &crash)?;
                // Only a reading with no spawn in between counts.
                if (p1, r1) != (p2, r2) || r1? < 2 {
                    return None;
                }
                Some((r1?, spawns))
            },
        );
        if ok.0 != ok.1 {
            self.violation(format!(
                "{crash}: restarts {} but {} automatic spawns logged since its manual restart",
                ok.0, ok.1
            ));
        } else {
            self.stats.restarts_checked += 1;
        }
    }
}
