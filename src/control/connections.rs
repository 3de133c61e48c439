//! Bounds on the control socket's connections: how many may be open at once, the
//! descriptors they must leave to the programs, and a failing `accept()` logged
//! once rather than every time it is retried.
//!
//! Each connection holds a thread and two descriptors. Without a bound, clients that
//! connect and never close take every descriptor the daemon may open, and the next
//! spawn of a program fails for want of a pipe. So a connection is admitted only
//! while fewer than `max_connections` are open *and* a reserve of descriptors stays
//! free for the instances (their pipes, pidfds and files at spawn); otherwise it
//! gets a one-line JSON refusal and is closed at once.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use log::{info, warn};
use parking_lot::Mutex;

use crate::config::OutputTarget;
use crate::supervisor::Supervisor;

/// Descriptors a connection may hold: its socket, a clone for reading, and a
/// spare for a streaming reply.
const FDS_PER_CONNECTION: u64 = 3;
/// Descriptors a running instance holds: its child's pidfd and the read ends of its
/// stdout and stderr pipes (a pty child: pidfd and master). Its log files come on
/// top, within the slack.
pub const FDS_PER_INSTANCE: u64 = 3;
/// Descriptors kept free beyond the instances': the few more a spawn holds for a
/// moment (the pipes' other ends, the exec helper's status pipe, the log files),
/// the event log's rotation, a reload's reads, the journal, a `/proc` scan.
const FDS_SLACK: u64 = 64;
/// The daemon's own descriptors, besides its instances' and connections': the
/// listener, the event log, the journal, the standard streams, the signal pipe.
const FDS_OWN: u64 = 32;
/// The default `max_connections` never exceeds this.
const DEFAULT_MAX_CONNECTIONS: u64 = 256;

/// The connections of the control socket: how many are open, and what the bounds
/// turned away since the daemon started. One per daemon (in `Hooks`), shared by
/// the accept thread, each connection's thread (through its [`Slot`]) and
/// `status -l`; it outlives a server moved by reload, so the counts are since start.
#[derive(Default)]
pub struct Connections {
    open: AtomicUsize,
    refused: AtomicU64,
    idle_closed: AtomicU64,
    served_inline: AtomicU64,
    /// Refusals since the last admitted connection (`Some` while refusing), so the
    /// event log says once that connections are refused and once that they are not.
    refusing: Mutex<Option<u64>>,
    /// The failing `accept()`: its error and how many times it failed in a row.
    accept_failing: Mutex<Option<(String, u64)>>,
}

/// An admitted connection; dropping it frees its place.
pub struct Slot(Arc<Connections>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The process's soft descriptor limit (`RLIMIT_NOFILE`), `u64::MAX` if unknown.
fn fd_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(u64::MAX)
}

/// `max_connections` when the config does not say: min(256, fd limit / 8).
pub fn default_max_connections(fd_limit: u64) -> u64 {
    (fd_limit / 8).clamp(1, DEFAULT_MAX_CONNECTIONS)
}

/// The connection cap in force.
pub fn max_connections(sup: &Supervisor) -> u64 {
    match sup.config().daemon.max_connections {
        Some(max) => u64::from(max),
        None => default_max_connections(fd_limit()),
    }
}

/// Whether one more connection fits: under the cap, and with the reserve of
/// descriptors for `idle` instances (those with no child, which hold none yet)
/// still free after it. The reply says why not.
pub fn check(open: u64, cap: u64, fds_used: u64, fd_limit: u64, idle: u64) -> Result<(), String> {
    if open >= cap {
        return Err(format!(
            "ERROR (too many connections: {open} open, max_connections is {cap}; try again later)"
        ));
    }
    let reserve = FDS_PER_INSTANCE * idle + FDS_SLACK;
    if fds_used.saturating_add(FDS_PER_CONNECTION + reserve) > fd_limit {
        return Err(format!(
            "ERROR (too many connections: {open} open, and the remaining descriptors \
             (fd limit {fd_limit}) are kept for the programs; try again later)"
        ));
    }
    Ok(())
}

/// Descriptors the instances with a child hold (3 each, plus their log files), and
/// how many instances have none: a lock per instance, no system call.
fn held_by_instances(sup: &Supervisor) -> (u64, u64) {
    let config = sup.config();
    let files = |program: &str| {
        config.programs.get(program).map_or(2, |p| {
            [&p.launch.stdout, &p.launch.stderr]
                .into_iter()
                .filter(|t| matches!(t, OutputTarget::File(_)))
                .count() as u64
        })
    };
    let (mut held, mut idle) = (0, 0);
    for instance in sup.instances() {
        match instance.has_child() {
            true => held += FDS_PER_INSTANCE + files(&instance.program),
            false => idle += 1,
        }
    }
    (held, idle)
}

/// The counts `status -l` shows.
pub struct Stats {
    pub open: u64,
    pub max: u64,
    pub refused: u64,
    pub idle_closed: u64,
    pub served_inline: u64,
    /// The error of a failing `accept()` and its failures in a row.
    pub accept_failing: Option<(String, u64)>,
}

impl Connections {
    /// Admits a new connection or says why not (the refusal to send the client).
    pub fn admit(self: &Arc<Self>, sup: &Supervisor) -> Result<Slot, String> {
        let cap = max_connections(sup);
        let limit = fd_limit();
        let open = self.open.load(Ordering::SeqCst) as u64;
        let (held, idle) = held_by_instances(sup);
        let reserve = FDS_PER_INSTANCE * idle + FDS_SLACK;
        // What is open, from what the instances and connections hold. Counting
        // /proc/self/fd instead costs a directory scan as long as the descriptors
        // are many (8 ms for 15 000, at every connection): done only when the
        // estimate, give or take a quarter, comes near the limit.
        let estimate = FDS_OWN + held + FDS_PER_CONNECTION * open;
        let used = match estimate + estimate / 4 + FDS_PER_CONNECTION + reserve <= limit {
            true => estimate,
            false => crate::sys::fds::open_count().map_or(estimate, |n| n + 1),
        };
        match check(open, cap, used, limit, idle) {
            Ok(()) => {
                self.open.fetch_add(1, Ordering::SeqCst);
                let ended = self.refusing.lock().take();
                if let Some(refused) = ended {
                    info!(
                        "control socket: accepting connections again ({refused} refused meanwhile)"
                    );
                }
                Ok(Slot(self.clone()))
            }
            Err(why) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                // Counted under the lock, logged after it (the lock is a leaf).
                let first = {
                    let mut refusing = self.refusing.lock();
                    *refusing.get_or_insert(0) += 1;
                    *refusing == Some(1)
                };
                if first {
                    warn!("control socket: refusing new connections: {why}");
                }
                Err(why)
            }
        }
    }

    /// `accept()` failed: logged the first time in a row only.
    pub fn accept_failed(&self, e: &std::io::Error) {
        let first = {
            let mut failing = self.accept_failing.lock();
            let (_, count) = failing.get_or_insert_with(|| (e.to_string(), 0));
            *count += 1;
            *count == 1
        };
        if first {
            warn!(
                "control socket: accept failed: {e}; new clients wait until it works again \
                 (retried every 50 ms, logged once)"
            );
        }
    }

    /// `accept()` worked: says so if it had been failing.
    pub fn accept_worked(&self) {
        let ended = self.accept_failing.lock().take();
        if let Some((error, count)) = ended {
            info!("control socket: accept works again, after {count} failed attempts ({error})");
        }
    }

    /// A connection was closed for sending no request in time.
    pub fn idle_closed(&self) {
        self.idle_closed.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection was served on the accept thread (no thread could be started).
    pub fn served_inline(&self) {
        self.served_inline.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now, for `status -l`.
    pub fn stats(&self, sup: &Supervisor) -> Stats {
        Stats {
            open: self.open.load(Ordering::SeqCst) as u64,
            max: max_connections(sup),
            refused: self.refused.load(Ordering::Relaxed),
            idle_closed: self.idle_closed.load(Ordering::Relaxed),
            served_inline: self.served_inline.load(Ordering::Relaxed),
            accept_failing: self.accept_failing.lock().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_is_an_eighth_of_the_fd_limit_up_to_256() {
        assert_eq!(default_max_connections(1024), 128);
        assert_eq!(default_max_connections(1 << 20), 256);
        assert_eq!(default_max_connections(4), 1);
    }

    #[test]
    fn the_cap_refuses_the_connection_over_it() {
        assert!(check(2, 3, 10, 1 << 20, 0).is_ok());
        let why = check(3, 3, 10, 1 << 20, 0).unwrap_err();
        assert!(why.contains("3 open, max_connections is 3"), "{why}");
    }

    #[test]
    fn the_reserve_for_instances_is_never_taken() {
        // 10 idle instances keep 3 × 10 + 64 = 94 descriptors free.
        assert!(check(0, 100, 100, 197, 10).is_ok());
        let why = check(0, 100, 101, 197, 10).unwrap_err();
        assert!(why.contains("kept for the programs"), "{why}");
        assert!(
            check(0, 100, 101, 197, 0).is_ok(),
            "no idle instances (running ones hold theirs already), less kept"
        );
    }

    #[test]
    fn five_thousand_running_instances_leave_room_for_connections() {
        // 5 000 running instances hold ~15 000 of a 20 000 limit: what they hold is
        // in `fds_used`, and nothing more is kept for them.
        assert!(check(0, 256, 15_100, 20_000, 0).is_ok());
        // Stopped, they hold nothing, and 15 064 are kept for them.
        assert!(check(0, 256, 100, 20_000, 5_000).is_ok());
        assert!(check(0, 256, 5_000, 20_000, 5_000).is_err());
    }
}
