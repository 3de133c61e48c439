//! Starting the spawn helper, and the `spawner` thread that keeps it: it waits on the
//! helper's pidfd (no timeout: an idle daemon does not wake), reaps it by its own pid
//! when it ends, logs that once, and starts another.
//!
//! Every helper is started by this thread, which lives as long as the daemon: the
//! thread that starts the helper is its parent for `PR_SET_PDEATHSIG` (which fires
//! when that *thread* ends), and the children it clones with `CLONE_PARENT` are
//! that thread's children. So they are not the main thread's, where the kernel
//! puts the orphans it hands to the daemon: reading the main thread's children
//! (`orphans`, at every child's exit and every stop) lists the adopted processes
//! alone, not a thousand instances' children as well (1 000 instances: a
//! `/proc` read of ~1 000 pids under the registry's lock, which every spawn takes,
//! before each restart).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, warn};
use nix::errno::Errno;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::Pid;

use super::server::REQUEST_SOCKET;
use super::{Connection, Spawner, MAX_WORKERS, MIN_WORKERS, REPLY_TIMEOUT, SPAWNER, SPAWNER_FLAG};
use crate::config::ExecForm;

/// A helper that dies this soon after its start counts as failing to start.
const SHORT_LIFE: Duration = Duration::from_secs(10);
/// After this many short lives in a row, the daemon keeps spawning in-process.
const MAX_SHORT_LIVES: u32 = 3;

/// One running helper: the daemon's end of its socket, its pid and pidfd.
struct Helper {
    pid: i32,
    pidfd: OwnedFd,
    requests: OwnedFd,
}

/// Starts the helper and the thread that keeps it. Called once by the daemon, early
/// (its descriptor table is what the helper's starts from, and children are only
/// cloned once it runs). On failure the daemon spawns in-process, and says so.
pub fn start() {
    let workers = std::thread::available_parallelism()
        .map_or(MIN_WORKERS, |n| n.get())
        .clamp(MIN_WORKERS, MAX_WORKERS);
    let (started, outcome) = std::sync::mpsc::sync_channel::<Result<i32, Errno>>(1);
    let thread = crate::daemon::spawn_thread("spawner", move || {
        let helper = match launch(workers) {
            Ok(helper) => helper,
            Err(e) => {
                let _ = started.send(Err(e));
                return;
            }
        };
        let pid = helper.pid;
        match take(helper) {
            Some((spawner, pidfd)) => {
                let _ = started.send(Ok(pid));
                keep(spawner, pid, pidfd, workers);
            }
            None => {
                let _ = started.send(Err(Errno::EALREADY));
            }
        }
    });
    if let Err(e) = thread {
        warn!("{e}: children are started by the daemon itself");
        return;
    }
    // The helper runs (or not) before the first child is started.
    match outcome.recv() {
        Ok(Ok(pid)) => info!("spawn helper started with pid {pid}, {workers} workers"),
        Ok(Err(Errno::EALREADY)) => {}
        Ok(Err(e)) => warn!(
            "cannot start the spawn helper ({}): children are started by the daemon itself",
            e.desc()
        ),
        Err(_) => warn!("the spawner thread ended: children are started by the daemon itself"),
    }
}

/// Makes `helper` the daemon's one helper; `None` when there is one already (this
/// one's socket closes with it, and it exits).
fn take(helper: Helper) -> Option<(&'static Spawner, Arc<OwnedFd>)> {
    let spawner = Spawner {
        requests: Default::default(),
        stopping: Default::default(),
        helper: Default::default(),
    };
    SPAWNER.set(spawner).ok()?;
    let spawner = SPAWNER.get()?;
    let pidfd = Arc::new(helper.pidfd);
    install(spawner, &pidfd, helper.requests);
    Some((spawner, pidfd))
}

/// At shutdown: closes the helper's socket, which ends it, and waits (at most a
/// second) until it is gone, so that nothing of the daemon outlives it.
pub fn shutdown() {
    let Some(spawner) = SPAWNER.get() else {
        return;
    };
    spawner.stopping.store(true, Ordering::SeqCst);
    *spawner.requests.lock() = None;
    let Some(pidfd) = spawner.helper.lock().clone() else {
        return;
    };
    let mut poll = [nix::poll::PollFd::new(
        pidfd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let _ = nix::poll::poll(&mut poll, nix::poll::PollTimeout::from(1000u16));
}

/// The running helper's pid (from its pidfd's `/proc/self/fdinfo`): an upgrade
/// in place hands it to the next process, which reaps it once it has ended (its
/// socket closes at the exec).
pub fn helper_pid() -> Option<i32> {
    let pidfd = SPAWNER.get()?.helper.lock().clone()?;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).ok()?;
    let pid = info.lines().find_map(|l| l.strip_prefix("Pid:"))?;
    pid.trim().parse().ok().filter(|&p: &i32| p > 0)
}

fn install(spawner: &Spawner, pidfd: &Arc<OwnedFd>, socket: OwnedFd) {
    *spawner.helper.lock() = Some(pidfd.clone());
    let pidfd = pidfd.clone();
    *spawner.requests.lock() = Some(Arc::new(Connection { socket, pidfd }));
}

/// The `spawner` thread: reaps each helper when it ends and starts the next.
fn keep(spawner: &'static Spawner, mut pid: i32, mut pidfd: Arc<OwnedFd>, workers: usize) {
    let mut short_lives = 0;
    let mut started = Instant::now();
    loop {
        let mut poll = [nix::poll::PollFd::new(
            pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut poll, nix::poll::PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => {
                warn!("spawn helper: cannot wait for it ({})", e.desc());
                return;
            }
        }
        let status = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
        crate::orphans::released(pid);
        *spawner.requests.lock() = None;
        if spawner.stopping.load(Ordering::SeqCst) {
            return;
        }
        let how = match status {
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => format!("exited with status {code}"),
            Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
            _ => "ended".to_string(),
        };
        short_lives = if started.elapsed() < SHORT_LIFE {
            short_lives + 1
        } else {
            0
        };
        if short_lives >= MAX_SHORT_LIVES {
            warn!(
                "spawn helper (pid {pid}) {how}, again: children are started by the daemon itself from now on"
            );
            return;
        }
        warn!("spawn helper (pid {pid}) {how}: starting another");
        // Never more than one start a second.
        std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
        started = Instant::now();
        match launch(workers) {
            // A shutdown begun meanwhile: closing its socket ends this one.
            Ok(helper) if spawner.stopping.load(Ordering::SeqCst) => {
                drop(helper.requests);
                let _ = nix::sys::wait::waitpid(Pid::from_raw(helper.pid), None);
                crate::orphans::released(helper.pid);
                return;
            }
            Ok(helper) => {
                (pid, pidfd) = (helper.pid, Arc::new(helper.pidfd));
                install(spawner, &pidfd, helper.requests);
                info!("spawn helper started with pid {pid}");
            }
            Err(e) => {
                warn!(
                    "cannot start the spawn helper ({}): children are started by the daemon itself",
                    e.desc()
                );
                return;
            }
        }
    }
}

/// Starts `taskmaster --spawn-helper` with its socket on 3 and `/dev/null` on 0–2.
fn launch(workers: usize) -> Result<Helper, Errno> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    // A helper that stops reading holds a sender back this long, not forever.
    let timeout = nix::sys::time::TimeVal::new(REPLY_TIMEOUT.as_secs() as i64, 0);
    nix::sys::socket::setsockopt(&ours, nix::sys::socket::sockopt::SendTimeout, &timeout)?;
    let null: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?
        .into();
    let mut fds: Vec<(RawFd, RawFd)> = (0..3).map(|n| (null.as_raw_fd(), n)).collect();
    fds.push((theirs.as_raw_fd(), REQUEST_SOCKET));
    let c = |s: &str| CString::new(s).map_err(|_| Errno::EINVAL);
    let argv = vec![
        c("taskmaster")?,
        c(SPAWNER_FLAG)?,
        c(&std::process::id().to_string())?,
        c(&workers.to_string())?,
    ];
    let form = ExecForm {
        argv: argv.clone(),
        env: Arc::new(Vec::new()),
        cwd: c("/")?,
        path: None,
    };
    // The `spawner` thread reaps it by its own pid: not an orphan.
    let spawning = crate::orphans::spawning();
    let pid = super::super::spawn::posix_spawn(&c("/proc/self/exe")?, &argv, &form, &fds)?;
    spawning.owns(pid);
    let pidfd = crate::sys::pidfd::pidfd_open(pid)?;
    Ok(Helper {
        pid,
        pidfd,
        requests: ours,
    })
}
