//! The validated configuration: what the rest of taskmaster works with.
//!
//! Every value here has already been checked and defaulted by the loader, so the
//! supervisor never has to second-guess a field. A program's settings are split in
//! two halves on purpose: [`LaunchSpec`] (what a change of requires a new process) and
//! [`Policy`] (what can be changed in place). Reload (SPEC §7) diffs the two halves
//! separately.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

/// The whole file: daemon settings and programs, keyed and ordered by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Absolute path of the file this was loaded from.
    pub file: PathBuf,
    pub daemon: DaemonSettings,
    pub programs: BTreeMap<String, ProgramConfig>,
}

/// The optional `taskmaster:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSettings {
    /// Event log; default `taskmaster.log` next to the config file.
    pub logfile: PathBuf,
    /// Control socket; `None` means the default location (SPEC §3), decided by the
    /// control plane because it depends on the environment.
    pub socket: Option<PathBuf>,
    /// Shell history file; `None` means `~/.taskmaster_history`.
    pub history: Option<PathBuf>,
    /// The byte that detaches an attached terminal (default Ctrl-\ = 0x1c).
    pub detach_key: u8,
    /// Bytes of recent output kept per instance and stream.
    pub tail_buffer: usize,
}

/// One entry under `programs:`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramConfig {
    pub name: String,
    pub numprocs: u32,
    pub launch: LaunchSpec,
    pub policy: Policy,
}

/// The fields that shape the process itself: changing any of them means a running
/// instance must be restarted to take it.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSpec {
    /// `cmd` as written, for messages.
    pub cmd: String,
    /// `cmd` split like a POSIX shell splits words; never empty.
    pub argv: Vec<String>,
    /// Added to taskmaster's own environment.
    pub env: BTreeMap<String, String>,
    /// Absolute, existing directory.
    pub workingdir: PathBuf,
    /// `None`: inherited from taskmaster.
    pub umask: Option<u32>,
    pub stdout: OutputTarget,
    pub stderr: OutputTarget,
    pub pty: bool,
    pub user: Option<UserSpec>,
}

/// The fields the watcher consults when it decides: changeable in place.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub autostart: bool,
    pub autorestart: AutoRestart,
    pub exitcodes: BTreeSet<i32>,
    pub startretries: u32,
    pub starttime: Duration,
    pub stopsignal: Signal,
    pub stoptime: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoRestart {
    Always,
    Never,
    Unexpected,
}

/// Where a stream goes besides the ring buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    Discard,
    /// Absolute path, opened append/create.
    File(PathBuf),
}

/// A resolved `user:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            autostart: true,
            autorestart: AutoRestart::Unexpected,
            exitcodes: BTreeSet::from([0]),
            startretries: 3,
            starttime: Duration::from_secs(1),
            stopsignal: Signal::SIGTERM,
            stoptime: Duration::from_secs(10),
        }
    }
}

impl ProgramConfig {
    /// Instance names per SPEC §3: `NAME` alone, or `NAME:0` … `NAME:N-1`.
    pub fn instance_name(&self, index: u32) -> String {
        instance_name(&self.name, self.numprocs, index)
    }
}

/// Instance names per SPEC §3, for a program of `numprocs` instances.
pub fn instance_name(program: &str, numprocs: u32, index: u32) -> String {
    if numprocs == 1 {
        program.to_string()
    } else {
        format!("{program}:{index}")
    }
}
