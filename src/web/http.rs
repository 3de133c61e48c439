//! HTTP/1.1 as the dashboard speaks it: one request per connection, read by
//! [`crate::http_wire`] with the dashboard's bounds on its head, its body and the
//! time it takes; one response, then the connection is closed (or turned into a
//! WebSocket). Here: those bounds, and the headers every answer carries.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::http_wire::{self, Limits};

pub use crate::http_wire::{percent_decode, Request};

/// The longest request head (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// The longest body: a request line of the socket protocol.
pub const MAX_BODY: usize = crate::control::protocol::MAX_REQUEST;
/// Time allowed to send a whole request: a silent client holds a slot no longer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to take a whole answer: one that reads slowly, or not at
/// all, is dropped then.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

const LIMITS: Limits = Limits {
    max_head: MAX_HEAD,
    max_body: Some(MAX_BODY),
    request_time: REQUEST_TIMEOUT,
};

/// Why no request could be read; each is answered with its status, if at all.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed, or timed out before sending anything: no answer (a
    /// browser opens connections ahead of need and may leave them silent).
    Gone,
    /// 408, 413, 431, 400, 411: answered with this status and text.
    Answer(u16, String),
}

/// Reads one request from `stream` within the dashboard's bounds.
pub fn read_request(stream: &mut TcpStream) -> Result<Request, ReadError> {
    http_wire::read_request(stream, &LIMITS).map_err(|e| match e {
        http_wire::ReadError::Gone | http_wire::ReadError::Silent => ReadError::Gone,
        http_wire::ReadError::Answer(status, text) => ReadError::Answer(status, text),
    })
}

/// A response: status, headers of its own, body.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A plain-text answer, a line.
    pub fn text(status: u16, text: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", format!("{text}\n"))
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes it, with the headers every answer carries, within
    /// [`WRITE_TIMEOUT`]; the connection then ends.
    pub fn send(&self, stream: &mut TcpStream) {
        self.send_within(stream, WRITE_TIMEOUT);
    }

    /// The same within `time`: the accept thread's own refusals, which must not
    /// hold up the next connection.
    pub fn send_within(&self, stream: &mut TcpStream, time: Duration) {
        let own = self.headers.iter().map(|(n, v)| (*n, v.as_str()));
        let headers: Vec<(&str, &str)> = SECURITY_HEADERS.iter().copied().chain(own).collect();
        let bytes = http_wire::response(self.status, self.content_type, &headers, &self.body);
        let _ = http_wire::write_by(stream, &bytes, Instant::now() + time);
    }
}

/// Every answer: never cached (it may hold state or the page's token-bearing
/// URL), never framed by another site, never sniffed into another type, and the
/// page runs only its own scripts and talks only to this server.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
];
