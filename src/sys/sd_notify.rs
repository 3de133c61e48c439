//! The service manager's side channels, as the kernel sees them: the datagram
//! socket named by `NOTIFY_SOCKET` that takes `READY=1`, `STATUS=…` and the like,
//! the watchdog period it asks for (`WATCHDOG_USEC`, `WATCHDOG_PID`), and whether
//! our stderr is its journal stream (`JOURNAL_STREAM`). What to say and when is the
//! daemon's business (`service_manager.rs`, `journald.rs`).

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The variables that describe taskmaster's own place under the service manager.
/// They are left out of every program's and alert command's environment: a child
/// that found `NOTIFY_SOCKET` could tell the manager it is ready, or stopping, in
/// taskmaster's name, and a child's stderr is never the journal stream our
/// `JOURNAL_STREAM` names.
pub const SERVICE_MANAGER_VARIABLES: [&str; 4] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "JOURNAL_STREAM",
];

/// Whether `name` is one of [`SERVICE_MANAGER_VARIABLES`].
pub fn is_service_manager_variable(name: &[u8]) -> bool {
    SERVICE_MANAGER_VARIABLES
        .iter()
        .any(|v| v.as_bytes() == name)
}

/// `command` without [`SERVICE_MANAGER_VARIABLES`] (an alert command's).
pub fn without_service_manager(mut command: std::process::Command) -> std::process::Command {
    for name in SERVICE_MANAGER_VARIABLES {
        command.env_remove(name);
    }
    command
}

/// A `NOTIFY_SOCKET` taskmaster cannot use.
#[derive(Debug, thiserror::Error)]
pub enum NotifySocketError {
    #[error("NOTIFY_SOCKET={0:?} is neither an absolute path nor an @abstract name")]
    Unsupported(String),
    #[error("NOTIFY_SOCKET={0:?}: {1}")]
    Socket(String, io::Error),
}

/// Where notifications go: an unbound datagram socket and the manager's address.
#[derive(Debug)]
pub struct NotifySocket {
    socket: UnixDatagram,
    address: SocketAddr,
    /// As given, for messages.
    pub name: String,
}

impl NotifySocket {
    /// The socket `NOTIFY_SOCKET` names; `Ok(None)` when it is unset or empty
    /// (not started by a service manager that listens).
    pub fn from_env() -> Result<Option<NotifySocket>, NotifySocketError> {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(value) if !value.is_empty() => Self::open(value.as_bytes()).map(Some),
            _ => Ok(None),
        }
    }

    /// `/path` is a socket in the file system, `@name` one in the abstract
    /// namespace (the `@` stands for the leading NUL byte).
    pub fn open(value: &[u8]) -> Result<NotifySocket, NotifySocketError> {
        let name = String::from_utf8_lossy(value).into_owned();
        let address = match value.split_first() {
            Some((b'@', rest)) if !rest.is_empty() => SocketAddr::from_abstract_name(rest),
            Some((b'/', _)) => SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(value)),
            _ => return Err(NotifySocketError::Unsupported(name)),
        }
        .map_err(|e| NotifySocketError::Socket(name.clone(), e))?;
        let socket =
            UnixDatagram::unbound().map_err(|e| NotifySocketError::Socket(name.clone(), e))?;
        // A manager too busy to read its queue may lose a message; it never holds
        // up the thread that sends one (the main thread, a reload) for long.
        socket
            .set_write_timeout(Some(Duration::from_secs(1)))
            .map_err(|e| NotifySocketError::Socket(name.clone(), e))?;
        Ok(NotifySocket {
            socket,
            address,
            name,
        })
    }

    /// Sends one datagram: newline-separated `KEY=VALUE` assignments. Addressed
    /// each time, not connected once, so a manager that re-executed itself and
    /// bound its socket anew is still reached.
    pub fn send(&self, message: &str) -> io::Result<()> {
        self.socket
            .send_to_addr(message.as_bytes(), &self.address)
            .map(drop)
    }
}

/// The watchdog's period, when the manager asks us for keep-alives: `WATCHDOG_USEC`
/// microseconds, above 0, and `WATCHDOG_PID`, if set, our own pid (else the request
/// was meant for another process, whose environment we inherited).
pub fn watchdog_period() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC")
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// CLOCK_MONOTONIC in microseconds: the manager compares `MONOTONIC_USEC=` of a
/// `RELOADING=1` with its own clock to tell this reload from an older one.
pub fn monotonic_usec() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(t) => (t.tv_sec() as u64)
            .saturating_mul(1_000_000)
            .saturating_add(t.tv_nsec() as u64 / 1_000),
        Err(_) => 0,
    }
}

/// Whether our stderr is the journal's stream: `JOURNAL_STREAM` is `DEV:INODE`
/// of the stream the manager connected, and stderr must still be that very one
/// (not a file or a terminal it was redirected to since).
pub fn stderr_is_journal_stream() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = parse_dev_ino(value.as_bytes()) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr()) {
        Ok(st) => st.st_dev == dev && st.st_ino == ino,
        Err(_) => false,
    }
}

fn parse_dev_ino(value: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(value).ok()?;
    let (dev, ino) = text.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_and_an_abstract_name_are_addresses_anything_else_is_refused() {
        assert!(NotifySocket::open(b"/run/systemd/notify").is_ok());
        assert!(NotifySocket::open(b"@taskmaster-test").is_ok());
        for bad in [&b"relative/path"[..], b"@", b"vsock:2:1234"] {
            let err = NotifySocket::open(bad).expect_err("refused");
            assert!(err.to_string().contains("NOTIFY_SOCKET="), "{err}");
        }
    }

    #[test]
    fn a_datagram_reaches_an_abstract_socket() {
        let name = format!("taskmaster-unit-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("address");
        let listener = UnixDatagram::bind_addr(&addr).expect("bind");
        let socket = NotifySocket::open(format!("@{name}").as_bytes()).expect("open");
        socket.send("READY=1").expect("send");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn journal_stream_is_two_numbers() {
        assert_eq!(parse_dev_ino(b"8:1234\n"), Some((8, 1234)));
        assert_eq!(parse_dev_ino(b"8"), None);
        assert_eq!(parse_dev_ino(b"x:1"), None);
    }

    #[test]
    fn monotonic_time_moves_forward() {
        let a = monotonic_usec();
        assert!(a > 0);
        assert!(monotonic_usec() >= a);
    }
}
