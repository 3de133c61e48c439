//! The control socket server (SPEC §6 "Socket protocol", §10).
//!
//! Newline-delimited JSON: `{"command": "status", "args": ["--json"]}` in,
//! `{"ok": true, "output": "...", "exit": 0}` (plus `"data"` for `status --json`)
//! out. One thread per connection, so a slow or stalled client only ever blocks
//! itself; requests are bounded to 64 KiB and a malformed one gets an error reply
//! and changes nothing. `tail -f` answers one reply line, then the connection
//! carries the raw output until the client closes it.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use log::warn;
use serde::Deserialize;

use super::{execute_words, Hooks, Reply, Source};
use crate::supervisor::Supervisor;

/// Requests longer than this are refused (SPEC §6).
pub const MAX_REQUEST: usize = 64 * 1024;
/// A client that does not read its reply for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connection threads format whole status tables: a little more stack than a watcher.
const CONNECTION_STACK: usize = 256 * 1024;

#[derive(Deserialize)]
struct Request {
    command: String,
    #[serde(default)]
    args: Vec<String>,
}

/// The JSON line for a reply.
pub fn reply_line(reply: &Reply) -> String {
    let mut obj = serde_json::json!({
        "ok": reply.exit == 0,
        "output": reply.output,
        "exit": reply.exit,
    });
    if let Some(map) = obj.as_object_mut() {
        if let Some(data) = &reply.data {
            map.insert("data".into(), data.clone());
        }
        if reply.follow.is_some() || reply.attach.is_some() || reply.notices {
            // Raw output follows this line until either side closes.
            map.insert("stream".into(), serde_json::Value::Bool(true));
        }
    }
    let mut line = obj.to_string();
    line.push('\n');
    line
}

/// Connections whose `shutdown` is answered once the daemon has finished — its
/// last act, after every instance stopped and the socket file was removed — so a
/// client that got its reply can start a new daemon at once. The connection stays
/// open until then.
#[derive(Default)]
pub struct ShutdownWaiters(parking_lot::Mutex<Vec<UnixStream>>);

/// Waiting `shutdown` connections held at most; more are answered at once.
const MAX_SHUTDOWN_WAITERS: usize = 64;

impl ShutdownWaiters {
    /// Holds `stream` until [`answer`](Self::answer); gives it back when full.
    fn wait(&self, stream: UnixStream) -> Result<(), UnixStream> {
        let mut waiting = self.0.lock();
        if waiting.len() >= MAX_SHUTDOWN_WAITERS {
            return Err(stream);
        }
        waiting.push(stream);
        Ok(())
    }

    /// Writes `reply` to every waiting connection and closes it; a client that
    /// does not read is given a second, not more.
    pub fn answer(&self, reply: &Reply) {
        let line = reply_line(reply);
        for stream in self.0.lock().drain(..) {
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
        .stack_size(crate::sys::THREAD_STACK)
        .spawn(move || serve(listener, sup, hooks, flag))
        .map_err(|e| format!("cannot start the control socket thread: {e}"))?;
    Ok(ServerHandle {
        path,
        stopped,
        listener: fd,
    })
}

/// Accepts connections until stopped; each gets its thread.
fn serve(
    listener: UnixListener,
    sup: Arc<Supervisor>,
    hooks: Arc<Hooks>,
    stopped: Arc<AtomicBool>,
) {
    let me = nix::unistd::geteuid().as_raw();
    for conn in listener.incoming() {
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        let stream = match conn {
            Ok(s) => s,
            // EMFILE and friends: this client is refused, the others keep being
            // served. A short pause keeps a persistent EMFILE from spinning.
            Err(e) => {
                warn!("control socket: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let source = match super::socket::peer_credentials(&stream) {
            Ok((uid, pid)) if uid == me || uid == 0 => Source::socket_client(uid, pid),
            Ok((uid, _)) => {
                warn!("control client error: connection from uid {uid} refused");
                let mut s = &stream;
                let _ = s.write_all(
                    reply_line(&Reply::error(
                        "ERROR (permission denied: not the owner of this taskmaster)",
                    ))
                    .as_bytes(),
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
        let (sup, hooks) = (sup.clone(), hooks.clone());
        let spawned = std::thread::Builder::new()
            .name("control".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || serve_connection(stream, &sup, &hooks, &source));
        if let Err(e) = spawned {
            warn!("control socket: cannot start a connection thread: {e}");
        }
    }
}

enum Line {
    Request(Vec<u8>),
    TooLong,
    End,
}

fn read_request(reader: &mut BufReader<UnixStream>) -> Line {
    let mut buf = Vec::new();
    match reader
        .by_ref()
        .take(MAX_REQUEST as u64 + 1)
        .read_until(b'\n', &mut buf)
    {
        Ok(0) | Err(_) => Line::End,
        Ok(_) if buf.len() > MAX_REQUEST && !buf.ends_with(b"\n") => Line::TooLong,
        // A last line without its newline (the client half-closed) still counts.
        Ok(_) => Line::Request(buf),
    }
}

fn serve_connection(stream: UnixStream, sup: &Arc<Supervisor>, hooks: &Hooks, source: &Source) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = &stream;
    loop {
        let raw = match read_request(&mut reader) {
            Line::End => return,
            Line::TooLong => {
                warn!("control client error: request over {MAX_REQUEST} bytes");
                let why = format!("request too long (over {MAX_REQUEST} bytes)");
                let _ = writer.write_all(reply_line(&Reply::usage(why)).as_bytes());
                return;
            }
            Line::Request(raw) => raw,
        };
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // serde would also read a struct from a JSON array: only objects are requests.
        let parsed = match raw.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => serde_json::from_slice::<Request>(&raw),
            _ => serde_json::from_str::<Request>("not an object"),
        };
        let request: Request = match parsed {
            Ok(r) => r,
            Err(e) => {
                warn!("control client error: malformed request: {e}");
                let why = format!(
                    "malformed request: {e}; expected {{\"command\": \"...\", \"args\": [...]}}"
                );
                if writer
                    .write_all(reply_line(&Reply::usage(why)).as_bytes())
                    .is_err()
                {
                    return;
                }
                continue;
            }
        };
        let mut reply = execute_words(sup, &request.command, &request.args, source);
        if reply.reload {
            reply = (hooks.reload)();
        }
        if reply.reopen {
            reply = (hooks.reopen)();
        }
        // Subscribed before the reply goes out: once the client has its reply, no
        // notice can slip past it.
        if reply.shutdown {
            (hooks.shutdown)(source.clone(), "shutdown");
            // Answered when the shutdown has finished (or at once if too many wait).
            let held = match stream.try_clone() {
                Ok(s) => hooks.shutdown_waiters.wait(s).is_ok(),
                Err(_) => false,
            };
            if !held {
                let _ = writer.write_all(reply_line(&reply).as_bytes());
            }
            return;
        }
        let notices = reply.notices.then(|| {
            let (tx, rx) = std::sync::mpsc::channel::<String>();
            crate::eventlog::subscribe_notices(tx.clone());
            (tx, rx)
        });
        if writer.write_all(reply_line(&reply).as_bytes()).is_err() {
            return;
        }
        if let Some((tx, rx)) = notices {
            stream_notices(reader, &stream, tx, rx);
            return;
        }
        if let Some(target) = reply.attach.take() {
            super::attach::serve(target, reader, &stream);
            return;
        }
        if let Some(mut follow) = reply.follow.take() {
            // The client ends a follow by closing the connection.
            let cancel = follow.canceller();
            on_client_close(reader, move || cancel.cancel());
            follow.run(|data| writer.write_all(data));
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

/// Runs `then` once the client has closed its side of a streaming connection
/// (anything it still sends meanwhile is ignored).
fn on_client_close(mut reader: BufReader<UnixStream>, then: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new()
        .name("control-eof".into())
        .stack_size(crate::sys::THREAD_STACK)
        .spawn(move || {
            let mut sink = [0u8; 512];
            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            then();
        });
}

/// `notices`: one line per event notice until the client closes the connection.
fn stream_notices(
    reader: BufReader<UnixStream>,
    stream: &UnixStream,
    tx: std::sync::mpsc::Sender<String>,
    rx: std::sync::mpsc::Receiver<String>,
) {
    // The client ends the stream by closing: a NUL line tells the loop below.
    on_client_close(reader, move || {
        let _ = tx.send("\0".to_string());
    });
    let mut writer = stream;
    for notice in rx {
        if notice == "\0" || writer.write_all(format!("{notice}\n").as_bytes()).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
