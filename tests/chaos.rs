//! Chaos soak (issue: "chaos soak test"): many instances of mixed programs — steady,
//! crashing, quick-exiting, TERM-ignoring, chatty, forking grandchildren, one flood —
//! while a single-threaded driver, for a bounded time, picks at random: kill -9 of a
//! child or a grandchild, `start`/`stop`/`restart` over the control socket, a random
//! config edit applied by SIGHUP (or `reload` over the socket), and another flood run.
//!
//! Checked every ~0.5 s: `status` agrees with /proc (every instance shown
//! STARTING/RUNNING/STOPPING has a live pid whose parent is the daemon; every live
//! child of the daemon that leads its process group is shown as the pid of a
//! started instance — the others are grandchildren it adopted when their leader
//! was killed; no zombie child).
//! A suspect is re-checked once after a 200 ms grace (a spawn in progress, a death
//! being reaped) before it counts. At the end: the original config restored and
//! applied, every flood byte in its file with the right pattern, restarts counted
//! right, every spawn and every kill in the event log, the daemon's descriptors and
//! threads back to their baseline, a clean shutdown (exit 0) and no process of ours
//! left — children, grandchildren, anything carrying this run's marker variable.
//!
//! Size and length: `TASKMASTER_CHAOS_SECS` (default 15, the CI variant) and
//! `TASKMASTER_CHAOS_INSTANCES` (default 60; 200 for the on-demand soak, e.g.
//! `TASKMASTER_CHAOS_SECS=120 TASKMASTER_CHAOS_INSTANCES=200 cargo test --test chaos
//! -- --nocapture`). The run's seed is printed; `TASKMASTER_CHAOS_SEED` replays it.
//!
//! Violations are collected rather than fatal on the spot, so one run reports all it
//! saw; the test fails at the end with every violation (and the seed).

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

/// Bytes written by one run of the flood program.
const FLOOD_BYTES: u64 = 64 << 20;
/// The flood's pattern period (testprog: byte i is i % 251).
const PERIOD: usize = 251;
/// Grace before a suspicious observation is re-checked (spawn in progress, reaping).
const GRACE: Duration = Duration::from_millis(200);
/// Pause between two invariant checks.
const CHECK_EVERY: Duration = Duration::from_millis(500);

// ---- deterministic PRNG --------------------------------------------------------------

/// xorshift64*: small, fast, and reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

// ---- /proc -----------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Proc {
    state: char,
    ppid: i32,
    pgrp: i32,
    /// Start time in clock ticks since boot: tells a process from a later one that
    /// got the same pid.
    start: u64,
}

impl Proc {
    fn live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

fn proc_info(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Proc {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// The same process (pid and start time) is still there and not a zombie.
fn still_alive(pid: i32, start: u64) -> bool {
    proc_info(pid).is_some_and(|p| p.start == start && p.live())
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .trim_end_matches('\0')
                .replace('\0', " ")
        })
        .unwrap_or_default()
}

fn describe_pid(pid: i32) -> String {
    match proc_info(pid) {
        Some(p) => format!(
            "pid {pid}: state {} ppid {} pgrp {} cmd {:?}",
            p.state,
            p.ppid,
            p.pgrp,
            cmdline(pid)
        ),
        None => format!("pid {pid}: gone from /proc"),
    }
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Direct children of `parent` that run programs (not its spawn helper), with
/// their /proc facts.
fn children(parent: i32) -> Vec<(i32, Proc)> {
    all_pids()
        .into_iter()
        .filter(|&p| !is_spawn_helper(p))
        .filter_map(|p| Some((p, proc_info(p)?)))
        .filter(|(_, i)| i.ppid == parent)
        .collect()
}

/// Live processes whose environment carries this run's marker: every child and
/// grandchild the daemon started for this test, whoever their parent is now.
fn marked(token: &str) -> Vec<(i32, Proc)> {
    let needle = format!("CHAOS_MARK={token}\0");
    all_pids()
        .into_iter()
        .filter(|&p| !is_spawn_helper(p))
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .filter_map(|p| Some((p, proc_info(p)?)))
        .filter(|(_, i)| i.live())
        .collect()
}

// ---- the config model ------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Steady,
    Crash,
    Quick,
    Stubborn,
    Chatty,
    Forker,
    ForkerIgnore,
    Flood,
}

impl Kind {
    /// Programs whose processes never exit on their own: every kill -9 of one is
    /// an exit by SIGKILL the log must show.
    fn persistent(self) -> bool {
        matches!(
            self,
            Kind::Steady | Kind::Stubborn | Kind::Chatty | Kind::Forker | Kind::ForkerIgnore
        )
    }
}

#[derive(Clone, Debug)]
struct Prog {
    name: String,
    kind: Kind,
    numprocs: u32,
    autostart: bool,
    autorestart: &'static str,
    exitcodes: &'static str,
    startretries: u32,
    starttime: f64,
    stoptime: f64,
    stopsignal: &'static str,
    /// Launch fields the edits play with.
    gen: u32,
    umask: Option<&'static str>,
    crash_after: f64,
}

impl Prog {
    fn new(name: String, kind: Kind, numprocs: u32, rng: &mut Rng) -> Prog {
        let (autorestart, starttime) = match kind {
            Kind::Steady => ("always", 0.2),
            Kind::Quick => ("always", 0.0),
            Kind::Flood => ("never", 0.0),
            Kind::Crash | Kind::Forker | Kind::ForkerIgnore => ("unexpected", 0.3),
            Kind::Stubborn | Kind::Chatty => ("unexpected", 0.2),
        };
        Prog {
            name,
            kind,
            numprocs,
            autostart: true,
            autorestart,
            exitcodes: "[0]",
            startretries: 3,
            starttime,
            stoptime: 0.5,
            stopsignal: "TERM",
            gen: 0,
            umask: None,
            crash_after: 1.0 + rng.range(0, 9) as f64 / 10.0,
        }
    }

    fn cmd(&self, testprog: &str, dir: &Path) -> String {
        let dir = dir.display();
        match self.kind {
            Kind::Steady => format!("{testprog} sleep"),
            Kind::Crash => format!("{testprog} exit 1 {}", self.crash_after),
            Kind::Quick => format!("{testprog} exit 0 0.4"),
            Kind::Stubborn => format!("{testprog} ignore-term"),
            Kind::Chatty => format!("{testprog} chatty"),
            // `exec` keeps the shell's pid, so the PIDFILE is named by the instance's pid.
            Kind::Forker => format!("sh -c 'exec {testprog} fork 2 {dir}/pidf.$$'"),
            Kind::ForkerIgnore => format!("sh -c 'exec {testprog} fork-ignore 2 {dir}/pidf.$$'"),
            Kind::Flood => format!("{testprog} flood {FLOOD_BYTES}"),
        }
    }

    fn instance_names(&self) -> Vec<String> {
        if self.numprocs == 1 {
            vec![self.name.clone()]
        } else {
            (0..self.numprocs)
                .map(|k| format!("{}:{k}", self.name))
                .collect()
        }
    }
}

fn render(progs: &[Prog], dir: &Path, token: &str) -> String {
    let mut y = String::from("programs:\n");
    for p in progs {
        y.push_str(&format!("  {}:\n", p.name));
        y.push_str(&format!("    cmd: \"{}\"\n", p.cmd(testprog(), dir)));
        y.push_str(&format!("    numprocs: {}\n", p.numprocs));
        y.push_str(&format!("    autostart: {}\n", p.autostart));
        y.push_str(&format!("    autorestart: {}\n", p.autorestart));
        y.push_str(&format!("    exitcodes: {}\n", p.exitcodes));
        y.push_str(&format!("    startretries: {}\n", p.startretries));
        y.push_str(&format!("    starttime: {}\n", p.starttime));
        y.push_str(&format!("    stoptime: {}\n", p.stoptime));
        y.push_str(&format!("    stopsignal: {}\n", p.stopsignal));
        y.push_str(&format!(
            "    env: {{CHAOS_MARK: \"{token}\", CHAOS_GEN: \"{}\"}}\n",
            p.gen
        ));
        if let Some(u) = p.umask {
            y.push_str(&format!("    umask: \"{u}\"\n"));
        }
        let out = match p.kind {
            Kind::Chatty => Some(format!("{}.out", p.name)),
            Kind::Flood => Some("flood.out".to_string()),
            _ => None,
        };
        if let Some(out) = out {
            let path = dir.join(out);
            y.push_str(&format!("    stdout: {}\n", path.display()));
            y.push_str(&format!("    stderr: {}\n", path.display()));
        }
    }
    y
}

/// The initial programs: `instances` in all, the flood among them.
fn initial_programs(instances: usize, rng: &mut Rng) -> Vec<Prog> {
    const KINDS: [Kind; 8] = [
        Kind::Steady,
        Kind::Crash,
        Kind::Quick,
        Kind::Stubborn,
        Kind::Chatty,
        Kind::Forker,
        Kind::Steady,
        Kind::ForkerIgnore,
    ];
    const NUMPROCS: [u32; 6] = [3, 2, 1, 4, 2, 3];
    let mut progs = vec![Prog::new("flood".into(), Kind::Flood, 1, rng)];
    let mut left = instances.saturating_sub(1) as u32;
    let mut n = 0;
    while left > 0 {
        let kind = KINDS[n % KINDS.len()];
        let numprocs = NUMPROCS[n % NUMPROCS.len()].min(left);
        let tag = match kind {
            Kind::Steady => "steady",
            Kind::Crash => "crash",
            Kind::Quick => "quick",
            Kind::Stubborn => "stub",
            Kind::Chatty => "chat",
            Kind::Forker => "fork",
            Kind::ForkerIgnore => "forki",
            Kind::Flood => "flood",
        };
        progs.push(Prog::new(format!("{tag}_{n}"), kind, numprocs, rng));
        left -= numprocs;
        n += 1;
    }
    progs
}

// ---- the run ---------------------------------------------------------------------------

fn state(i: &Value) -> &str {
    i["state"].as_str().unwrap_or("?")
}

fn name(i: &Value) -> &str {
    i["name"].as_str().unwrap_or("?")
}

fn pid(i: &Value) -> Option<i32> {
    i["pid"].as_i64().map(|p| p as i32)
}

/// States in which an instance has a process.
fn active(state: &str) -> bool {
    matches!(state, "STARTING" | "RUNNING" | "STOPPING")
}

#[derive(Default)]
struct Stats {
    kills: u64,
    grandchild_kills: u64,
    commands: BTreeMap<&'static str, u64>,
    command_errors: u64,
    slowest_reply: Duration,
    sighups: u64,
    socket_reloads: u64,
    edits: BTreeMap<&'static str, u64>,
    flood_starts: u64,
    checks: u64,
    rechecked: u64,
    max_instances: usize,
    orphans_cleaned: u64,
    bytes_checked: u64,
    restarts_checked: u64,
}

/// Kills, on drop, every process still carrying this run's marker (a failed run must
/// not leak into the machine). Declared before the daemon, so it runs after the
/// daemon's own drop has taken the daemon and its process groups down.
struct Reaper(String);

impl Drop for Reaper {
    fn drop(&mut self) {
        for (p, _) in marked(&self.0) {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
}

struct Chaos {
    d: Daemon,
    dpid: i32,
    dir: PathBuf,
    token: String,
    seed: u64,
    rng: Rng,
    t0: Instant,
    model: Vec<Prog>,
    /// Program name -> kind, for every program that ever existed.
    kinds: HashMap<String, Kind>,
    next_extra: u32,
    /// Every process of ours ever seen: (pid, start time) -> what it was.
    seen: HashMap<(i32, u64), String>,
    /// Grandchildren from PIDFILEs: (pid, start time) -> their leader's pid.
    grandchildren: HashMap<(i32, u64), i32>,
    /// Children we SIGKILLed (for forkers: the pgid their grandchildren keep).
    killed: HashSet<i32>,
    /// SIGKILLs we dealt to processes of persistent programs, per program.
    sigkills: BTreeMap<String, u64>,
    flood_max_starts: u64,
    violations: Vec<String>,
    stats: Stats,
}

impl Chaos {
    fn violation(&mut self, msg: String) {
        let t = self.t0.elapsed().as_secs_f64();
        eprintln!("chaos: VIOLATION at {t:.2}s: {msg}");
        self.violations.push(format!("[{t:.2}s] {msg}"));
    }

    fn sock(&self) -> PathBuf {
        self.d.socket()
    }

    /// One request over the control socket; a reply must always come.
    fn ctl(&mut self, command: &str, args: &[String]) -> Option<Value> {
        let begin = Instant::now();
        let result = (|| -> Result<Value, String> {
            let mut s = UnixStream::connect(self.sock()).map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(secs(60.0)))
                .map_err(|e| e.to_string())?;
            let request = json!({ "command": command, "args": args });
            writeln!(s, "{request}").map_err(|e| format!("send: {e}"))?;
            let mut line = String::new();
            BufReader::new(s)
                .read_line(&mut line)
                .map_err(|e| format!("read: {e}"))?;
            if line.is_empty() {
                return Err("connection closed without a reply".into());
            }
            serde_json::from_str(&line).map_err(|e| format!("reply {line:?} is not JSON: {e}"))
        })();
        self.stats.slowest_reply = self.stats.slowest_reply.max(begin.elapsed());
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.violation(format!("no reply to {command} {args:?}: {e}"));
                None
            }
        }
    }

    fn status(&mut self) -> Option<Vec<Value>> {
        let reply = self.ctl("status", &["--json".to_string()])?;
        match &reply["data"] {
            Value::Array(items) => {
                self.stats.max_instances = self.stats.max_instances.max(items.len());
                Some(items.clone())
            }
            other => {
                self.violation(format!("status --json without a data array: {other}"));
                None
            }
        }
    }

    /// Status, retried until it answers (the end phases need one).
    fn status_must(&mut self) -> Vec<Value> {
        wait_for("a status reply", secs(60.0), || self.status())
    }

    fn write_config(&self) {
        let text = render(&self.model, &self.dir, &self.token);
        let tmp = self.dir.join("taskmaster.yaml.tmp");
        std::fs::write(&tmp, text).expect("write the new config");
        std::fs::rename(&tmp, &self.d.config).expect("replace the config");
    }

    fn program_names(&self, with_flood: bool) -> Vec<String> {
        self.model
            .iter()
            .filter(|p| with_flood || p.kind != Kind::Flood)
            .map(|p| p.name.clone())
            .collect()
    }

    fn expected_instances(&self) -> BTreeSet<String> {
        self.model.iter().flat_map(|p| p.instance_names()).collect()
    }

    fn kind_of(&self, program: &str) -> Option<Kind> {
        self.kinds.get(program).copied()
    }

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

    fn scan_pidfiles(&mut self) {
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

    /// The continuous invariants (see the file comment). Suspects get one re-check
    /// after `GRACE`; what still holds then is a violation.
    fn check(&mut self) {
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

    // ---- driver actions ----------------------------------------------------------------

    fn kill_child(&mut self) {
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

    fn kill_grandchild(&mut self) {
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

    fn command(&mut self) {
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
    fn reload_edit(&mut self) {
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
    fn flood(&mut self) {
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

    // ---- phases ------------------------------------------------------------------------

    /// Waits until the instances are exactly the model's and every instance of a
    /// persistent program is RUNNING.
    fn wait_settled(&mut self, what: &str) {
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
    fn start_programs(&mut self) {
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
    fn stop_everything(&mut self) {
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

    /// The flood file: `runs` runs of FLOOD_BYTES, each the pattern from 0.
    fn check_flood(&mut self) {
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
    fn check_restarts(&mut self) {
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

    /// Kills the grandchildren orphaned by our own kill -9 of their leader that are
    /// still alive (taskmaster gives them the stopsignal and SIGKILL at `stoptime`,
    /// README: Process states; the forkers that ignore TERM would outlive the run's
    /// settling otherwise). Returns how many there were.
    fn kill_our_orphans(&mut self) -> u64 {
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

    /// The event log: a spawn line (or a crash-loop summary's count) for every pid seen, every kill -9 of a persistent
    /// program's process as an exit by SIGKILL, the reloads, the shutdown.
    fn check_log(&mut self) {
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

#[test]
fn chaos_soak() {
    let duration = secs(env_num("TASKMASTER_CHAOS_SECS").unwrap_or(15.0));
    let instances: usize = env_num::<usize>("TASKMASTER_CHAOS_INSTANCES")
        .unwrap_or(60)
        .max(10);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let seed: u64 =
        env_num("TASKMASTER_CHAOS_SEED").unwrap_or(nanos ^ u64::from(std::process::id()));
    eprintln!(
        "chaos: seed {seed} (replay with TASKMASTER_CHAOS_SEED={seed}), {instances} instances, \
         {:.0} s",
        duration.as_secs_f64()
    );
    let mut rng = Rng::new(seed);
    let token = format!("chaos-{}-{seed:x}", std::process::id());
    let _reaper = Reaper(token.clone());

    let dir = TempDir::new("chaos");
    let dir_path = dir.0.clone();
    let model = initial_programs(instances, &mut rng);
    let config = dir.path("taskmaster.yaml");
    std::fs::write(&config, render(&model, &dir_path, &token)).expect("write config");
    let d = Daemon::start_in(dir, config);
    let dpid = d.pid();
    let kinds = model.iter().map(|p| (p.name.clone(), p.kind)).collect();
    let mut c = Chaos {
        d,
        dpid,
        dir: dir_path,
        token,
        seed,
        rng,
        t0: Instant::now(),
        model: model.clone(),
        kinds,
        next_extra: 0,
        seen: HashMap::new(),
        grandchildren: HashMap::new(),
        killed: HashSet::new(),
        sigkills: BTreeMap::new(),
        flood_max_starts: 1 + duration.as_secs() / 30,
        violations: Vec::new(),
        stats: Stats::default(),
    };
    wait_for("the control socket", secs(30.0), || {
        UnixStream::connect(c.sock()).ok()
    });

    // Baseline: everything up once, the first flood done; then all stopped, nothing
    // of ours alive, and the daemon's descriptors and threads counted.
    c.wait_settled("start-up");
    let startup = c.t0.elapsed();
    let flood_done = |c: &mut Chaos| {
        c.status()
            .is_some_and(|s| s.iter().any(|i| name(i) == "flood" && state(i) == "EXITED"))
            .then_some(())
    };
    wait_for("the first flood to finish", secs(120.0), || {
        flood_done(&mut c)
    });
    c.check();
    c.stop_everything();
    let (fds0, threads0) = quiet_counts(dpid);
    c.start_programs();
    c.wait_settled("restart after the baseline");
    eprintln!(
        "chaos: started {instances} instances in {:.2} s; baseline {fds0} fds, {threads0} threads",
        startup.as_secs_f64()
    );

    // The chaos.
    let chaos_start = Instant::now();
    let end = chaos_start + duration;
    let mut next_check = Instant::now();
    while Instant::now() < end {
        if Instant::now() >= next_check {
            c.check();
            next_check = Instant::now() + CHECK_EVERY;
        }
        match c.rng.below(100) {
            0..=29 => c.kill_child(),
            30..=41 => c.kill_grandchild(),
            42..=79 => c.command(),
            80..=91 => {
                c.reload_edit();
                // Look soon after a reload too: removed and restarted instances are
                // mid-stop then (a TERM-ignorer for its whole stoptime).
                next_check = next_check.min(Instant::now() + Duration::from_millis(100));
            }
            92..=94 => c.flood(),
            _ => {}
        }
        // Pacing of the driver (not a synchronisation).
        let pause = c.rng.range(5, 40);
        std::thread::sleep(Duration::from_millis(pause));
    }
    let chaos_secs = chaos_start.elapsed().as_secs_f64();
    eprintln!("chaos: driver done after {chaos_secs:.1} s; settling");

    // Back to the original config, applied and settled; the orphans our kill -9 of
    // forkers made are ours to clean; then everything started again and checked.
    c.model = model;
    c.write_config();
    c.stats.socket_reloads += 1;
    let reply = c.ctl("reload", &[]).expect("a reply to the final reload");
    assert_eq!(reply["exit"], 0, "seed {seed}: final reload: {reply}");
    c.stats.orphans_cleaned = c.kill_our_orphans();
    c.start_programs();
    c.wait_settled("the restored config");
    c.check();
    c.check_flood();
    c.check_restarts();
    c.check();

    // Leak check against the baseline, in the same shape: same config, all stopped,
    // nothing of ours alive.
    c.stats.orphans_cleaned += c.kill_our_orphans();
    c.stop_everything();
    // Slack of 2: the control connection we just closed may still have its thread and
    // socket for a moment, and the event log may be mid-reopen; a leak per spawn,
    // kill or reload would show as hundreds.
    const SLACK: usize = 2;
    let mut last = (0, 0);
    // quiet_counts waits by itself: no sleep between readings.
    let settled = poll_until(secs(20.0), Duration::ZERO, || {
        last = quiet_counts(dpid);
        (last.0 <= fds0 + SLACK && last.1 <= threads0 + SLACK).then_some(())
    })
    .is_some();
    if !settled {
        let msg = format!(
            "leak: the daemon has {} fds and {} threads at rest, baseline {fds0} and {threads0}",
            last.0, last.1
        );
        c.violation(msg);
    }

    // A shutdown with everything running (fork-ignore groups included).
    c.start_programs();
    c.wait_settled("the start before shutdown");
    c.check();
    let code = c.d.finish(secs(60.0));
    if code != 0 {
        c.violation(format!("taskmaster exited {code} after the shutdown"));
    }
    let token = c.token.clone();
    let mut gone: Vec<String> = Vec::new();
    poll_until(secs(10.0), Duration::from_millis(50), || {
        gone = c
            .seen
            .iter()
            .filter(|((p, start), _)| still_alive(*p, *start))
            .map(|((p, _), what)| format!("{what}: {}", describe_pid(*p)))
            .chain(
                marked(&token)
                    .into_iter()
                    .map(|(p, _)| format!("marked: {}", describe_pid(p))),
            )
            .collect();
        gone.is_empty().then_some(())
    });
    if !gone.is_empty() {
        c.violation(format!(
            "{} processes of ours left after the shutdown: {:?}",
            gone.len(),
            &gone[..gone.len().min(10)]
        ));
    }
    c.check_log();

    let s = &c.stats;
    let log = c.d.log();
    eprintln!(
        "chaos: figures (seed {seed}, {instances} instances, {chaos_secs:.1} s of chaos):\n  \
         kills survived: {} children, {} grandchildren ({} orphaned grandchildren cleaned)\n  \
         socket commands: {:?} ({} answered with an error), slowest reply {:.2} s\n  \
         reloads: {} SIGHUP + {} over the socket, {} applied (`reload applied` lines); \
         edits {:?}\n  \
         flood: {} runs, {} bytes checked\n  \
         restarts verified: {}\n  \
         invariant checks passed: {} ({} after a re-check), peak {} instances, {} pids seen, \
         {} spawns logged\n  \
         daemon at rest: baseline {fds0} fds / {threads0} threads, end {} / {}",
        s.kills,
        s.grandchild_kills,
        s.orphans_cleaned,
        s.commands,
        s.command_errors,
        s.slowest_reply.as_secs_f64(),
        s.sighups,
        s.socket_reloads,
        log.matches("reload applied:").count(),
        s.edits,
        s.flood_starts + 1,
        s.bytes_checked,
        s.restarts_checked,
        s.checks,
        s.rechecked,
        s.max_instances,
        c.seen.len(),
        log.matches("spawned: '").count(),
        last.0,
        last.1,
    );
    if !c.violations.is_empty() {
        panic!(
            "seed {seed}: {} violations (replay with TASKMASTER_CHAOS_SEED={seed}):\n{}",
            c.violations.len(),
            c.violations
                .iter()
                .take(30)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// What `seen` says of a child of the daemon that no status named (yet).
const UNNAMED: &str = "a child of the daemon";

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
