//! HTTP/1.1 on the wire, as our two small servers speak it (`/metrics` and the web
//! dashboard): one request per connection, read within bounds on its head, its
//! body and the time it takes; one answer, written within a deadline. httparse
//! reads the head; the sockets, threads and limits are ours.
//!
//! Neutral: it knows neither server. Each says its limits ([`Limits`]) and what
//! to do with a client that sent nothing ([`ReadError::Silent`]).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const MAX_HEADERS: usize = 64;
/// Bytes read from the socket at a time.
const CHUNK: usize = 4096;

/// The bounds of one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest request head (request line and headers); `431` past it.
    pub max_head: usize,
    /// The longest body (`413` past it); `None`: the server takes no body and
    /// reads none (`Content-Length` and `Transfer-Encoding` are not looked at).
    pub max_body: Option<usize>,
    /// Time to send the whole request, head and body: a deadline, not a timeout
    /// per read, so a client sending a byte at a time holds nothing longer.
    pub request_time: Duration,
}

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

/// Why no request could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The client closed or reset the connection before sending anything, or
    /// reset it during the request: nobody to answer.
    Gone,
    /// The deadline passed before the client sent a single byte (each server
    /// says whether that deserves an answer).
    Silent,
    /// A bad request: to be answered with this status (400, 408, 411, 413, 431)
    /// and this text.
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

/// Reads one request from `stream` within `limits`.
pub fn read_request(stream: &mut TcpStream, limits: &Limits) -> Result<Request, ReadError> {
    let deadline = Instant::now() + limits.request_time;
    let mut buf = Vec::with_capacity(2048.min(limits.max_head));
    let mut chunk = [0u8; CHUNK];
    let (head_len, mut request) = loop {
        if buf.len() >= limits.max_head {
            let max = limits.max_head;
            return Err(answer(431, &format!("request head over {max} bytes")));
        }
        let room = (limits.max_head - buf.len()).min(CHUNK);
        match read_some(stream, &mut chunk[..room], deadline) {
            Ok(0) if buf.is_empty() => return Err(ReadError::Gone),
            Ok(0) => return Err(answer(400, "request cut short")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if !timed_out(&e) => return Err(ReadError::Gone),
            Err(_) if buf.is_empty() => return Err(ReadError::Silent),
            Err(_) => return Err(answer(408, "request not sent in time")),
        }
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
    };
    let mut rest = buf.split_off(head_len);
    let Some(max_body) = limits.max_body else {
        request.leftover = rest;
        return Ok(request);
    };
    if request.header("transfer-encoding").is_some() {
        return Err(answer(411, "send a Content-Length, not a chunked body"));
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if n <= max_body => n,
            Ok(_) => return Err(answer(413, &format!("body over {max_body} bytes"))),
            Err(_) => return Err(answer(400, "bad Content-Length")),
        },
    };
    if length == 0 {
        request.leftover = rest;
        return Ok(request);
    }
    rest.truncate(length);
    while rest.len() < length {
        let want = (length - rest.len()).min(CHUNK);
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

/// Whether a read failed because its time was up (rather than the connection).
fn timed_out(error: &std::io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// One read, given what is left until `deadline`.
fn read_some(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> std::io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
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

/// A whole answer that closes the connection: status line, `Content-Type`,
/// `Content-Length`, `Connection: close`, then `headers`, then the body.
pub fn response(status: u16, content_type: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = Vec::with_capacity(head.len() + body.len());
    bytes.extend_from_slice(head.as_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// Writes all of `bytes` before `deadline`, or gives up: a client that reads
/// slowly holds the connection no longer than that, however it trickles.
pub fn write_by(
    stream: &mut TcpStream,
    mut bytes: &[u8],
    deadline: Instant,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// After the answer, what the client still sends is read (so that closing with
/// unread bytes does not reset the connection before the client read the
/// answer), until it closes, `max_bytes` or `deadline`.
pub fn drain(stream: &mut TcpStream, max_bytes: usize, deadline: Instant) {
    let mut buf = [0u8; CHUNK];
    let mut read = 0;
    while read < max_bytes {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return;
        };
        if stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => read += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The reason phrase of every status our servers send.
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
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
#[path = "http_wire_tests.rs"]
mod tests;
