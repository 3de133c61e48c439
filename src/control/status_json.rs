//! `status --json`'s shape (README: Commands), written straight from typed rows.
//!
//! Scripts, the web page (pushed after every change) and `bench/run` poll this
//! table, a thousand rows at a time. Built as `serde_json::Value`s it cost a map
//! per row, a key string per field and a copy of the whole tree, about 7 ms for
//! 1 000 instances; these structs serialize in one pass. Fields are declared in
//! alphabetical order, the order the table has always had; those only `-l` shows
//! are `Option<Option<_>>`: absent without `-l`, `null` with it when unknown.

use serde::Serialize;

use crate::resources::Usage;
use crate::watch::{ExitStatus, Instance, Status};

/// One element of the table: an instance, or a name that matched none.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Row<'a> {
    Instance(Box<InstanceRow<'a>>),
    Unknown { error: &'static str, name: &'a str },
}

#[derive(Serialize)]
pub struct InstanceRow<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    adopted: Option<Vec<i32>>,
    cpu_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_seconds: Option<Option<f64>>,
    description: String,
    exitcode: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fds: Option<Option<u64>>,
    health: Option<&'static str>,
    health_reason: Option<&'a str>,
    index: u32,
    memory_bytes: Option<u64>,
    name: &'a str,
    pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    processes: Option<Option<u64>>,
    program: &'a str,
    restarts: u32,
    signal: Option<&'static str>,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    threads: Option<Option<u64>>,
    uptime_s: Option<f64>,
}

/// `status -l --json`: the daemon, the instances, and adopted processes of none.
#[derive(Serialize)]
pub struct Long<'a> {
    pub daemon: serde_json::Value,
    pub instances: &'a [Row<'a>],
    pub orphans: &'a [i32],
}

/// `adopted` is `Some` exactly under `-l`, which adds the long fields too.
pub fn instance_row<'a>(
    name: &'a str,
    i: &'a Instance,
    s: &'a Status,
    usage: Option<&Usage>,
    adopted: Option<Vec<i32>>,
) -> Row<'a> {
    let (exitcode, signal) = match s.last_exit {
        Some(ExitStatus::Code(c)) => (Some(c), None),
        Some(ExitStatus::Signal(sig)) => (None, Some(sig.as_str())),
        None => (None, None),
    };
    let long = adopted.is_some();
    Row::Instance(Box::new(InstanceRow {
        adopted,
        cpu_percent: usage.map(|u| u.cpu_percent),
        cpu_seconds: long.then(|| usage.map(|u| (u.cpu_seconds * 100.0).round() / 100.0)),
        description: super::status::describe(name, s),
        exitcode,
        fds: long.then(|| s.pid.and_then(crate::sys::proc_stat::fd_count)),
        health: s.health.map(|h| h.name()),
        health_reason: s.health_reason.as_deref(),
        index: i.index,
        memory_bytes: usage.map(|u| u.memory_bytes),
        name,
        pid: s.pid,
        processes: long.then(|| usage.map(|u| u.processes)),
        program: &i.program,
        restarts: s.restarts,
        signal,
        state: s.state.name(),
        threads: long.then(|| usage.map(|u| u.threads)),
        uptime_s: s
            .uptime()
            .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
    }))
}

/// A name that matched no instance.
pub fn unknown(name: &str) -> Row<'_> {
    Row::Unknown {
        error: "no such process",
        name,
    }
}
