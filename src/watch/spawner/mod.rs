//! The spawn helper (docs/ARCHITECTURE.md, Spawning): children are cloned by a small
//! process, not by the daemon.
//!
//! A spawn copies the spawning process's descriptor table into the child, and the
//! child's exec closes it again: with thousands of instances the daemon holds
//! thousands of close-on-exec descriptors, and that copy dominates a spawn. So the
//! daemon starts, early, while its own table is still small, `taskmaster
//! --spawn-helper` ([`server`]), connected by one socket per worker thread, and
//! sends it what `posix_spawn` would get; the helper clones the child with
//! `CLONE_PARENT` ([`child`]), so the child is still the daemon's own: its watcher
//! reaps it through the pidfd the helper sends back, as before.
//!
//! The helper is an optimisation only. [`spawn`] answers `None` whenever it cannot
//! be used — not started, dead, a request too large, a clone that failed, a reply
//! that does not decode — and the caller spawns in the daemon itself, as it always
//! did. When the helper dies, the `spawner` thread, which waits on its pidfd, reaps
//! it, logs it once and starts another ([`keeper`]).

mod child;
mod keeper;
pub mod server;
mod wire;

use std::ffi::{CStr, CString};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use parking_lot::Mutex;

pub use keeper::{shutdown, start};
use wire::Reply;

/// The hidden first argument that puts `taskmaster` in spawn-helper mode.
pub const SPAWNER_FLAG: &str = "--spawn-helper";
/// Worker threads in the helper, each with its socket, so that spawns run in
/// parallel: one per CPU, at least [`MIN_WORKERS`], at most [`MAX_WORKERS`]. A
/// worker waits while its child execs, so one is not enough even on one CPU; on
/// two CPUs, 1 000 starts took 2.5 s with one worker, 0.69 s with two and 0.82 s
/// with four.
const MIN_WORKERS: usize = 2;
const MAX_WORKERS: usize = 8;
/// A reply later than this means the helper is stuck (stopped, or worse): its
/// socket is closed, which ends it, and the daemon spawns itself.
const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The daemon's side of the helper: one socket per worker, each used by one
/// spawn at a time (request, then its reply). `None` while the helper is down.
struct Spawner {
    sockets: Vec<Mutex<Option<OwnedFd>>>,
    next: AtomicUsize,
    /// Set at shutdown: the helper's end is expected, neither logged nor restarted.
    stopping: AtomicBool,
    /// The running helper's pidfd, for the shutdown to wait on.
    helper: Mutex<Option<std::sync::Arc<OwnedFd>>>,
}

/// The daemon's one helper. A fact of the process, like its pid: every watcher
/// spawns through it, and a process with none (the unit tests, `--check`) spawns
/// in-process. Set once by [`start`].
static SPAWNER: OnceLock<Spawner> = OnceLock::new();

/// Spawns through the helper: `fds` are `(descriptor, target)` with targets 0, 1,
/// 2 (and 3) in order. `None`: the helper could not do it and made no child; spawn
/// in-process instead. `Some(Err)`: the child could not exec (its errno).
pub fn spawn(
    exe: &CStr,
    argv: &[CString],
    env: &[CString],
    cwd: &CStr,
    fds: &[(RawFd, RawFd)],
) -> Option<Result<(i32, OwnedFd), Errno>> {
    let spawner = SPAWNER.get()?;
    let in_order = fds.iter().zip(0..).all(|(&(_, to), n)| to == n);
    if !in_order || !(3..=wire::MAX_FDS).contains(&fds.len()) {
        return None;
    }
    let request = wire::encode_request(exe, cwd, argv, env)?;
    let sources: Vec<RawFd> = fds.iter().map(|&(from, _)| from).collect();
    let mut socket = spawner.pick();
    let (reply, pidfd) = match round_trip(socket.as_ref()?, &request, &sources) {
        Ok(answer) => answer,
        Err(()) => {
            // The helper died, stalled or spoke nonsense: this socket is done
            // (closing it ends the helper, which the keeper reaps and restarts).
            *socket = None;
            return None;
        }
    };
    drop(socket);
    match (reply, pidfd) {
        (Reply::Spawned { pid }, Some(pidfd)) => Some(Ok((pid, pidfd))),
        (Reply::ExecFailed { pid, errno }, _) => {
            // The child exited at once; it is ours to reap, by its own pid.
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            Some(Err(Errno::from_raw(errno)))
        }
        _ => None,
    }
}

impl Spawner {
    /// A free socket if there is one, else the next in turn (waiting for it).
    fn pick(&self) -> parking_lot::MutexGuard<'_, Option<OwnedFd>> {
        let n = self.sockets.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Some(guard) = self.sockets[(first + i) % n].try_lock() {
                return guard;
            }
        }
        self.sockets[first % n].lock()
    }
}

/// Sends one request and reads its reply. `Err` means the socket is unusable.
fn round_trip(
    socket: &OwnedFd,
    request: &[u8],
    fds: &[RawFd],
) -> Result<(Reply, Option<OwnedFd>), ()> {
    let iov = [std::io::IoSlice::new(request)];
    let rights = [ControlMessage::ScmRights(fds)];
    loop {
        match sendmsg::<()>(
            socket.as_raw_fd(),
            &iov,
            &rights,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(n) if n == request.len() => break,
            Err(Errno::EINTR) => continue,
            _ => return Err(()),
        }
    }
    let mut buf = [0u8; wire::REPLY_LEN + 1];
    loop {
        let mut cmsg = nix::cmsg_space!([RawFd; 2]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => msg,
            Err(Errno::EINTR) => continue,
            Err(_) => return Err(()),
        };
        let mut fds = Vec::new();
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    // SAFETY: the kernel just installed these for us.
                    fds.extend(
                        raw.into_iter()
                            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                    );
                }
            }
        }
        if msg
            .flags
            .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC)
        {
            return Err(());
        }
        let len = msg.bytes;
        return Reply::decode(&buf[..len], fds).ok_or(());
    }
}
