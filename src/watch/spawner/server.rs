//! The spawn helper process: `taskmaster --spawn-helper DAEMON_PID WORKERS`, started
//! by the daemon with one `SOCK_SEQPACKET` socket per worker on fds 3, 4, … and
//! `/dev/null` on 0–2.
//!
//! Each worker thread answers the requests of its socket one at a time (the daemon
//! sends one and waits for its reply): it receives the request and its
//! descriptors, clones the child ([`super::child`]), closes its copies of the
//! descriptors and replies. Its descriptor table holds its sockets and the few
//! descriptors of requests in flight, so a clone copies almost nothing, whatever
//! the daemon holds.
//!
//! It never outlives the daemon: it exits when any of its sockets reads end of file
//! (the daemon closed it, or exited) and is SIGKILLed by the kernel when the
//! daemon's thread that started it ends (`PR_SET_PDEATHSIG`; that thread lives as
//! long as the daemon). Every signal is blocked, so a Ctrl-C meant for the daemon's
//! terminal does nothing here; every disposition is the default, so children
//! inherit no ignored signal.

use std::ffi::OsString;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use super::child::{clone_and_exec, ChildStack, Outcome};
use super::wire::{decode_request, Reply, MAX_FDS, MAX_REQUEST};

/// The first socket's number; worker `i` has `FIRST_SOCKET + i`.
pub const FIRST_SOCKET: RawFd = 3;
/// At most this many workers (and sockets), whatever the command line says.
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
    let mut sockets = Vec::new();
    for i in 0..workers.clamp(1, MAX_WORKERS) {
        // SAFETY: the daemon installed one socket per worker from fd 3 up; nothing
        // else in this fresh process owns these numbers.
        let fd = unsafe { OwnedFd::from_raw_fd(FIRST_SOCKET + i as RawFd) };
        let _ = nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
        sockets.push(fd);
    }
    let last = sockets.pop();
    for socket in sockets {
        let started = std::thread::Builder::new()
            .name("spawn-worker".to_string())
            .stack_size(crate::stack::THREAD_STACK)
            .spawn(move || serve(socket));
        if started.is_err() {
            std::process::exit(1);
        }
    }
    if let Some(socket) = last {
        serve(socket);
    }
    // One socket closed: the daemon is gone or wants this helper gone.
    std::process::exit(0);
}

/// Answers the requests of one socket until it closes; then ends the process.
fn serve(socket: OwnedFd) {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut stack = ChildStack::new();
    while let Some((len, fds)) = receive(&socket, &mut buf) {
        let reply = match (decode_request(&buf[..len]), fds.len()) {
            (Some(req), 3..=MAX_FDS) => clone_and_exec(&mut stack, &req, &fds),
            _ => Outcome::NotSpawned {
                errno: libc::EINVAL,
            },
        };
        drop(fds);
        let sent = match reply {
            Outcome::Spawned { pid, pidfd } => send(&socket, Reply::Spawned { pid }, Some(&pidfd)),
            Outcome::ExecFailed { pid, pidfd, errno } => {
                send(&socket, Reply::ExecFailed { pid, errno }, Some(&pidfd))
            }
            Outcome::NotSpawned { errno } => send(&socket, Reply::NotSpawned { errno }, None),
        };
        if sent.is_err() {
            break;
        }
    }
    std::process::exit(0);
}

/// One request: its length and descriptors. `None` at end of file or on an error;
/// a request cut short (too long, too many descriptors) reads as length 0, which
/// does not decode.
fn receive(socket: &OwnedFd, buf: &mut [u8]) -> Option<(usize, Vec<OwnedFd>)> {
    loop {
        let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => msg,
            Err(Errno::EINTR) => continue,
            Err(_) => return None,
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
        let cut = msg
            .flags
            .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
        return match msg.bytes {
            0 if fds.is_empty() => None,
            _ if cut => Some((0, fds)),
            n => Some((n, fds)),
        };
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
