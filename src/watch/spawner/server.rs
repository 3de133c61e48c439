//! The spawn helper process: `taskmaster --spawn-helper DAEMON_PID WORKERS`, started
//! by the daemon with its request socket (`SOCK_SEQPACKET`) on fd 3 and `/dev/null`
//! on 0–2.
//!
//! Its worker threads all read requests from that one socket, each taking the next
//! as soon as it is free: a request, its child's descriptors and, last, the socket
//! its reply goes to. The worker clones the child ([`super::child`]), closes its
//! copies of the descriptors and replies. Its descriptor table holds the request
//! socket and the few descriptors of requests in flight, so a clone copies almost
//! nothing, whatever the daemon holds.
//!
//! It never outlives the daemon: it exits when the request socket reads end of
//! file (the daemon closed it, or exited) and is SIGKILLed by the kernel when the
//! daemon's thread that started it ends (`PR_SET_PDEATHSIG`; that thread lives as
//! long as the daemon). Every signal is blocked, so a Ctrl-C meant for the daemon's
//! terminal does nothing here; every disposition is the default, so children
//! inherit no ignored signal.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use super::child::{clone_and_exec, ChildStack, Outcome};
use super::wire::{decode_request, Reply, MAX_FDS, MAX_REQUEST};

/// The request socket's number in the helper.
pub const REQUEST_SOCKET: RawFd = 3;
/// At most this many workers, whatever the command line says.
const MAX_WORKERS: usize = 16;

/// Runs the helper with the arguments after `--spawn-helper`. Never returns.
pub fn run(args: &[OsString]) -> ! {
    let parse = |a: Option<&OsString>| a.and_then(|a| a.to_str()?.parse::<usize>().ok());
    let (Some(daemon), Some(workers)) = (parse(args.first()), parse(args.get(1))) else {
        std::process::exit(2);
    };
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    // The daemon may have died before the line above: then our parent is another.
    if usize::try_from(nix::unistd::getppid().as_raw()).ok() != Some(daemon) {
        std::process::exit(0);
    }
    super::super::child_signals::reset_before_exec();
    // Blocked in this thread before any other exists, so in every thread and in
    // each child until it clears its mask just before exec.
    let _ = nix::sys::signal::SigSet::all().thread_block();
    // SAFETY: the daemon installed the request socket on fd 3 for us; nothing else
    // in this fresh process owns that number.
    let socket = Arc::new(unsafe { OwnedFd::from_raw_fd(REQUEST_SOCKET) });
    let _ = nix::fcntl::fcntl(
        &*socket,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    for _ in 1..workers.clamp(1, MAX_WORKERS) {
        let socket = socket.clone();
        let started = std::thread::Builder::new()
            .name("spawn-worker".to_string())
            .stack_size(crate::stack::THREAD_STACK)
            .spawn(move || serve(&socket));
        if started.is_err() {
            break; // fewer workers, still a helper
        }
    }
    serve(&socket)
}

/// Answers requests until the daemon's end of the socket closes; then ends the
/// process. A request's last descriptor is the socket its reply goes to.
fn serve(socket: &OwnedFd) -> ! {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut stack = ChildStack::new();
    while let Some((len, mut fds)) = receive(socket, &mut buf) {
        let Some(reply_to) = fds.pop() else {
            continue; // nowhere to answer: a request the daemon never sends
        };
        let outcome = match (decode_request(&buf[..len]), fds.len()) {
            (Some(req), 3..=MAX_FDS) => clone_and_exec(&mut stack, &req, &fds),
            _ => Outcome::NotSpawned {
                errno: libc::EINVAL,
            },
        };
        drop(fds);
        // A failed send means the daemon's waiting thread gave up: nothing to do.
        let _ = match outcome {
            Outcome::Spawned { pid, pidfd } => {
                send(&reply_to, Reply::Spawned { pid }, Some(&pidfd))
            }
            Outcome::ExecFailed { pid, pidfd, errno } => {
                send(&reply_to, Reply::ExecFailed { pid, errno }, Some(&pidfd))
            }
            Outcome::NotSpawned { errno } => send(&reply_to, Reply::NotSpawned { errno }, None),
        };
    }
    std::process::exit(0);
}

/// One request: its length and descriptors. `None` at end of file or on an error;
/// a request cut short (too long, too many descriptors) reads as length 0, which
/// does not decode.
fn receive(socket: &OwnedFd, buf: &mut [u8]) -> Option<(usize, Vec<OwnedFd>)> {
    let got = super::wire::receive(socket, buf).ok()?;
    let cut = got
        .flags
        .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
    match got.bytes {
        0 if got.fds.is_empty() => None,
        _ if cut => Some((0, got.fds)),
        n => Some((n, got.fds)),
    }
}

fn send(socket: &OwnedFd, reply: Reply, pidfd: Option<&OwnedFd>) -> Result<(), Errno> {
    let bytes = reply.encode();
    let iov = [std::io::IoSlice::new(&bytes)];
    let raw: Vec<RawFd> = pidfd.map(|fd| fd.as_raw_fd()).into_iter().collect();
    let rights = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &rights };
    sendmsg::<()>(
        socket.as_raw_fd(),
        &iov,
        cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
}
