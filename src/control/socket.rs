//! Where the control socket lives and who may own it (README: Configuration, Security).
//!
//! The default directory `/tmp/taskmaster-$UID` is shared ground: it is created
//! 0700 and refused if it exists with looser modes, another owner, or as a symlink.
//! At the socket path itself a symlink or a non-socket file is refused; a socket
//! nobody listens on is stale and replaced; a live one belongs to another
//! taskmaster, which is asked for its pid so the refusal can name it.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};

/// Connections the kernel queues before `accept()`.
const LISTEN_BACKLOG: i32 = 1024;

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("another taskmaster (pid {pid}) is already running on {path}")]
    InUse { path: PathBuf, pid: String },
    #[error("refusing {path}: {why}")]
    Unsafe { path: PathBuf, why: String },
    #[error("cannot create the control socket {path}: {why}")]
    Io { path: PathBuf, why: String },
}

/// The socket path: `--socket`, else the config's, else
/// `$XDG_RUNTIME_DIR/taskmaster.sock`, else `/tmp/taskmaster-$UID/taskmaster.sock`.
pub fn socket_path(explicit: Option<&Path>, configured: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit.or(configured) {
        return p.to_path_buf();
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() && Path::new(&dir).is_dir() => {
            Path::new(&dir).join("taskmaster.sock")
        }
        _ => default_dir().join("taskmaster.sock"),
    }
}

fn default_dir() -> PathBuf {
    PathBuf::from(format!("/tmp/taskmaster-{}", nix::unistd::geteuid()))
}

/// Creates (or checks) the private default directory.
fn ensure_private_dir(dir: &Path) -> Result<(), SocketError> {
    let unsafe_dir = |why: String| SocketError::Unsafe {
        path: dir.to_path_buf(),
        why,
    };
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| SocketError::Io {
                path: dir.to_path_buf(),
                why: e.to_string(),
            }),
        Err(e) => Err(unsafe_dir(e.to_string())),
        Ok(m) if !m.is_dir() => Err(unsafe_dir(
            "it is not a directory (a symlink or a file)".into(),
        )),
        Ok(m) if m.uid() != nix::unistd::geteuid().as_raw() => Err(unsafe_dir(format!(
            "it belongs to uid {}, not to us",
            m.uid()
        ))),
        Ok(m) if m.permissions().mode() & 0o077 != 0 => Err(unsafe_dir(format!(
            "its mode is {:04o}; it must be 0700 (chmod 700 {})",
            m.permissions().mode() & 0o7777,
            dir.display()
        ))),
        Ok(_) => Ok(()),
    }
}

/// Binds the control socket at `path` (mode 0600), replacing a stale one.
pub fn bind_control_socket(path: &Path) -> Result<UnixListener, SocketError> {
    let io = |why: String| SocketError::Io {
        path: path.to_path_buf(),
        why,
    };
    if path.parent() == Some(default_dir().as_path()) {
        ensure_private_dir(&default_dir())?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(SocketError::Unsafe {
                path: path.to_path_buf(),
                why: "it is a symlink".into(),
            })
        }
        Ok(m) if !m.file_type().is_socket() => {
            return Err(SocketError::Unsafe {
                path: path.to_path_buf(),
                why: "a file that is not a socket is in the way".into(),
            })
        }
        Ok(_) => match UnixStream::connect(path) {
            Ok(stream) => {
                return Err(SocketError::InUse {
                    path: path.to_path_buf(),
                    pid: ask_pid(stream).unwrap_or_else(|| "unknown".into()),
                })
            }
            // Nobody listens: a leftover of a taskmaster that died. Replace it.
            Err(_) => std::fs::remove_file(path)
                .map_err(|e| io(format!("cannot remove the stale socket: {e}")))?,
        },
        Err(_) => {}
    }
    let fd: OwnedFd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| io(e.desc().to_string()))?;
    let addr = UnixAddr::new(path).map_err(|e| {
        io(format!(
            "{} (a socket path must be under 108 bytes)",
            e.desc()
        ))
    })?;
    bind(fd.as_raw_fd(), &addr).map_err(|e| io(e.desc().to_string()))?;
    // Before listen(): nobody can connect while the mode is still the default.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io(e.to_string()))?;
    // A burst of clients waits in the backlog rather than being refused by the
    // kernel (std's bind would listen with 128); the kernel caps it at somaxconn.
    listen(
        &fd,
        Backlog::new(LISTEN_BACKLOG).unwrap_or(Backlog::MAXCONN),
    )
    .map_err(|e| io(e.desc().to_string()))?;
    Ok(UnixListener::from(fd))
}

/// Asks a live daemon for its pid (for the "already running" message).
fn ask_pid(stream: UnixStream) -> Option<String> {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let mut writer = stream.try_clone().ok()?;
    writer.write_all(b"{\"command\": \"pid\"}\n").ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    let reply: serde_json::Value = serde_json::from_str(&line).ok()?;
    reply["output"].as_str().map(str::to_string)
}

/// The uid of the peer of a connected socket.
pub fn peer_uid(stream: &UnixStream) -> Result<u32, Errno> {
    peer_credentials(stream).map(|(uid, _)| uid)
}

/// The uid and pid of the peer of a connected socket (pid 0 when unknown).
pub fn peer_credentials(stream: &UnixStream) -> Result<(u32, i32), Errno> {
    nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
        .map(|c| (c.uid(), c.pid()))
}
