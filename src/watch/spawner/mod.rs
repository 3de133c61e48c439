//! The spawn helper (docs/ARCHITECTURE.md, Spawning): children are cloned by a small
//! process, not by the daemon.
//!
//! A spawn copies the spawning process's descriptor table into the child, and the
//! child's exec closes it again: with thousands of instances the daemon holds
//! thousands of close-on-exec descriptors, and that copy dominates a spawn. So the
//! daemon starts, early, while its own table is still small, `taskmaster
//! --spawn-helper` ([`server`]), connected by a socket its worker threads all read
//! from, and sends it what `posix_spawn` would get; the helper clones the child
//! with `CLONE_PARENT` ([`child`]), so the child is still the daemon's own: its
//! watcher reaps it through the pidfd the helper sends back, as before.
//!
//! The helper is an optimisation only. [`spawn`] answers `None` whenever it cannot
//! be used — not started, dead, stalled, a request too large, a clone that failed,
//! a reply that does not decode — and the caller spawns in the daemon itself, as it
//! always did. When the helper dies, the `spawner` thread, which waits on its pidfd, reaps
//! it, logs it once and starts another ([`keeper`]).

mod child;
mod keeper;
pub mod server;
mod wire;

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sys::socket::{
    sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};
use parking_lot::Mutex;

pub use keeper::{helper_pid, shutdown, start};
use wire::Reply;

/// The hidden first argument that puts `taskmaster` in spawn-helper mode.
pub const SPAWNER_FLAG: &str = "--spawn-helper";
/// Worker threads in the helper, which take requests from its socket in turn:
/// one per CPU, at least [`MIN_WORKERS`], at most [`MAX_WORKERS`]. A worker waits
/// while its child execs, so one is not enough even on one CPU. On two CPUs, 1 000
/// starts took (medians of 6, a loaded machine) 0.48 s with two workers, 0.57 s
/// with three, 0.53 s with four; one took 1.0 s.
const MIN_WORKERS: usize = 2;
const MAX_WORKERS: usize = 8;
/// A request that cannot be sent, or a reply that does not come, within this
/// means the helper is stuck (stopped, or worse): it is killed, so that it can
/// never start that child late, and the daemon starts the child itself.
const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The daemon's side of the helper: `None` while the helper is down.
struct Spawner {
    requests: Mutex<Option<Arc<Connection>>>,
    /// Set at shutdown: the helper's end is expected, neither logged nor restarted.
    stopping: AtomicBool,
    /// The running helper's pidfd, for the shutdown to wait on.
    helper: Mutex<Option<Arc<OwnedFd>>>,
}

/// A running helper as a spawn sees it.
struct Connection {
    /// The socket its workers all read requests from.
    socket: OwnedFd,
    /// To kill it when it stalls or misbehaves.
    pidfd: Arc<OwnedFd>,
}

impl Spawner {
    /// After a failed exchange with `helper`: no more requests to it. Unless it is
    /// dead already (`why` is `None`: the `spawner` thread logs that), it is killed
    /// and that is logged once, so that a request it still holds can never become
    /// a child nobody watches; the `spawner` thread reaps it and starts another.
    fn give_up(&self, helper: &Arc<Connection>, why: Option<&str>) {
        let mut current = self.requests.lock();
        let ours = current.as_ref().is_some_and(|c| Arc::ptr_eq(c, helper));
        if ours {
            *current = None;
        }
        drop(current);
        let Some(why) = why else {
            return;
        };
        if ours {
            log::warn!("spawn helper {why}: killing it; children are started by the daemon itself meanwhile");
        }
        let _ = rustix::process::pidfd_send_signal(&*helper.pidfd, rustix::process::Signal::KILL);
    }
}

/// The daemon's one helper. A fact of the process, like its pid: every watcher
/// spawns through it, and a process with none (the unit tests, `--check`) spawns
/// in-process. Set once by [`start`].
static SPAWNER: OnceLock<Spawner> = OnceLock::new();

/// Spawns through the helper: `fds` are `(descriptor, target)` with targets 0, 1,
/// 2 (and 3) in order. `None`: the helper could not do it and made no child; spawn
/// in-process instead. `Some(Err)`: the child could not exec (its errno).
///
/// The request carries, last, one end of a new socket pair on which its reply
/// comes back: no lock is held and no reply is matched to its request, and the
/// helper's workers take the next request as soon as they are free.
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
    let helper = spawner.requests.lock().clone()?;
    let (reply_here, reply_there) = reply_pair().ok()?;
    let mut sources: Vec<RawFd> = fds.iter().map(|&(from, _)| from).collect();
    sources.push(reply_there.as_raw_fd());
    if let Err(e) = send_request(&helper.socket, &request, &sources) {
        let dead = matches!(e, Errno::EPIPE | Errno::ECONNRESET | Errno::ECONNREFUSED);
        let why = format!("takes no request ({})", e.desc());
        spawner.give_up(&helper, (!dead).then_some(why.as_str()));
        return None;
    }
    drop(reply_there);
    let answer = match receive_reply(&reply_here) {
        Ok(answer) => answer,
        Err(why) => {
            spawner.give_up(&helper, why);
            return None;
        }
    };
    match answer {
        (Reply::Spawned { pid }, Some(pidfd)) => Some(Ok((pid, pidfd))),
        (Reply::Spawned { pid }, None) => {
            // Started, but its pidfd never reached us (our table is full): a
            // child no watcher could follow. Ended now; the start fails as a
            // spawn with no descriptor would.
            super::spawn::kill_unwatched(pid);
            Some(Err(Errno::EMFILE))
        }
        (Reply::ExecFailed { pid, errno }, _) => {
            // The child exited at once; it is ours to reap, by its own pid.
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            Some(Err(Errno::from_raw(errno)))
        }
        _ => None,
    }
}

/// The socket pair a reply comes back on; a reply later than [`REPLY_TIMEOUT`]
/// counts as none.
fn reply_pair() -> Result<(OwnedFd, OwnedFd), Errno> {
    let (here, there) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    let timeout = nix::sys::time::TimeVal::new(REPLY_TIMEOUT.as_secs() as i64, 0);
    nix::sys::socket::setsockopt(&here, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)?;
    Ok((here, there))
}

fn send_request(socket: &OwnedFd, request: &[u8], fds: &[RawFd]) -> Result<(), Errno> {
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
            Ok(n) if n == request.len() => return Ok(()),
            Ok(_) => return Err(Errno::EMSGSIZE),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The reply, checked; else what went wrong, `None` if the helper died.
fn receive_reply(socket: &OwnedFd) -> Result<(Reply, Option<OwnedFd>), Option<&'static str>> {
    let mut buf = [0u8; wire::REPLY_LEN + 1];
    let got = match wire::receive(socket, &mut buf) {
        Ok(got) => got,
        Err(Errno::EAGAIN) => return Err(Some("did not answer in time")),
        Err(_) => return Err(Some("could not be read from")),
    };
    if got.flags.contains(MsgFlags::MSG_TRUNC) {
        return Err(Some("sent a reply too long"));
    }
    // MSG_CTRUNC alone: the reply is whole but its pidfd could not be given to
    // us (our descriptor table is full). Decoded without it: the caller must not
    // leave that child running unwatched.
    if got.flags.contains(MsgFlags::MSG_CTRUNC) {
        return match Reply::decode_without_pidfd(&buf[..got.bytes]) {
            Some(reply) => Ok((reply, None)),
            None => Err(Some("sent a reply whose descriptor did not fit")),
        };
    }
    match got.bytes {
        0 => Err(None),
        len => Reply::decode(&buf[..len], got.fds).ok_or(Some("sent a reply that does not decode")),
    }
}
