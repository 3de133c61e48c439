//! The control socket server (README: Socket protocol, Security).
//!
//! Newline-delimited JSON: a `protocol::Request` line in, a `protocol::Response`
//! line out (README, "Socket protocol"). One thread per connection (`connection.rs`), so a slow or stalled client
//! only ever blocks itself; requests are bounded to 64 KiB and a malformed one gets
//! an error reply and changes nothing. `tail -f` answers one reply line, then the
//! connection carries the raw output until the client closes it.
//!
//! The accept thread admits a connection only within the bounds of
//! `connections.rs` (a cap, and descriptors kept for the programs); when no thread
//! can be started for it, it serves that connection's one request itself, so the
//! daemon stays controllable at the thread limit.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use log::{info, warn};

use super::connection::{Connection, Mode};
use super::protocol::Response;
use super::{Hooks, Reply, Source};
use crate::supervisor::Supervisor;

pub use super::protocol::MAX_REQUEST;
/// Connection threads format whole status tables: a little more stack than a watcher.
const CONNECTION_STACK: usize = 256 * 1024;

/// The wire form of a reply.
pub fn response(reply: &Reply) -> Response {
    Response {
        data: reply.data.clone(),
        exit: reply.exit,
        ok: reply.exit == 0,
        output: reply.output.clone(),
        // Raw output follows this line until either side closes.
        stream: reply.then.streams(),
    }
}

/// The JSON line for a reply.
pub fn reply_line(reply: &Reply) -> String {
    response(reply).line()
}

/// Connections whose `shutdown` is answered once the daemon has finished — its
/// last act, after every instance stopped and the socket file was removed — so a
/// client that got its reply can start a new daemon at once. The connection stays
/// open until then.
#[derive(Default)]
pub struct ShutdownWaiters(parking_lot::Mutex<Waiting>);

#[derive(Default)]
struct Waiting {
    streams: Vec<UnixStream>,
    /// `answer` has run: a connection that comes later is answered at once.
    answered: bool,
}

/// Waiting `shutdown` connections held at most; more are answered at once.
const MAX_SHUTDOWN_WAITERS: usize = 64;

impl ShutdownWaiters {
    /// Holds `stream` until [`answer`](Self::answer); gives it back when full.
    pub(super) fn wait(&self, stream: UnixStream) -> Result<(), UnixStream> {
        let mut waiting = self.0.lock();
        if waiting.answered || waiting.streams.len() >= MAX_SHUTDOWN_WAITERS {
            return Err(stream);
        }
        waiting.streams.push(stream);
        Ok(())
    }

    /// Writes `reply` to every waiting connection and closes it; a client that
    /// does not read is given a second, not more.
    pub fn answer(&self, reply: &Reply) {
        let line = reply_line(reply);
        let streams = {
            let mut waiting = self.0.lock();
            waiting.answered = true;
            std::mem::take(&mut waiting.streams)
        };
        for stream in streams {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = (&stream).write_all(line.as_bytes());
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// A running server: stop it to move the socket elsewhere (reload).
pub struct ServerHandle {
    pub path: PathBuf,
    stopped: Arc<AtomicBool>,
    listener: OwnedFd,
}

impl ServerHandle {
    /// The listening socket (kept open across an upgrade in place).
    pub fn listener(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// Stops accepting (connections already open finish normally) and removes the
    /// socket file.
    pub fn stop(self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept() of the server thread with an error.
        let _ =
            nix::sys::socket::shutdown(self.listener.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Starts the accept thread on `listener`, bound at `path`.
pub fn start(
    listener: UnixListener,
    path: PathBuf,
    sup: Arc<Supervisor>,
    hooks: Arc<Hooks>,
) -> Result<ServerHandle, String> {
    let fd = listener
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("control socket: {e}"))?;
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = stopped.clone();
    std::thread::Builder::new()
        .name("control-socket".into())
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(move || serve(listener, sup, hooks, flag))
        .map_err(|e| format!("cannot start the control socket thread: {e}"))?;
    Ok(ServerHandle {
        path,
        stopped,
        listener: fd,
    })
}

/// Accepts connections until stopped; each admitted one gets its thread, or, when
/// no thread can be started (RLIMIT_NPROC), one request served right here.
fn serve(
    listener: UnixListener,
    sup: Arc<Supervisor>,
    hooks: Arc<Hooks>,
    stopped: Arc<AtomicBool>,
) {
    let me = nix::unistd::geteuid().as_raw();
    // Connections served inline since threads stopped starting (`Some` meanwhile).
    let mut inline_since: Option<u64> = None;
    for conn in listener.incoming() {
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        let stream = match conn {
            Ok(s) => {
                hooks.connections.accept_worked();
                s
            }
            // EMFILE and friends: the client waits in the backlog, the others keep
            // being served. A short pause keeps a persistent EMFILE from spinning.
            Err(e) => {
                hooks.connections.accept_failed(&e);
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let peer = super::socket::peer_credentials(&stream);
        // An upgrade in place stops accepting here (`live_streams`).
        if hooks
            .live_streams
            .hold_accepting(peer.as_ref().ok().map(|&(_, pid)| pid))
        {
            continue;
        }
        let source = match peer {
            Ok((uid, pid)) if uid == me || uid == 0 => Source::socket_client(uid, pid),
            Ok((uid, _)) => {
                warn!("control client error: connection from uid {uid} refused");
                refuse(
                    &stream,
                    "ERROR (permission denied: not the owner of this taskmaster)",
                );
                continue;
            }
            Err(e) => {
                warn!(
                    "control client error: cannot read peer credentials: {}",
                    e.desc()
                );
                continue;
            }
        };
        let slot = match hooks.connections.admit(&sup) {
            Ok(slot) => slot,
            Err(why) => {
                refuse(&stream, &why);
                continue;
            }
        };
        let idle = sup.config().daemon.connection_idle_timeout;
        let conn = Connection::new(stream, source, slot, idle);
        // The connection goes back to this thread if its own cannot start.
        let handed = Arc::new(parking_lot::Mutex::new(Some(conn)));
        let (theirs, sup2, hooks2) = (handed.clone(), sup.clone(), hooks.clone());
        let spawned = connection_thread_failpoint().and_then(|()| {
            std::thread::Builder::new()
                .name("control".into())
                .stack_size(CONNECTION_STACK)
                .spawn(move || {
                    if let Some(conn) = theirs.lock().take() {
                        conn.serve(&sup2, &hooks2, Mode::Thread);
                    }
                })
        });
        match spawned {
            Ok(_) => {
                if let Some(count) = inline_since.take() {
                    info!(
                        "control socket: connection threads start again \
                         ({count} connections served inline meanwhile)"
                    );
                }
            }
            Err(e) => {
                let Some(conn) = handed.lock().take() else {
                    continue;
                };
                match inline_since.as_mut() {
                    Some(count) => *count += 1,
                    None => {
                        warn!(
                            "control socket: cannot start a connection thread: {e} (thread \
                             limit reached? see ulimit -u); serving one request per connection \
                             on the accept thread until threads start again"
                        );
                        inline_since = Some(1);
                    }
                }
                hooks.connections.served_inline();
                conn.serve(&sup, &hooks, Mode::Inline);
            }
        }
    }
}

/// Answers a refused connection with one error line and closes it. A fresh
/// connection's buffer is empty: the write does not wait, but is bounded anyway.
fn refuse(stream: &UnixStream, why: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let mut s = stream;
    let _ = s.write_all(reply_line(&Reply::error(why)).as_bytes());
}

/// Debug builds: `TASKMASTER_TEST_NO_CONNECTION_THREAD=1` makes every connection
/// thread fail to start, as at RLIMIT_NPROC (which does not bind root, who runs CI).
fn connection_thread_failpoint() -> std::io::Result<()> {
    #[cfg(debug_assertions)]
    if std::env::var_os("TASKMASTER_TEST_NO_CONNECTION_THREAD").is_some_and(|v| v == "1") {
        return Err(std::io::Error::other(
            "test failpoint: no connection thread",
        ));
    }
    Ok(())
}
