//! The two daemons under comparison, seen from outside: supervisor installed,
//! each daemon started (and stopped with its children when dropped), driven by
//! its ctl, and what it shows read back — its status, its processes' command
//! lines, environments, directories and umasks (in /proc), its log files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::*;

/// The bin directory of a venv with supervisor, or why there is none.
pub(super) fn supervisor_bin() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/supervisor-venv");
    let out = Command::new(script).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// One process as either daemon shows it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Seen {
    pub(super) state: String,
    pub(super) pid: Option<i32>,
}

/// A daemon under test, stopped (and its children with it) when dropped.
pub(super) struct Running {
    child: Option<Child>,
    pub(super) dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            kill_with_groups(child);
        }
    }
}

pub(super) fn start(program: &Path, args: &[&str], dir: &Path) -> Running {
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start daemon");
    Running {
        child: Some(child),
        dir: dir.to_path_buf(),
    }
}

/// supervisorctl's `status`: `group:name  STATE  pid N, uptime …`, keyed by `name`.
pub(super) fn supervisord_status(bin: &Path, dir: &Path) -> Option<BTreeMap<String, Seen>> {
    let out = Command::new(bin.join("supervisorctl"))
        .args(["-c", "supervisord.conf", "status"])
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut seen = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(state)) = (words.first(), words.get(1)) else {
            continue;
        };
        if !state.chars().all(|c| c.is_ascii_uppercase()) {
            return None;
        }
        let pid = (words.get(2) == Some(&"pid"))
            .then(|| words.get(3)?.trim_end_matches(',').parse().ok())
            .flatten();
        let name = name.rsplit(':').next().unwrap_or(name).to_string();
        seen.insert(
            name,
            Seen {
                state: state.to_string(),
                pid,
            },
        );
    }
    (!seen.is_empty()).then_some(seen)
}

/// taskmasterctl's `status --json`, keyed by name.
pub(super) fn taskmaster_status(dir: &Path) -> Option<BTreeMap<String, Seen>> {
    let out = Command::new(env!("CARGO_BIN_EXE_taskmasterctl"))
        .args(["-c", "supervisord.conf", "status", "--json"])
        .current_dir(dir)
        .output()
        .ok()?;
    let items: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).ok()?;
    let seen = items.iter().map(|i| {
        let seen = Seen {
            state: i["state"].as_str().unwrap_or("").to_string(),
            pid: i["pid"].as_i64().map(|p| p as i32),
        };
        (i["name"].as_str().unwrap_or("").to_string(), seen)
    });
    Some(seen.collect())
}

/// Waits until no process is STARTING or BACKOFF.
pub(super) fn settled(
    what: &str,
    mut status: impl FnMut() -> Option<BTreeMap<String, Seen>>,
) -> BTreeMap<String, Seen> {
    wait_for(what, secs(30.0), || {
        status().filter(|s| {
            s.values()
                .all(|p| p.state != "STARTING" && p.state != "BACKOFF")
        })
    })
}

/// What is compared of one running process, with the directory written `HERE`.
pub(super) fn process_facts(pid: i32, dir: &Path) -> BTreeMap<&'static str, String> {
    let here = |s: String| s.replace(dir.to_str().expect("utf-8 dir"), "HERE");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    // Less the marks taskmaster adds to every child's environment (README:
    // Running in production), which supervisord has no counterpart of.
    let mut env: Vec<String> = super::super::environ(pid)
        .into_iter()
        .filter(|e| !e.starts_with("TASKMASTER_PROCESS_NAME=") && !e.starts_with("TASKMASTER_RUN="))
        .collect();
    env.sort();
    BTreeMap::from([
        ("cmdline", here(cmdline.trim_end().to_string())),
        ("env", here(env.join("\n"))),
        ("cwd", here(super::super::cwd(pid).display().to_string())),
        ("umask", super::super::umask(pid)),
    ])
}

/// The log files of the programs that hold something, by name (supervisor's
/// `AUTO` names lose their random part), with their contents. Empty ones are left
/// out: supervisord makes the files of a program never started, taskmaster at its
/// first start.
pub(super) fn log_files(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.ends_with(".log") && name != "daemon.log";
        if !ours {
            continue;
        }
        let key = match name.find("---supervisor") {
            Some(at) => format!("{}---supervisor.log", &name[..at]),
            None => name.clone(),
        };
        let text = read(&entry.path());
        if !text.is_empty() {
            files.insert(key, text);
        }
    }
    files
}

pub(super) fn ctl(program: &Path, args: &[&str], dir: &Path) {
    let status = Command::new(program)
        .args(["-c", "supervisord.conf"])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .expect("run ctl");
    assert!(status.code().is_some(), "{args:?} ended by a signal");
}

/// Which processes have another pid (or none) in `after` than in `before`.
pub(super) fn changed(
    before: &BTreeMap<String, Seen>,
    after: &BTreeMap<String, Seen>,
) -> Vec<String> {
    after
        .iter()
        .filter(|(name, seen)| before.get(*name).map(|b| b.pid) != Some(seen.pid))
        .map(|(name, _)| name.clone())
        .collect()
}
