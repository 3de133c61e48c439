//! Reload (README: Reload) on a real daemon: programs added and removed, launch fields that
//! restart only their own program, policy fields applied in place, numprocs scaled with
//! survivors keeping their pids, invalid files that change nothing, reloads during
//! BACKOFF and STOPPING, and SIGHUP (once, and in a burst of 50).
//!
//! No test sleeps blindly: each waits for a condition with a deadline, or asserts that a
//! condition holds for a stretch of time (`assert_stays`). The only fixed pause is the
//! ~20 ms gap between the signals of the SIGHUP burst, which is the stimulus itself.

mod atomic;
mod during_transitions;
mod empty;
mod fields;
mod invalid;
mod numprocs;
mod programs;
mod settings;
mod sighup;

use crate::common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

// ---- helpers --------------------------------------------------------------------------

/// One program's block: `lines` are its fields (`key: value`); `starttime: 0.2` and
/// `stoptime: 0.5` unless `lines` set them.
pub fn prog(name: &str, lines: &[&str]) -> String {
    let mut out = format!("  {name}:\n");
    for l in lines {
        out.push_str(&format!("    {l}\n"));
    }
    for (key, default) in [("starttime", "0.2"), ("stoptime", "0.5")] {
        if !lines.iter().any(|l| l.starts_with(&format!("{key}:"))) {
            out.push_str(&format!("    {key}: {default}\n"));
        }
    }
    out
}

/// A whole config file made of program blocks.
pub fn config(programs: &[String]) -> String {
    format!("programs:\n{}", programs.concat())
}

/// Rewrites the daemon's config file (with the harness's TESTPROG/DIR substitution),
/// atomically, so a reload never reads a half-written file.
pub fn write_config(d: &Daemon, yaml: &str) {
    let text = expand(yaml, &d.dir.0);
    let tmp = d.path("taskmaster.yaml.tmp");
    std::fs::write(&tmp, text).expect("write new config");
    std::fs::rename(&tmp, &d.config).expect("replace config");
}

/// Sends `reload` on stdin and returns its reply lines. A `pid` command sent right
/// after marks the end of the reply (stdin commands run one after the other).
pub fn reload(d: &mut Daemon) -> Vec<String> {
    let mark = d.mark();
    d.send("reload");
    d.send("pid");
    let me = d.pid().to_string();
    d.wait_line(mark, "the reply to reload", secs(30.0), |l| l == me);
    let lines = d.lines.lock().unwrap();
    let end = mark
        + lines[mark..]
            .iter()
            .position(|l| *l == me)
            .expect("pid line");
    lines[mark..end].to_vec()
}

/// Sends one request over the control socket and returns the parsed reply.
pub fn ctl(d: &Daemon, command: &str, args: &[&str]) -> Value {
    let mut stream = UnixStream::connect(d.socket()).expect("connect to the control socket");
    stream
        .set_read_timeout(Some(secs(30.0)))
        .expect("socket timeout");
    let request = serde_json::json!({ "command": command, "args": args });
    writeln!(stream, "{request}").expect("send request");
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .expect("read reply");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply {line:?} is not JSON: {e}"))
}

/// `status --json` over the socket (usable while a stdin command is still running).
pub fn ctl_status(d: &Daemon) -> Vec<Value> {
    match &ctl(d, "status", &["--json"])["data"] {
        Value::Array(items) => items.clone(),
        other => panic!("status --json over the socket has no data array: {other}"),
    }
}

pub fn state(i: &Value) -> &str {
    i["state"].as_str().unwrap_or("?")
}

pub fn pid(i: &Value) -> Option<i32> {
    i["pid"].as_i64().map(|p| p as i32)
}

/// Every instance: name -> (state, pid).
pub fn snapshot(d: &mut Daemon) -> BTreeMap<String, (String, Option<i32>)> {
    d.status()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().expect("name").to_string(),
                (state(i).to_string(), pid(i)),
            )
        })
        .collect()
}

/// The pids of the instances of `program` (`NAME` or `NAME:K`), by instance name.
pub fn pids_of(d: &mut Daemon, program: &str) -> BTreeMap<String, i32> {
    d.status()
        .iter()
        .filter(|i| i["program"] == program)
        .map(|i| {
            let name = i["name"].as_str().expect("name").to_string();
            let p = pid(i).unwrap_or_else(|| panic!("{name} has no pid: {i}"));
            (name, p)
        })
        .collect()
}

/// Waits until the instances are exactly `names`, all RUNNING; returns their pids.
pub fn wait_running(d: &mut Daemon, names: &[&str], timeout: Duration) -> BTreeMap<String, i32> {
    let want: BTreeSet<String> = names.iter().map(|s| s.to_string()).collect();
    let mut last = Vec::new();
    poll_until(timeout, Duration::from_millis(20), || {
        let status = d.status();
        let have: BTreeSet<String> = status
            .iter()
            .map(|i| i["name"].as_str().unwrap_or("?").to_string())
            .collect();
        if have == want && status.iter().all(|i| state(i) == "RUNNING") {
            return Some(
                status
                    .iter()
                    .map(|i| (i["name"].as_str().unwrap().to_string(), pid(i).unwrap()))
                    .collect(),
            );
        }
        last = status;
        None
    })
    .unwrap_or_else(|| {
        let seen: Vec<String> = last
            .iter()
            .map(|i| format!("{} {} {}", i["name"], state(i), i["pid"]))
            .collect();
        panic!("timed out waiting for exactly {want:?} RUNNING; last status: {seen:?}")
    })
}

/// Waits for a `report FILE` written by process `pid`; returns the report.
pub fn wait_report(path: &Path, pid: i32) -> Value {
    wait_for(
        &format!("a report by pid {pid} in {}", path.display()),
        secs(10.0),
        || {
            let r: Value = serde_json::from_str(&read(path)).ok()?;
            (r["pid"].as_i64() == Some(i64::from(pid))).then_some(r)
        },
    )
}

/// Number of spawns a `stamp FILE` program recorded.
pub fn stamps(path: &Path) -> usize {
    read(path).lines().count()
}

/// A reply holds a config error naming the config file and a line number.
pub fn names_file_and_line(reply: &[String], config: &Path) -> bool {
    let prefix = format!("{}:", config.display());
    reply.iter().any(|l| {
        l.find(&prefix).is_some_and(|at| {
            l[at + prefix.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
    })
}
