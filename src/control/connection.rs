//! One control connection: read a request, run it, write its reply, until the
//! client closes, stays silent too long, or the reply turns the connection into a
//! stream (`tail -f`, `notices`, `attach`) or a held `shutdown`.
//!
//! A connection that has not sent a complete request within
//! `connection_idle_timeout` of opening (or of its last reply) is closed: a silent
//! client must not hold a thread and descriptors for ever. A stream is not idle:
//! once it has begun nothing is read with a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::warn;

use super::attach::AttachTarget;
use super::connections::Slot;
use super::continuation::{ShutdownAnswer, Sink, StreamMode};
use super::live_streams::{Cancel, LiveStreams, UPGRADE_NOTICE};
use super::protocol::{Request, MAX_REQUEST};
use super::server::reply_line;
use super::server::ShutdownWaiters;
use super::{execute_words, finish, Continuation, Hooks, Next, Reply, Source, Transport};
use crate::supervisor::Supervisor;

/// A client that does not read its reply for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection served on the accept thread has this long to send its request
/// and read its reply: a silent client must not keep others from connecting.
const INLINE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a connection is served.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// On a thread of its own, for as many requests as the client sends.
    Thread,
    /// On the accept thread, when no thread could be started: one request, no
    /// stream, short timeouts.
    Inline,
}

/// An admitted connection.
pub struct Connection {
    stream: UnixStream,
    source: Source,
    /// Its place among the open connections, freed when it ends.
    _slot: Slot,
    idle_timeout: Duration,
}

enum Line {
    Request(Vec<u8>),
    TooLong,
    End,
    /// No complete request before the deadline.
    Idle,
}

/// Reads one request line, bounded to [`MAX_REQUEST`], until `deadline`.
fn read_request(reader: &mut BufReader<UnixStream>, deadline: Instant) -> Line {
    let mut buf = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || reader.get_ref().set_read_timeout(Some(left)).is_err() {
            return Line::Idle;
        }
        let chunk = match reader.fill_buf() {
            // A last line without its newline (the client half-closed) still counts.
            Ok([]) if buf.is_empty() => return Line::End,
            Ok([]) => return Line::Request(buf),
            Ok(chunk) => chunk,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Line::Idle,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Line::Idle,
            Err(_) => return Line::End,
        };
        let room = MAX_REQUEST + 1 - buf.len();
        let take = match chunk.iter().take(room).position(|&b| b == b'\n') {
            Some(newline) => newline + 1,
            None => chunk.len().min(room),
        };
        buf.extend_from_slice(&chunk[..take]);
        reader.consume(take);
        if buf.ends_with(b"\n") {
            return Line::Request(buf);
        }
        if buf.len() > MAX_REQUEST {
            return Line::TooLong;
        }
    }
}

impl Connection {
    pub fn new(stream: UnixStream, source: Source, slot: Slot, idle_timeout: Duration) -> Self {
        Connection {
            stream,
            source,
            _slot: slot,
            idle_timeout,
        }
    }

    pub fn serve(self, sup: &Arc<Supervisor>, hooks: &Hooks, mode: Mode) {
        let (stream, source) = (&self.stream, &self.source);
        let (write_timeout, idle) = match mode {
            Mode::Thread => (WRITE_TIMEOUT, self.idle_timeout),
            Mode::Inline => (INLINE_TIMEOUT, self.idle_timeout.min(INLINE_TIMEOUT)),
        };
        let _ = stream.set_write_timeout(Some(write_timeout));
        let Ok(read_half) = stream.try_clone() else {
            return;
        };
        // Some until a stream takes it.
        let mut reader = Some(BufReader::new(read_half));
        let mut writer = stream;
        // Blank lines do not put the deadline off; a reply does.
        let mut deadline = Instant::now() + idle;
        loop {
            let Some(open) = reader.as_mut() else {
                return;
            };
            let raw = match read_request(open, deadline) {
                Line::End => return,
                Line::Idle => return hooks.connections.idle_closed(),
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
                        || mode == Mode::Inline
                    {
                        return;
                    }
                    deadline = Instant::now() + idle;
                    continue;
                }
            };
            let reply = execute_words(
                sup,
                &hooks.connections,
                &request.command,
                &request.args,
                source,
            );
            let mut transport = SocketTransport {
                stream,
                reader: &mut reader,
                source,
                mode,
                waiters: &hooks.shutdown_waiters,
                streams: &hooks.live_streams,
            };
            if finish(hooks, reply, &mut transport) == Next::End || mode == Mode::Inline {
                return;
            }
            deadline = Instant::now() + idle;
        }
    }
}

/// A connection as a transport: replies are JSON lines; a stream's bytes go
/// down the connection raw, and the client ends a stream by closing it.
struct SocketTransport<'a> {
    stream: &'a UnixStream,
    /// Taken by a stream, which reads only to see the client close.
    reader: &'a mut Option<BufReader<UnixStream>>,
    source: &'a Source,
    mode: Mode,
    waiters: &'a ShutdownWaiters,
    /// Where a stream registers, for an upgrade in place to end it.
    streams: &'a LiveStreams,
}

impl SocketTransport<'_> {
    /// The reader for a stream, with no deadline from now on: a stream is not idle.
    fn take_reader(&mut self) -> Option<BufReader<UnixStream>> {
        let _ = self.stream.set_read_timeout(None);
        self.reader.take()
    }
}

impl Transport for SocketTransport<'_> {
    fn source(&self) -> &Source {
        self.source
    }

    fn answer(&mut self, reply: &Reply) -> bool {
        let mut writer = self.stream;
        let line = reply_line(reply);
        let sent = writer.write_all(line.as_bytes()).is_ok();
        if line.len() > crate::sys::malloc::LARGE_REPLY {
            drop(line);
            crate::sys::malloc::give_back_free_memory();
        }
        sent
    }

    fn shutdown_answer(&mut self) -> ShutdownAnswer {
        // Answered when the shutdown has finished (or at once if too many wait,
        // or it already has). Held before the shutdown is asked for: a quick one
        // could otherwise be answered before this connection is among those
        // waiting, and never be answered at all.
        let held = match self.stream.try_clone() {
            Ok(s) => self.waiters.wait(s).is_ok(),
            Err(_) => false,
        };
        if held {
            ShutdownAnswer::OnceFinished
        } else {
            ShutdownAnswer::OnceBegun
        }
    }

    fn shutdown_cause(&self) -> &'static str {
        "shutdown"
    }

    fn stream_mode(&self, _then: &Continuation) -> StreamMode {
        match self.mode {
            Mode::Thread => StreamMode::Run,
            Mode::Inline => StreamMode::Refused(Reply::error(
                "ERROR (no thread could be started for this connection (thread \
                 limit reached? see ulimit -u): tail -f, attach, notices and events are \
                 not available now)",
            )),
        }
    }

    fn stream(&mut self, cancel: Box<dyn FnOnce() + Send>, copy: &mut dyn FnMut(Sink)) -> Next {
        if let Some(reader) = self.take_reader() {
            // Ended by whichever comes first: the client closing, or an upgrade.
            let cancel = Arc::new(parking_lot::Mutex::new(Some(cancel)));
            let fire = |cancel: &Arc<parking_lot::Mutex<Option<Cancel>>>| {
                let cancel = cancel.clone();
                move || {
                    if let Some(cancel) = cancel.lock().take() {
                        cancel()
                    }
                }
            };
            on_client_close(reader, fire(&cancel));
            let id = self.streams.join(Box::new(fire(&cancel)));
            let mut writer = self.stream;
            copy(&mut |data| writer.write_all(data));
            if self.streams.upgrading() {
                let _ = writer.write_all(format!("{UPGRADE_NOTICE}\n").as_bytes());
            }
            self.streams.leave(id);
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        Next::End
    }

    fn keep_for_reply(&self) -> Option<std::os::fd::OwnedFd> {
        self.stream.try_clone().ok().map(std::os::fd::OwnedFd::from)
    }

    fn attach(&mut self, target: AttachTarget) -> Next {
        if let Some(reader) = self.take_reader() {
            super::attach::serve(target, reader, self.stream, self.streams);
        }
        Next::End
    }
}

/// Runs `then` once the client has closed its side of a streaming connection
/// (anything it still sends meanwhile is ignored).
fn on_client_close(mut reader: BufReader<UnixStream>, then: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new()
        .name("control-eof".into())
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(move || {
            let mut sink = [0u8; 512];
            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            then();
        });
}
