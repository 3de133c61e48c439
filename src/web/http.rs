//! HTTP/1.1 as the dashboard speaks it: one request per connection, read with
//! bounds on its head, its body and the time it takes; one response, then the
//! connection is closed (or turned into a WebSocket). httparse reads the head;
//! everything else — sockets, threads, limits — is ours.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The longest request head (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// The longest body: a request line of the socket protocol.
pub const MAX_BODY: usize = crate::control::protocol::MAX_REQUEST;
/// Time allowed to send a whole request: a silent client holds a slot no longer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that does not read its response for this long is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_HEADERS: usize = 64;

/// A request as read.
pub struct Request {
    pub method: String,
    /// The path without its query.
    pub path: String,
    pub query: String,
    /// Names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bytes read past the head of a request with no body (a WebSocket's first
    /// frames, should a client send them at once).
    pub leftover: Vec<u8>,
}

/// Why no request could be read; each is answered with its status, if at all.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed, or timed out before sending anything: no answer.
    Gone,
    /// 408, 413, 431, 400, 411, 501: answered with this status and text.
    Answer(u16, String),
}

impl Request {
    /// The first value of a header, by its lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter's value, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then(|| percent_decode(value))
        })
    }
}

/// Reads one request from `stream` within [`REQUEST_TIMEOUT`].
pub fn read_request(stream: &mut TcpStream) -> Result<Request, ReadError> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let (head_len, mut request) = loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => break (len, owned(&parsed)),
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return Err(answer(431, "too many headers"));
            }
            Err(e) => return Err(answer(400, &format!("malformed request: {e}"))),
        }
        if buf.len() >= MAX_HEAD {
            return Err(answer(431, &format!("request head over {MAX_HEAD} bytes")));
        }
        let room = (MAX_HEAD - buf.len()).min(chunk.len());
        match read_some(stream, &mut chunk[..room], deadline) {
            Ok(0) if buf.is_empty() => return Err(ReadError::Gone),
            Ok(0) => return Err(answer(400, "request cut short")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) if buf.is_empty() => return Err(ReadError::Gone),
            Err(_) => return Err(answer(408, "request not sent in time")),
        }
    };
    if request.header("transfer-encoding").is_some() {
        return Err(answer(411, "send a Content-Length, not a chunked body"));
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if n <= MAX_BODY => n,
            Ok(_) => return Err(answer(413, &format!("body over {MAX_BODY} bytes"))),
            Err(_) => return Err(answer(400, "bad Content-Length")),
        },
    };
    let mut rest = buf.split_off(head_len);
    if length == 0 {
        request.leftover = rest;
        return Ok(request);
    }
    rest.truncate(length);
    while rest.len() < length {
        let want = (length - rest.len()).min(chunk.len());
        match read_some(stream, &mut chunk[..want], deadline) {
            Ok(0) | Err(_) => return Err(answer(408, "body not sent in time")),
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
        }
    }
    request.body = rest;
    Ok(request)
}

fn answer(status: u16, text: &str) -> ReadError {
    ReadError::Answer(status, text.to_string())
}

fn read_some(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> std::io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn owned(parsed: &httparse::Request) -> Request {
    let target = parsed.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Request {
        method: parsed.method.unwrap_or("").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers: (parsed.headers.iter())
            .map(|h| {
                let value = String::from_utf8_lossy(h.value).trim().to_string();
                (h.name.to_ascii_lowercase(), value)
            })
            .collect(),
        body: Vec::new(),
        leftover: Vec::new(),
    }
}

/// `%XX` and `+` decoded; a malformed escape is kept as it is.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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

    /// Writes it, with the headers every answer carries, and the connection ends.
    pub fn send(&self, stream: &mut TcpStream) {
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        let own = self.headers.iter().map(|(n, v)| (*n, v.as_str()));
        for (name, value) in SECURITY_HEADERS.iter().copied().chain(own) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&self.body);
        let _ = stream.flush();
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

pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}
