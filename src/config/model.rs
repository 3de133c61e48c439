//! The validated configuration: what the rest of taskmaster works with.
//!
//! Every value here has already been checked and defaulted by the loader, so the
//! supervisor never has to second-guess a field. A program's settings are split in
//! two halves on purpose: [`LaunchSpec`] (what a change of requires a new process) and
//! [`Policy`] (what can be changed in place). Reload (README: Reload) diffs the two halves
//! separately.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nix::sys::signal::Signal;

/// The whole file: daemon settings and programs, keyed and ordered by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Absolute path of the file this was loaded from.
    pub file: PathBuf,
    /// The syntax the file was read as (a reload reads it the same way).
    pub format: Format,
    pub daemon: DaemonSettings,
    /// `groups:` (or supervisor's `[group:g]`): a name for several programs.
    pub groups: BTreeMap<String, Vec<String>>,
    pub programs: BTreeMap<String, ProgramConfig>,
    /// What was accepted with a reservation (supervisor options taskmaster does
    /// not apply, ignored because that changes nothing that runs), for `--check`
    /// and the event log.
    pub warnings: Vec<super::ConfigError>,
}

/// The syntax of a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// taskmaster's own (README: Configuration).
    Yaml,
    /// supervisor's `supervisord.conf` (README: Coming from supervisor).
    Supervisor,
}

/// The optional `taskmaster:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSettings {
    /// Event log; default `taskmaster.log` next to the config file.
    pub logfile: PathBuf,
    /// Control socket; `None` means the default location (README: Configuration), decided by the
    /// control plane because it depends on the environment.
    pub socket: Option<PathBuf>,
    /// Shell history file; `None` means `~/.taskmaster_history`.
    pub history: Option<PathBuf>,
    /// The byte that detaches an attached terminal (default Ctrl-\ = 0x1c).
    pub detach_key: u8,
    /// Bytes of recent output kept per instance and stream.
    pub tail_buffer: usize,
    /// Rotation of the event log (`logfile_maxbytes`, `logfile_backups`).
    pub log_rotation: Rotation,
    /// Alerts: a command run for chosen events (`notify:`).
    pub notify: Option<Notify>,
    /// A copy of the event log to this syslog socket (`syslog: true` = /dev/log).
    pub syslog: Option<PathBuf>,
    /// Control connections open at once; `None`: min(256, fd limit / 8), decided
    /// by the socket server because it depends on the process's limit.
    pub max_connections: Option<u32>,
    /// A control connection that sends no complete request for this long is closed.
    pub connection_idle_timeout: Duration,
    /// The Prometheus endpoint (`metrics:`); `None`: off, no thread, no socket.
    pub metrics: Option<super::MetricsSetting>,
    /// The web dashboard's server (`http:`); `None`: off.
    pub http: Option<super::HttpSettings>,
}

/// `taskmaster.notify`: run `argv` for each chosen event, with its facts in the
/// environment, at most `max_per_minute` times a minute, each for at most `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    pub argv: Vec<String>,
    /// Event names: `fatal`, `unexpected_exit`, `backoff`, `memory_restart`,
    /// `reload_failed`, `unhealthy`.
    pub events: BTreeSet<String>,
    pub max_per_minute: u32,
    /// After this long the command's process group is killed.
    pub timeout: Duration,
    /// Where the command runs: the config file's directory.
    pub workingdir: PathBuf,
}

/// The events `notify.events` may name.
pub const NOTIFY_EVENTS: &[&str] = &[
    "fatal",
    "unexpected_exit",
    "backoff",
    "memory_restart",
    "reload_failed",
    "unhealthy",
];

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
    /// Rotation of the stdout and stderr files (`*_maxbytes`, `*_backups`).
    pub stdout_rotation: Rotation,
    pub stderr_rotation: Rotation,
    /// Prefix each line written to the output files with the time it was read.
    pub timestamps: bool,
    pub pty: bool,
    pub user: Option<UserSpec>,
    /// The same, ready for exec; derived from the fields above.
    pub exec: ExecForm,
}

/// taskmaster's own environment as C strings, read once: it does not change while
/// taskmaster runs, and reloading 500 programs should not rebuild it 500 times.
struct BaseEnv {
    env: Arc<Vec<CString>>,
    path: Option<OsString>,
}

fn base_env() -> &'static BaseEnv {
    static BASE: OnceLock<BaseEnv> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut path = None;
        let env = std::env::vars_os()
            .filter(|(k, _)| !crate::sys::sd_notify::is_service_manager_variable(k.as_bytes()))
            .filter_map(|(k, v)| {
                if k == "PATH" {
                    path = Some(v.clone());
                }
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).ok()
            })
            .collect();
        BaseEnv {
            env: Arc::new(env),
            path,
        }
    })
}

/// A [`LaunchSpec`] as exec wants it, built once when the config is loaded: argv,
/// the child's whole environment (taskmaster's own plus `env`) and the working
/// directory as C strings. A thousand instances starting at once then allocate
/// almost nothing, instead of each rebuilding the same environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecForm {
    pub argv: Vec<CString>,
    /// Shared by every program without an `env` of its own.
    pub env: Arc<Vec<CString>>,
    pub cwd: CString,
    /// `PATH` as the child sees it, for looking the command up.
    pub path: Option<OsString>,
}

impl ExecForm {
    /// Fails (with the offending field's name) on a NUL byte, which exec cannot pass.
    pub fn new(
        argv: &[String],
        env: &BTreeMap<String, String>,
        workingdir: &Path,
    ) -> Result<ExecForm, (&'static str, String)> {
        let nul = |field: &'static str| {
            (
                field,
                "contains a NUL byte, which a program cannot receive".to_string(),
            )
        };
        let argv = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| nul("cmd")))
            .collect::<Result<_, _>>()?;
        let base = base_env();
        let (env, path) = if env.is_empty() {
            (base.env.clone(), base.path.clone())
        } else {
            let overridden = |entry: &CString| {
                let bytes = entry.as_bytes();
                let key = &bytes[..bytes.iter().position(|&b| b == b'=').unwrap_or(bytes.len())];
                env.keys().any(|k| k.as_bytes() == key)
            };
            let mut merged: Vec<CString> = base
                .env
                .iter()
                .filter(|e| !overridden(e))
                .cloned()
                .collect();
            for (k, v) in env {
                merged.push(CString::new(format!("{k}={v}")).map_err(|_| nul("env"))?);
            }
            let path = env
                .get("PATH")
                .map(OsString::from)
                .or_else(|| base.path.clone());
            (Arc::new(merged), path)
        };
        let cwd = CString::new(workingdir.as_os_str().as_bytes()).map_err(|_| nul("workingdir"))?;
        Ok(ExecForm {
            argv,
            env,
            cwd,
            path,
        })
    }
}

/// The fields the watcher consults when it decides: changeable in place.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub autostart: bool,
    pub autorestart: AutoRestart,
    pub exitcodes: BTreeSet<i32>,
    /// [`INFINITE_RETRIES`] for `startretries: infinite`.
    pub startretries: u32,
    /// The delay before each retry of a failed start.
    pub backoff: Backoff,
    /// Lower starts first and stops last (supervisor's; default 999).
    pub priority: i32,
    /// Programs that must be RUNNING before this one is started automatically,
    /// and that are stopped only after it.
    pub depends_on: Vec<String>,
    /// Those of `depends_on` that must be healthy, not only RUNNING (`{db: healthy}`).
    pub depends_on_healthy: Vec<String>,
    pub starttime: Duration,
    pub stopsignal: Signal,
    pub stoptime: Duration,
    /// How autorestarts of a child that keeps dying soon after its spawn are
    /// slowed down; `None` for `restart_throttle: false`.
    pub restart_throttle: Option<RestartThrottle>,
    /// `max_memory`, in bytes: an instance whose process group's resident memory
    /// goes over it is restarted (checked every [`MEMORY_CHECK_INTERVAL`] while
    /// RUNNING). `None`: no limit, and no check.
    pub max_memory: Option<u64>,
    /// `pidfile`: the program daemonizes; the pid in this file is its process
    /// (`watch/state_pidfile.rs`).
    pub pidfile: Option<PathBuf>,
    /// `healthcheck` (README: Health checks); `None`: no check, and no wake-up for one.
    pub healthcheck: Option<super::HealthCheck>,
}

/// `startretries: infinite`: a failed start is retried forever (never FATAL).
pub const INFINITE_RETRIES: u32 = u32::MAX;

/// How long to wait before retry `n` (1, 2, …) of a failed start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backoff {
    /// supervisor's: `n` seconds.
    Linear,
    /// `backoff: {initial, max, factor}`: `initial × factor^(n-1)`, at most `max`.
    Exponential {
        initial: Duration,
        max: Duration,
        factor: f64,
    },
}

impl Backoff {
    pub fn delay(&self, retry: u32) -> Duration {
        match *self {
            Backoff::Linear => Duration::from_secs(u64::from(retry)),
            Backoff::Exponential {
                initial,
                max,
                factor,
            } => {
                let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
                let secs = initial.as_secs_f64() * factor.powi(exponent);
                // A huge or non-finite product is simply "the maximum".
                Duration::try_from_secs_f64(secs).map_or(max, |d| d.min(max))
            }
        }
    }
}

/// A child that exits sooner than this after its spawn died quickly: autorestarts
/// of an instance whose children keep doing so are throttled. One that lives this
/// long ends the throttling.
pub const QUICK_DEATH: Duration = Duration::from_secs(1);

/// How often a RUNNING instance with a `max_memory` has its group's memory read.
/// A second: a leak that grows by hundreds of MiB a second still meets its limit
/// near the mark rather than the kernel's OOM killer, and a check costs a wake-up
/// and a few small reads in `/proc` per process of the group: measured, 200
/// limited instances of one process each took 0.8 % of one CPU (about 40 µs a
/// check, release build, 2-CPU VM), so 1 000 would take about 4 %. Instances
/// without a limit are never woken for it.
pub const MEMORY_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// `restart_throttle: {after, initial, max}`: the first `after` quick deaths in a
/// row are restarted at once; the next waits `initial`, and each one after twice
/// the one before, at most `max`. A crash loop then costs a spawn every `max`
/// instead of as many as the machine can do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartThrottle {
    pub after: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for RestartThrottle {
    fn default() -> Self {
        RestartThrottle {
            after: 3,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

impl RestartThrottle {
    /// The wait before the autorestart that follows `quick_deaths` quick deaths in
    /// a row; `None`: at once.
    pub fn delay(&self, quick_deaths: u32) -> Option<Duration> {
        let doublings = quick_deaths.checked_sub(self.after)?.checked_sub(1)?;
        let factor = 2f64.powi(i32::try_from(doublings).unwrap_or(i32::MAX));
        // A huge or non-finite product is simply "the maximum".
        let delay = Duration::try_from_secs_f64(self.initial.as_secs_f64() * factor)
            .map_or(self.max, |d| d.min(self.max));
        Some(delay)
    }
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

/// When an output file is rotated: before a write would take it past `maxbytes`
/// (0: never), it is renamed `.1` (older ones shifting to `.2` … `.backups`, the
/// oldest dropped) and a new file is started. With `backups: 0` it is truncated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    pub maxbytes: u64,
    pub backups: u32,
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
            backoff: Backoff::Linear,
            priority: 999,
            depends_on: Vec::new(),
            starttime: Duration::from_secs(1),
            stopsignal: Signal::SIGTERM,
            stoptime: Duration::from_secs(10),
            restart_throttle: Some(RestartThrottle::default()),
            max_memory: None,
            pidfile: None,
            depends_on_healthy: Vec::new(),
            healthcheck: None,
        }
    }
}

impl ProgramConfig {
    /// Instance names per README: Configuration: `NAME` alone, or `NAME:0` … `NAME:N-1`.
    pub fn instance_name(&self, index: u32) -> String {
        instance_name(&self.name, self.numprocs, index)
    }
}

/// Instance names per README: Configuration, for a program of `numprocs` instances.
pub fn instance_name(program: &str, numprocs: u32, index: u32) -> String {
    if numprocs == 1 {
        program.to_string()
    } else {
        format!("{program}:{index}")
    }
}
