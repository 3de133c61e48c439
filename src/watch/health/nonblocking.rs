//! The sockets of `tcp` and `http` checks, non-blocking from their creation and
//! waited on with `poll` up to the check's deadline.
//!
//! Why not std's `connect_timeout` and socket timeouts: they cost two `ioctl`s
//! per connect and a `setsockopt` before every read and write — with a check a
//! second on each of a hundred instances, a third of the daemon's system calls
//! for health checks. Here a check is `socket`, `connect`, `poll`, `send`,
//! `poll`, `recv` (until the answer is in) and `close`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6};

/// A connection to `address`, made by `deadline`; the stream stays non-blocking.
pub(super) fn connect(address: &SocketAddr, deadline: Instant) -> std::io::Result<TcpStream> {
    let (stream, connected) = start_connect(address)?;
    if connected {
        return Ok(stream);
    }
    let events = wait(&stream, PollFlags::POLLOUT, deadline)?;
    if events.intersects(PollFlags::POLLERR | PollFlags::POLLHUP) {
        return Err(connect_error(&stream));
    }
    Ok(stream)
}

/// The error of a connect that failed on its way (refused, unreachable).
pub(super) fn connect_error(stream: &TcpStream) -> std::io::Error {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => e,
        Ok(None) => ErrorKind::ConnectionRefused.into(),
    }
}

/// A non-blocking socket connecting to `address`: `true` when the connection
/// is made already, else it is under way (writable once made, or with an error).
pub(super) fn start_connect(address: &SocketAddr) -> std::io::Result<(TcpStream, bool)> {
    let family = match address {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let fd = socket::socket(family, SockType::Stream, flags, None)?;
    let stream = TcpStream::from(fd);
    let raw = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let connected = match *address {
        SocketAddr::V4(a) => socket::connect(raw, &SockaddrIn::from(a)),
        SocketAddr::V6(a) => socket::connect(raw, &SockaddrIn6::from(a)),
    };
    match connected {
        Ok(()) => Ok((stream, true)),
        Err(Errno::EINPROGRESS) => Ok((stream, false)),
        Err(e) => Err(e.into()),
    }
}

/// Writes all of `bytes` by `deadline`.
pub(super) fn write_all(
    stream: &mut TcpStream,
    mut bytes: &[u8],
    deadline: Instant,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait(stream, PollFlags::POLLOUT, deadline)?;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One read by `deadline`; `poll_first` when nothing can have come yet (right
/// after the request), saving a read that would find nothing.
pub(super) fn read(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    poll_first: bool,
) -> std::io::Result<usize> {
    if poll_first {
        wait(stream, PollFlags::POLLIN, deadline)?;
    }
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait(stream, PollFlags::POLLIN, deadline)?;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Waits until `stream` is ready for `events` (or has an error or hang-up);
/// `TimedOut` at `deadline`.
fn wait(stream: &TcpStream, events: PollFlags, deadline: Instant) -> std::io::Result<PollFlags> {
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(ErrorKind::TimedOut)?;
        let mut fds = [PollFd::new(stream.as_fd(), events)];
        match poll(&mut fds, poll_timeout(left)) {
            Ok(0) => continue,
            Ok(_) => return Ok(fds[0].revents().unwrap_or(PollFlags::empty())),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `left` in whole milliseconds, rounded up (a poll never ends early for lack
/// of a millisecond), at most `poll`'s largest.
pub(super) fn poll_timeout(left: Duration) -> PollTimeout {
    let ms = left.as_nanos().div_ceil(1_000_000);
    PollTimeout::try_from(i32::try_from(ms).unwrap_or(i32::MAX)).unwrap_or(PollTimeout::MAX)
}
