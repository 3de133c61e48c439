//! The new process's side of an upgrade in place: the record is read before
//! anything else, the control socket's listening descriptor is used as it is
//! (never unlinked nor bound again), and once the watchers exist each is sent its
//! instance's record to take over. The `upgrade` request is answered from here.

use std::collections::HashSet;
use std::io::Write;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, warn};
use nix::fcntl::{fcntl, FcntlArg};

use super::record::{DaemonRecord, RECORD_ENV};
use crate::control::Reply;
use crate::supervisor::Supervisor;
use crate::watch::handover::{self, Clock};

/// Takes the record named by the environment, removing the variable (so no
/// child ever sees it). Called first thing, with one thread.
pub fn take_record() -> Option<Result<DaemonRecord, String>> {
    let value = std::env::var_os(RECORD_ENV)?;
    std::env::remove_var(RECORD_ENV);
    let fd = value.to_str().and_then(|s| s.parse::<RawFd>().ok());
    // Debug builds only: lets tests/upgrade.rs see a record refused after the
    // exec (the check before it rules that out otherwise).
    #[cfg(debug_assertions)]
    if std::env::var_os("TASKMASTER_TEST_RESUME_FAILS").is_some() {
        return Some(Err("the record is refused (test failpoint)".to_string()));
    }
    Some(match fd {
        Some(fd) => DaemonRecord::read(fd),
        None => Err(format!("{RECORD_ENV} does not name a descriptor")),
    })
}

/// A record that cannot be used: every descriptor the old process kept is
/// closed (the listening socket too, so the ordinary start binds the socket
/// again), and the daemon starts as after a crash — the children journal names
/// the processes still running, and none is started twice. Called with one
/// thread, before anything else is opened.
pub fn forget_handover() {
    let fds: Vec<RawFd> = (std::fs::read_dir("/proc/self/fd").into_iter().flatten())
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    // Nothing in this process owns any of these yet (main has opened nothing);
    // the one read_dir used is closed already, and closing it again only fails.
    for fd in fds {
        let _ = nix::unistd::close(fd);
    }
}

/// A previous run's process that is this process's own child can only be one
/// an upgrade in place failed to take over (the record refused): nobody else
/// reaps it, so it is waited for here, by its pid, once it ends — `stop` on it
/// (the journal's orphans) then sees it gone.
pub fn reap_own_leftovers(pids: impl Iterator<Item = i32>) {
    let me = std::process::id() as i32;
    for pid in pids.filter(|&pid| parent_of(pid) == Some(me)) {
        let reap = move || {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        };
        if let Err(e) = crate::daemon::spawn_thread("orphan", reap) {
            warn!("{e}: pid {pid} is not reaped when it ends");
        }
    }
}

/// The parent pid of `pid`, from `/proc/PID/stat`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on a number that may name nothing only fails.
    fd > 2 && fcntl(unsafe { BorrowedFd::borrow_raw(fd) }, FcntlArg::F_GETFD).is_ok()
}

/// The control socket handed over, still listening at the same path.
pub fn listener(record: &DaemonRecord) -> Result<UnixListener, String> {
    let fd = record.listener;
    // SAFETY: fstat of a number that may name nothing only fails.
    let st = is_open(fd)
        .then(|| nix::sys::stat::fstat(unsafe { BorrowedFd::borrow_raw(fd) }).ok())
        .flatten();
    if st.is_none_or(|st| st.st_mode & 0o170000 != 0o140000) {
        return Err(format!(
            "the handed-over control socket (descriptor {fd}) is not open"
        ));
    }
    // SAFETY: the previous process kept this listening socket open for us alone.
    Ok(UnixListener::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// After an upgrade in place the socket handed over, never bound again (clients
/// see a pause, not a refusal); else the socket bound at `path`.
pub fn listener_or_bind(
    record: Option<&DaemonRecord>,
    path: &std::path::Path,
) -> Result<UnixListener, String> {
    match record {
        Some(record) => listener(record),
        None => crate::control::socket::bind_control_socket(path).map_err(|e| e.to_string()),
    }
}

/// The pids of the processes taken over (not a previous run's leftovers).
pub fn adopted_pids(record: &DaemonRecord) -> Vec<i32> {
    (record.instances.iter())
        .filter_map(|i| i.child.as_ref().map(|c| c.pid))
        .collect()
}

/// Hands every instance's record to its new watcher, waits until each has taken
/// it over, reaps the old spawn helper once it has ended, and answers the
/// `upgrade` request. Returns the answer (`Upgraded: …`), for the daemon's
/// terminal too.
pub fn take_over(sup: &Arc<Supervisor>, mut record: DaemonRecord) -> String {
    let elapsed = Duration::from_nanos(super::monotonic_ns().saturating_sub(record.monotonic_ns));
    let now = Instant::now();
    let clock = Clock {
        now: now.checked_sub(elapsed).unwrap_or(now),
    };
    // Each descriptor is taken over once, and only if it is open.
    let mut seen = HashSet::from([record.listener]);
    seen.extend(record.reply_to);
    for rec in &mut record.instances {
        if let Some(child) = &rec.child {
            let fds: Vec<RawFd> = child.fds().collect();
            if !fds.iter().all(|&fd| is_open(fd) && seen.insert(fd)) {
                warn!(
                    "{}:{}: the descriptors of its process {} were not handed over: it runs on unsupervised",
                    rec.program, rec.index, child.pid
                );
                rec.child = None;
            }
        }
    }
    let instances = sup.instances();
    let mut sent = Vec::new();
    let mut kept = 0;
    for rec in record.instances {
        let (program, index) = (rec.program.clone(), rec.index);
        let pid = rec.child.as_ref().map(|c| c.pid);
        let instance = (instances.iter()).find(|i| i.program == program && i.index == index);
        match (instance, rec.adopt(&clock)) {
            (Some(instance), Ok(adopted)) => {
                kept += usize::from(pid.is_some());
                if let Some(pid) = pid {
                    // Its watcher's to reap: never the orphan reaper's.
                    crate::orphans::spawning().owns(pid);
                }
                sent.push((instance, handover::send_adopted(instance, adopted)));
            }
            // Its descriptors close with `adopted`: the process runs on alone.
            (None, Ok(_adopted)) => warn!(
                "{program}:{index} is not in the configuration of the new binary{}",
                pid.map_or(String::new(), |p| format!(
                    ": its process {p} runs on unsupervised"
                ))
            ),
            (_, Err(e)) => warn!("{program}:{index}: its hand-over cannot be read: {e}"),
        }
    }
    for (instance, seq) in sent {
        handover::wait_adopted(instance, seq);
    }
    // Programs that waited for their dependencies go on waiting; the scheduler
    // starts them when those are RUNNING.
    sup.resume_pending(record.pending);
    if let Some(pid) = record.old_helper {
        reap_old_helper(pid);
    }
    let text = format!(
        "Upgraded: taskmaster {} (was {}), pid {}, {kept} processes kept",
        env!("CARGO_PKG_VERSION"),
        record.version,
        std::process::id()
    );
    info!(
        "{text}, upgrade requested by {}, hand-over took {} ms",
        record.requested_by,
        elapsed.as_millis()
    );
    if let Some(fd) = record.reply_to {
        // SAFETY: the requester's connection, kept open for this answer alone.
        let stream = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let line = crate::control::server::reply_line(&Reply::ok(text.clone()));
        let _ = (&stream).write_all(line.as_bytes());
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
    text
}

/// The old spawn helper ends when its socket closes at the exec: reaped here by
/// its own pid, so it never stays a zombie (nothing reaps any other way).
fn reap_old_helper(pid: i32) {
    // Registered as ours, so the orphan reaper leaves it to this thread.
    crate::orphans::spawning().owns(pid);
    let reap = move || {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        crate::orphans::released(pid);
    };
    if let Err(e) = crate::daemon::spawn_thread("old-helper", reap) {
        warn!("{e}: the old spawn helper (pid {pid}) is not reaped");
    }
}
