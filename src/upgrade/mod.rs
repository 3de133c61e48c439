//! Upgrade in place (README: Upgrading in place): `upgrade [PATH]` and SIGUSR2
//! re-execute the taskmaster binary — a newer build too — in the same process.
//!
//! `execve` keeps the pid, so every child stays this process's child, and it
//! keeps every descriptor not marked close-on-exec. So the old daemon, with no
//! reload under way and none able to start:
//!
//! 1. asks the new binary whether it can take over (`exec::check_binary`: it
//!    reads this record's schema and loads the configuration file), and checks
//!    that the file still says what is running (a changed file must be reloaded
//!    first: the new daemon reads the same file);
//! 2. closes the pumps' gate (`output::exec_gate`): no pump holds a byte it read
//!    and has not written, nor reads, writes or closes anything from then on;
//! 3. stops every watcher at a quiet point: each hands in its instance's record
//!    and waits (`watch::handover::QuiesceHold`) — its child may exit meanwhile,
//!    which its pidfd keeps for the next process to reap;
//! 4. writes the record into a memfd and execs, keeping open exactly the
//!    record's descriptors: the listening control socket, the requester's
//!    connection, and each child's pidfd, output pipes or pty master.
//!
//! If `execve` fails, everything is marked close-on-exec again, the gate opens,
//! the watchers go on, and the requester is told why. The new process
//! (`resume.rs`) reads the record before anything else and takes over.

pub mod exec;
pub mod record;
pub mod resume;

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, warn};
use parking_lot::Mutex;

use crate::control::live_streams::LiveStreams;
use crate::control::{Reply, Source};
use crate::reload::Reloader;
use crate::supervisor::Supervisor;
use crate::watch::handover::{Clock, QuiesceHold};
use crate::watch::Command;
use record::{DaemonRecord, SCHEMA};

/// How long the watchers may take to stop for the exec (one busy in a spawn
/// waits for it: at most the spawn helper's own timeout).
const QUIESCE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the socket's streams may take to write their last line.
const STREAMS_TIMEOUT: Duration = Duration::from_secs(1);

/// The daemon's upgrader: one upgrade at a time.
pub struct Upgrader {
    sup: Arc<Supervisor>,
    reloader: Arc<Reloader>,
    /// The binary's path when this process started: a new build written there
    /// is what `upgrade` with no PATH runs (/proc/self/exe would name the
    /// replaced file).
    exe: Option<PathBuf>,
    /// The socket's streams, each ended with a line saying to come back.
    streams: Arc<LiveStreams>,
    /// The modes of the terminal on stdin when the daemon started (its shell has
    /// it raw while it reads a line): the new process finds them, and saves them
    /// as its own start's.
    terminal: Mutex<Option<nix::sys::termios::Termios>>,
    /// The web dashboard's access token, handed over (`DaemonRecord::web_token`).
    web_token: Option<String>,
    one: Mutex<()>,
}

fn failed(why: &str) -> Reply {
    warn!("upgrade failed: {why}; the daemon goes on unchanged");
    Reply::error(format!(
        "ERROR (upgrade failed: {why}; the daemon goes on unchanged)"
    ))
}

impl Upgrader {
    pub fn new(
        sup: Arc<Supervisor>,
        reloader: Arc<Reloader>,
        streams: Arc<LiveStreams>,
        web_token: Option<String>,
    ) -> Upgrader {
        Upgrader {
            sup,
            reloader,
            streams,
            web_token,
            terminal: Mutex::new(nix::sys::termios::tcgetattr(std::io::stdin()).ok()),
            exe: std::env::current_exe().ok(),
            one: Mutex::new(()),
        }
    }

    /// Upgrades to `binary` (default: the path this daemon was started from).
    /// Returns only when it did not happen, saying why; on success the new
    /// process answers `reply_to`.
    pub fn upgrade(
        &self,
        binary: Option<PathBuf>,
        reply_to: Option<OwnedFd>,
        by: &Source,
    ) -> Reply {
        let Some(_one) = self.one.try_lock() else {
            return Reply::error("ERROR (an upgrade is already under way)");
        };
        let Some(binary) = binary.or_else(|| self.exe.clone()) else {
            return failed("this daemon's own binary path is unknown: name the binary");
        };
        if self.sup.is_shutting_down() {
            return failed("the daemon is shutting down");
        }
        let config = self.sup.config();
        if let Err(why) = exec::check_binary(&binary, &config) {
            return failed(&why);
        }
        match crate::config::load_as(&config.file, Some(config.format)) {
            Ok(now) if crate::config::diff(&config, &now).is_empty() => {}
            Ok(_) => {
                return failed(&format!(
                    "{} changed since it was loaded: reload it first (or undo the change)",
                    config.file.display()
                ))
            }
            Err(e) => return failed(&format!("{}: {e}", config.file.display())),
        }
        info!(
            "upgrade in place requested by {by}: executing {}",
            binary.display()
        );
        // Attached clients and followers are told, by their own threads, before
        // the exec closes their connections.
        self.streams.end_for_upgrade(STREAMS_TIMEOUT);
        let why = self.reloader.exclusive(|server| match server {
            Some((listener, path)) => {
                // New clients wait in the backlog for the new daemon from here on.
                self.streams.pause_accepting(path, STREAMS_TIMEOUT);
                self.quiesce_and_exec(&binary, listener, path, reply_to, by)
            }
            None => "no control socket to hand over".to_string(),
        });
        self.streams.upgrade_failed();
        failed(&why)
    }

    /// Stops the watchers and pumps, execs; on failure lets them go on and says why.
    fn quiesce_and_exec(
        &self,
        binary: &Path,
        listener: BorrowedFd<'_>,
        socket: &Path,
        reply_to: Option<OwnedFd>,
        by: &Source,
    ) -> String {
        let (clock, monotonic_ns) = (
            Clock {
                now: Instant::now(),
            },
            monotonic_ns(),
        );
        // The pumps first: from here on none reads, writes or closes a
        // descriptor, so what the watchers record (which pipes are open, a
        // pty's held-back `\r`) stays true until the exec.
        if !crate::output::exec_gate::close(Instant::now() + QUIESCE_TIMEOUT) {
            return format!(
                "an output thread is still writing after {} s (a stopped terminal or a stalled disk?)",
                QUIESCE_TIMEOUT.as_secs()
            );
        }
        let hold = QuiesceHold::new(clock);
        let instances: Vec<_> = (self.sup.instances().into_iter())
            .filter(|i| !i.status().finished)
            .collect();
        for instance in &instances {
            instance.send(Command::Quiesce(hold.clone()));
        }
        let Some(records) = hold.wait_for(instances.len(), Instant::now() + QUIESCE_TIMEOUT) else {
            hold.release();
            crate::output::exec_gate::open();
            return format!(
                "the instances did not all stop for it within {} s (a spawn under way?)",
                QUIESCE_TIMEOUT.as_secs()
            );
        };
        hold_failpoint();
        // A shutdown asked while the watchers stopped wins: the watchers go on
        // with it.
        if self.sup.is_shutting_down() {
            hold.release();
            crate::output::exec_gate::open();
            return "a shutdown began meanwhile".to_string();
        }
        let record = DaemonRecord {
            schema: SCHEMA,
            version: env!("CARGO_PKG_VERSION").to_string(),
            monotonic_ns,
            listener: listener.as_raw_fd(),
            socket: socket.to_path_buf(),
            reply_to: reply_to.as_ref().map(|fd| fd.as_raw_fd()),
            requested_by: by.to_string(),
            old_helper: crate::watch::spawner::helper_pid(),
            instances: records,
            pending: self.sup.pending_starts(),
            web_token: self.web_token.clone(),
        };
        // A `top` open in the daemon's shell gives its terminal back, as at a
        // shutdown; the shell's own modes are put back if the exec fails.
        crate::top::give_back_if_open();
        let shell_modes = self.terminal.lock().as_ref().and_then(|start| {
            let now = nix::sys::termios::tcgetattr(std::io::stdin()).ok()?;
            let set = nix::sys::termios::SetArg::TCSANOW;
            nix::sys::termios::tcsetattr(std::io::stdin(), set, start).ok()?;
            Some(now)
        });
        let why = exec::exec(binary, &record);
        if let Some(modes) = shell_modes {
            let set = nix::sys::termios::SetArg::TCSANOW;
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), set, &modes);
        }
        crate::output::exec_gate::open();
        hold.release();
        why
    }
}

/// SIGUSR2: the upgrade, in a thread of its own (it waits for every watcher, and
/// returns only if it failed: the event log says why).
pub fn on_signal(hooks: Arc<crate::control::Hooks>) {
    let upgrade = move || {
        let by = Source::Signal("SIGUSR2");
        drop((hooks.upgrade)(None, None, &by));
    };
    if let Err(e) = crate::daemon::spawn_thread("upgrade", upgrade) {
        warn!("{e}: no upgrade");
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds (what `Instant` counts in): it goes on
/// across the exec, so the new process knows how long the hand-over took.
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        (t.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_nsec() as u64)
    })
}

/// Debug builds only, for tests/upgrade.rs: `TASKMASTER_TEST_UPGRADE_HOLD=FILE`
/// holds the upgrade once every watcher and pump has stopped, until FILE is
/// removed (`FILE.held` exists meanwhile), so a test can end a child while no
/// watcher looks at it.
fn hold_failpoint() {
    #[cfg(debug_assertions)]
    if let Some(file) = std::env::var_os("TASKMASTER_TEST_UPGRADE_HOLD") {
        let file = PathBuf::from(file);
        let mut held = file.clone().into_os_string();
        held.push(".held");
        let _ = std::fs::write(&held, "");
        let until = Instant::now() + Duration::from_secs(30);
        while file.exists() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_file(&held);
    }
}
