//! Nothing escapes, nothing is left a zombie (README: Running in production).
//!
//! The daemon is a child subreaper (or PID 1): a process whose parent exits is
//! handed to it. Such an adopted process belongs to the instance its environment
//! names (`adopted`), is stopped with that instance (`watch/leftover.rs`), and
//! at shutdown, every adopted process left is stopped ([`stop_all`]). When one
//! exits, the `orphans` thread reaps it: it wakes on SIGCHLD only, and reaps only
//! children that no thread of the daemon owns (`owned`), so a watcher alone ever
//! reaps its instance's child and reads its exit status.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use log::{info, warn};
use nix::sys::signal::Signal;

use crate::sys::subreaper;

pub mod adopted;
pub mod owned;

pub use adopted::{adopted, left_by, of_instance, Adopted, Marker, MARKER, RUN};
pub use owned::{released, spawning, Spawning};

/// How long adopted processes get between SIGTERM and SIGKILL at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Makes the daemon the reaper of its orphaned descendants and starts the
/// `orphans` thread. Called with one thread, before any other: SIGCHLD is blocked
/// here, so every thread inherits the block.
pub fn start(pid_one: bool) {
    subreaper::block_child_signal();
    // PID 1 of a namespace is its reaper already.
    if !pid_one {
        if let Err(e) = subreaper::become_subreaper() {
            warn!(
                "cannot become the reaper of orphaned descendants ({}): they go to init",
                e.desc()
            );
        }
    }
}

/// The least time between two looks for exited orphans. Each look reads the
/// daemon's children from the kernel under the registry's lock, which every
/// reap of an instance's child takes too; a `stop all` of a thousand instances
/// sends a thousand SIGCHLDs, and a look at each made the stop half again as
/// slow. An orphan that exits meanwhile stays a zombie that much longer.
const REAP_GAP: Duration = Duration::from_millis(50);

/// Starts the `orphans` thread (after [`start`]).
pub fn run_reaper() -> Result<(), String> {
    std::thread::Builder::new()
        .name("orphans".into())
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(|| {
            let mut last: Option<Instant> = None;
            loop {
                if subreaper::wait_child_signal().is_err() {
                    continue;
                }
                // SIGCHLDs that come meanwhile stay pending: one look serves them.
                if let Some(wait) = last.and_then(|at| REAP_GAP.checked_sub(at.elapsed())) {
                    std::thread::sleep(wait);
                }
                last = Some(Instant::now());
                reap_orphans();
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the orphans thread: {e}"))
}

/// Takes `pid`, which the daemon adopted, as the caller's to reap from now on (a
/// program's process named by its `pidfile`): it must be a child of the daemon,
/// and its environment, when it can be read, must name the instance `name`.
/// Returns its pidfd.
pub fn claim(pid: i32, name: &str) -> Result<OwnedFd, String> {
    // Held until registered: the reaper cannot take it meanwhile.
    let mut owned = owned::lock(false);
    if owned.owns(pid) {
        return Err(format!("pid {pid} is another's"));
    }
    let lineage = subreaper::lineage(pid).ok_or_else(|| format!("no process {pid}"))?;
    if lineage.ppid != std::process::id() as i32 {
        return Err(format!(
            "pid {pid} is not (yet) a process taskmaster adopted"
        ));
    }
    // A zombie's environment reads empty: it is taken, and reaped at once.
    if let Some(env) = subreaper::environ(pid).filter(|e| !e.is_empty()) {
        if subreaper::find_variable(&env, MARKER).as_deref() != Some(name) {
            return Err(format!("pid {pid} is not {name}'s"));
        }
    }
    let pidfd =
        crate::sys::pidfd::pidfd_open(pid).map_err(|e| format!("pid {pid}: {}", e.desc()))?;
    owned.insert(pid);
    Ok(pidfd)
}

/// Reaps every exited child the daemon does not own; returns how many.
pub fn reap_orphans() -> usize {
    // Held while reaping: no spawn begins, and every child of ours is registered.
    let owned = owned::lock(true);
    subreaper::main_thread_children()
        .into_iter()
        .filter(|&pid| !owned.owns(pid) && subreaper::reap_if_exited(pid))
        .count()
}

/// At shutdown, once every instance is stopped: SIGTERM (and SIGCONT) to every
/// adopted process left, SIGKILL to those alive [`SHUTDOWN_GRACE`] later, then
/// reaps them. Returns how many had to be SIGKILLed.
pub fn stop_all() -> usize {
    let left = adopted(true);
    if left.is_empty() {
        reap_orphans();
        return 0;
    }
    info!(
        "shutdown: {} left (pids {}): SIGTERM",
        processes(left.len()),
        pid_list(&left)
    );
    for a in &left {
        a.signal(Signal::SIGTERM);
        a.signal(Signal::SIGCONT);
    }
    wait_gone(&left, Instant::now() + SHUTDOWN_GRACE);
    let mut killed = 0;
    // Killing a parent hands its children to us: look again until none is left.
    for _ in 0..8 {
        let left = adopted(true);
        if left.is_empty() {
            break;
        }
        warn!(
            "shutdown: SIGKILL to {} still alive (pids {})",
            processes(left.len()),
            pid_list(&left)
        );
        for a in &left {
            a.signal(Signal::SIGKILL);
        }
        killed += left.len();
        wait_gone(&left, Instant::now() + Duration::from_secs(1));
    }
    reap_orphans();
    killed
}

/// Waits until every one of `list` has exited, or `deadline`.
fn wait_gone(list: &[Adopted], deadline: Instant) {
    for a in list {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut poll = [nix::poll::PollFd::new(
            a.pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut poll, nix::poll::PollTimeout::from(ms));
    }
}

/// `1 adopted process`, `2 adopted processes`.
fn processes(n: usize) -> String {
    match n {
        1 => "1 adopted process".to_string(),
        n => format!("{n} adopted processes"),
    }
}

fn pid_list(list: &[Adopted]) -> String {
    let pids: Vec<String> = list.iter().take(16).map(|a| a.pid.to_string()).collect();
    let more = list.len().saturating_sub(16);
    match more {
        0 => pids.join(" "),
        n => format!("{} and {n} more", pids.join(" ")),
    }
}
