//! A WebSocket over one of our connections, with tungstenite doing the framing.
//!
//! Two threads share the socket: the connection's own reads (a [`WsReader`]),
//! and a `web-write` thread that alone writes, taking messages from a bounded
//! queue (an [`Outbox`]). Whoever produces — the status, events and output
//! followers, the command replies — waits on that queue only: a browser that
//! reads slowly holds up its own followers, which then lose output or events
//! (and say so) rather than slowing a program or the hub. A browser that reads
//! nothing for [`super::http::WRITE_TIMEOUT`] is dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tungstenite::Message;

use super::http::{Request, Response, WRITE_TIMEOUT};

/// The largest message either way: an attach input frame (64 KiB and its head).
pub const MAX_MESSAGE: usize = 64 * 1024 + 16;
/// Messages queued for the browser before producers wait.
const OUTBOX: usize = 64;

enum Out {
    Text(String),
    Binary(Vec<u8>),
    Pong(Vec<u8>),
    Close,
}

/// Where the connection's messages to the browser are queued.
#[derive(Clone)]
pub struct Outbox(SyncSender<Out>);

impl Outbox {
    /// Queues a text message, waiting while the queue is full; false once the
    /// connection is gone.
    pub fn text(&self, text: String) -> bool {
        self.0.send(Out::Text(text)).is_ok()
    }

    pub fn binary(&self, data: Vec<u8>) -> bool {
        self.0.send(Out::Binary(data)).is_ok()
    }

    /// Asks the writer to close the WebSocket after what is queued.
    pub fn close(&self) {
        let _ = self.0.try_send(Out::Close);
    }
}

/// A message from the browser.
pub enum Incoming {
    Text(String),
    Binary(Vec<u8>),
}

/// The connection's reading side.
pub struct WsReader {
    socket: WebSocket<ReadHalf>,
    outbox: Outbox,
    stream: TcpStream,
}

impl WsReader {
    /// The next message; `None` once the browser closed or the connection failed.
    pub fn next(&mut self) -> Option<Incoming> {
        loop {
            match self.socket.read() {
                Ok(Message::Text(text)) => return Some(Incoming::Text(text.as_str().to_string())),
                Ok(Message::Binary(data)) => return Some(Incoming::Binary(data.to_vec())),
                Ok(Message::Ping(data)) => {
                    if let Err(TrySendError::Disconnected(_)) =
                        self.outbox.0.try_send(Out::Pong(data.to_vec()))
                    {
                        return None;
                    }
                }
                Ok(Message::Pong(_)) | Ok(Message::Frame(_)) => {}
                Ok(Message::Close(_)) | Err(_) => return None,
            }
        }
    }
}

impl Drop for WsReader {
    /// The browser is gone or done: the writer answers its close and ends; if the
    /// queue is full the socket is shut at once, which ends the writer too.
    fn drop(&mut self) {
        if self.outbox.0.try_send(Out::Close).is_err() {
            let _ = self.stream.shutdown(Shutdown::Both);
        }
    }
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// Answers the handshake of an authenticated, same-origin request and starts
/// the connection's writer; or says why not.
pub fn upgrade(stream: TcpStream, request: &Request) -> Result<(WsReader, Outbox), Response> {
    let has = |name: &str, word: &str| {
        request
            .header(name)
            .is_some_and(|v| v.split(',').any(|w| w.trim().eq_ignore_ascii_case(word)))
    };
    if !has("upgrade", "websocket") || !has("connection", "upgrade") {
        return Err(Response::text(426, "this address is a WebSocket").with("Upgrade", "websocket"));
    }
    if request.header("sec-websocket-version") != Some("13") {
        return Err(
            Response::text(400, "WebSocket version 13 only").with("Sec-WebSocket-Version", "13")
        );
    }
    let Some(key) = request.header("sec-websocket-key") else {
        return Err(Response::text(400, "no Sec-WebSocket-Key"));
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    let fail = |e: std::io::Error| Response::text(503, &format!("{e}"));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    stream.set_read_timeout(None).map_err(fail)?;
    let write_half = stream.try_clone().map_err(fail)?;
    let own = stream.try_clone().map_err(fail)?;
    (&stream).write_all(head.as_bytes()).map_err(fail)?;
    let (tx, rx) = sync_channel(OUTBOX);
    let writer = WebSocket::from_raw_socket(WriteHalf(write_half), Role::Server, Some(config()));
    super::spawn_small("web-write", move || write(writer, rx))
        .map_err(|e| Response::text(503, &e))?;
    let outbox = Outbox(tx);
    let socket = WebSocket::from_partially_read(
        ReadHalf(stream),
        request.leftover.clone(),
        Role::Server,
        Some(config()),
    );
    let reader = WsReader {
        socket,
        outbox: outbox.clone(),
        stream: own,
    };
    Ok((reader, outbox))
}

/// The `web-write` thread: sends what is queued until a close, a failed write
/// or every producer gone; then shuts the socket, which ends the reader.
fn write(mut socket: WebSocket<WriteHalf>, queue: Receiver<Out>) {
    for out in queue.iter() {
        let sent = match out {
            Out::Text(text) => socket.send(Message::text(text)),
            Out::Binary(data) => socket.send(Message::binary(data)),
            Out::Pong(data) => socket.send(Message::Pong(data.into())),
            Out::Close => {
                let _ = socket.close(None);
                let _ = socket.flush();
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = socket.get_ref().0.shutdown(Shutdown::Both);
}

/// The reading side's socket: its writes (tungstenite's own answers to a ping
/// or a close) are dropped — the writer thread alone writes, so two threads
/// never interleave frames; the reader hands pings and closes to it instead.
struct ReadHalf(TcpStream);

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for ReadHalf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The writing side's socket: never read from.
struct WriteHalf(TcpStream);

impl Read for WriteHalf {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
}

impl Write for WriteHalf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Output as binary messages: the attach session's `Write`.
pub struct OutboxWriter(pub Outbox);

impl Write for OutboxWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.binary(buf.to_vec()) {
            true => Ok(buf.len()),
            false => Err(std::io::ErrorKind::BrokenPipe.into()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
