//! The run's state (`Chaos`: the daemon, the model, every process seen, the
//! violations and figures), its client of the control socket, and the guard that
//! kills what a failed run leaves behind.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use crate::common::rng::Rng;
use crate::common::*;
use crate::model::{render, Kind, Prog};
use crate::procfs::marked;

pub fn state(i: &Value) -> &str {
    i["state"].as_str().unwrap_or("?")
}

pub fn name(i: &Value) -> &str {
    i["name"].as_str().unwrap_or("?")
}

pub fn pid(i: &Value) -> Option<i32> {
    i["pid"].as_i64().map(|p| p as i32)
}

/// States in which an instance has a process.
pub fn active(state: &str) -> bool {
    matches!(state, "STARTING" | "RUNNING" | "STOPPING")
}

#[derive(Default)]
pub struct Stats {
    pub kills: u64,
    pub grandchild_kills: u64,
    pub commands: BTreeMap<&'static str, u64>,
    pub command_errors: u64,
    pub slowest_reply: Duration,
    pub sighups: u64,
    pub socket_reloads: u64,
    pub edits: BTreeMap<&'static str, u64>,
    pub flood_starts: u64,
    pub checks: u64,
    pub rechecked: u64,
    pub max_instances: usize,
    pub orphans_cleaned: u64,
    pub bytes_checked: u64,
    pub restarts_checked: u64,
}

/// Kills, on drop, every process still carrying this run's marker (a failed run must
/// not leak into the machine). Declared before the daemon, so it runs after the
/// daemon's own drop has taken the daemon and its process groups down.
pub struct Reaper(pub String);

impl Drop for Reaper {
    fn drop(&mut self) {
        for (p, _) in marked(&self.0) {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
}

pub struct Chaos {
    pub d: Daemon,
    pub dpid: i32,
    pub dir: PathBuf,
    pub token: String,
    pub seed: u64,
    pub rng: Rng,
    pub t0: Instant,
    pub model: Vec<Prog>,
    /// Program name -> kind, for every program that ever existed.
    pub kinds: HashMap<String, Kind>,
    pub next_extra: u32,
    /// Every process of ours ever seen: (pid, start time) -> what it was.
    pub seen: HashMap<(i32, u64), String>,
    /// Grandchildren from PIDFILEs: (pid, start time) -> their leader's pid.
    pub grandchildren: HashMap<(i32, u64), i32>,
    /// Children we SIGKILLed (for forkers: the pgid their grandchildren keep).
    pub killed: HashSet<i32>,
    /// SIGKILLs we dealt to processes of persistent programs, per program.
    pub sigkills: BTreeMap<String, u64>,
    pub flood_max_starts: u64,
    pub violations: Vec<String>,
    pub stats: Stats,
}

impl Chaos {
    pub fn violation(&mut self, msg: String) {
        let t = self.t0.elapsed().as_secs_f64();
        eprintln!("chaos: VIOLATION at {t:.2}s: {msg}");
        self.violations.push(format!("[{t:.2}s] {msg}"));
    }

    pub fn sock(&self) -> PathBuf {
        self.d.socket()
    }

    /// One request over the control socket; a reply must always come.
    pub fn ctl(&mut self, command: &str, args: &[String]) -> Option<Value> {
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

    pub fn status(&mut self) -> Option<Vec<Value>> {
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
    pub fn status_must(&mut self) -> Vec<Value> {
        wait_for("a status reply", secs(60.0), || self.status())
    }

    pub fn write_config(&self) {
        let text = render(&self.model, &self.dir, &self.token);
        let tmp = self.dir.join("taskmaster.yaml.tmp");
        std::fs::write(&tmp, text).expect("write the new config");
        std::fs::rename(&tmp, &self.d.config).expect("replace the config");
    }

    pub fn program_names(&self, with_flood: bool) -> Vec<String> {
        self.model
            .iter()
            .filter(|p| with_flood || p.kind != Kind::Flood)
            .map(|p| p.name.clone())
            .collect()
    }

    pub fn expected_instances(&self) -> BTreeSet<String> {
        self.model.iter().flat_map(|p| p.instance_names()).collect()
    }

    pub fn kind_of(&self, program: &str) -> Option<Kind> {
        self.kinds.get(program).copied()
    }
}

/// What `seen` says of a child of the daemon that no status named (yet).
pub const UNNAMED: &str = "a child of the daemon";
