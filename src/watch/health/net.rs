//! `tcp` and `http` health checks, every step bounded by the check's deadline:
//! the connect, writing the request, each read (`nonblocking.rs`).
//!
//! HTTP is one `GET` decided by its status line (within the first
//! [`RESPONSE_HEAD_MAX`] bytes): HTTP/1.1 with `Connection: close`; 200–399
//! passes. The rest of the answer is read (bounded) before the connection is
//! closed, so the server never has its answer reset. Written here rather than taken from a client crate:
//! the well-kept sync one (ureq 3) starts a thread per request to resolve the
//! host whenever a timeout is set — a thread made and dropped per check, and a
//! panic of the checker when none can be made — and a check needs nothing of a
//! client but the status line. A name is resolved on this checker thread, never
//! the watcher's.

use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::nonblocking;
use crate::config::HttpTarget;

/// The most of a response read before its status line must have come.
pub(super) const RESPONSE_HEAD_MAX: usize = 8 * 1024;
/// The most of a response read in all (the rest is left unread).
pub(super) const RESPONSE_MAX: usize = 64 * 1024;

/// A connection to `host:port` (each of its addresses in turn) by `deadline`.
pub(super) fn tcp_connect(
    host: &str,
    port: u16,
    deadline: Instant,
    timeout: Duration,
) -> Result<TcpStream, String> {
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} has no address");
    for address in addresses {
        time_left(deadline, timeout)?;
        match nonblocking::connect(&address, deadline) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = describe(&e, timeout),
        }
    }
    Err(last)
}

/// `GET` the target; a status from 200 to 399 passes.
pub(super) fn http_get(
    target: &HttpTarget,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), String> {
    let fail = |why: String| format!("GET {}: {why}", target.url);
    let mut stream = tcp_connect(&target.host, target.port, deadline, timeout).map_err(fail)?;
    let request = request(target);
    nonblocking::write_all(&mut stream, request.as_bytes(), deadline)
        .map_err(|e| fail(describe(&e, timeout)))?;
    let head = read_status_line(&mut stream, deadline, timeout).map_err(fail)?;
    let (code, reason) = parse_status_line(&head).ok_or_else(|| {
        let shown = crate::output::printable::last_line(&head, 80);
        fail(format!("not an HTTP response ({shown:?})"))
    })?;
    read_the_rest(&mut stream, head, deadline);
    match code {
        200..=399 => Ok(()),
        _ => Err(fail(format!("HTTP {code} {reason}").trim_end().to_string())),
    }
}

/// The check's `GET` request.
pub(super) fn request(target: &HttpTarget) -> String {
    let host = match target.host.contains(':') {
        true => format!("[{}]", target.host),
        false => target.host.clone(),
    };
    let host = match target.port {
        80 => host,
        port => format!("{host}:{port}"),
    };
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: taskmaster-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path
    )
}

/// Reads until the first line of the response is complete (bounded).
fn read_status_line(
    stream: &mut TcpStream,
    deadline: Instant,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.contains(&b'\n') {
        if head.len() >= RESPONSE_HEAD_MAX {
            return Err(format!(
                "no status line in the first {RESPONSE_HEAD_MAX} bytes"
            ));
        }
        time_left(deadline, timeout)?;
        // Nothing can have come before the first read: poll first.
        let n = nonblocking::read(stream, &mut buf, deadline, head.is_empty())
            .map_err(|e| describe(&e, timeout))?;
        if n == 0 {
            return match head.is_empty() {
                true => Err("the connection was closed without a response".to_string()),
                false => Ok(head),
            };
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

/// Reads what is left of the response — until its length is in, or the server
/// closes — at most [`RESPONSE_MAX`] bytes in all and not past the deadline (the
/// status line decided already). Closing with bytes unread would reset the
/// connection, and the server would fail writing the rest of its answer (and
/// perhaps log an error for every check).
fn read_the_rest(stream: &mut TcpStream, mut received: Vec<u8>, deadline: Instant) {
    let mut buf = [0u8; 4096];
    while !response_complete(&received) && received.len() < RESPONSE_MAX {
        // The rest often came with the head: read before polling.
        match nonblocking::read(stream, &mut buf, deadline, false) {
            Ok(0) | Err(_) => return,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Whether `received` holds a whole response: its head, and as much body as
/// `Content-Length` says, or a chunked body's last chunk; none for 1xx, 204 and
/// 304. Without either, the body ends when the server closes.
pub(super) fn response_complete(received: &[u8]) -> bool {
    let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    if matches!(
        parse_status_line(received),
        Some((100..=199 | 204 | 304, _))
    ) {
        return true;
    }
    let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
    let body = received.len() - (end + 4);
    for line in head.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match (name.trim(), value.trim()) {
            ("content-length", n) => return n.parse::<usize>().is_ok_and(|n| body >= n),
            ("transfer-encoding", v) if v.contains("chunked") => {
                return received.ends_with(b"0\r\n\r\n");
            }
            _ => {}
        }
    }
    false
}

/// `HTTP/1.1 200 OK` → (200, "OK").
pub(super) fn parse_status_line(head: &[u8]) -> Option<(u16, String)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    let code: u16 = code.parse().ok().filter(|c| (100..600).contains(c))?;
    let reason = crate::output::printable::printable(parts.next().unwrap_or("").as_bytes());
    Some((code, crate::output::printable::bounded(&reason, 80)))
}

/// What is left before `deadline`, or the timeout's error when nothing is.
fn time_left(deadline: Instant, timeout: Duration) -> Result<Duration, String> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| no_answer(timeout))
}

pub(super) fn no_answer(timeout: Duration) -> String {
    format!("no answer within {} s", timeout.as_secs_f64())
}

/// An I/O error in a few words (`connection refused`).
pub(super) fn describe(e: &std::io::Error, timeout: Duration) -> String {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => no_answer(timeout),
        ErrorKind::ConnectionRefused => "connection refused".to_string(),
        ErrorKind::ConnectionReset => "connection reset".to_string(),
        _ => match e.raw_os_error() {
            Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
            None => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 OK\r\nServer: x\r\n"),
            Some((200, "OK".to_string()))
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some((503, "Service Unavailable".to_string()))
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.1 204\r\n"),
            Some((204, String::new()))
        );
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH_9\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 abc OK\r\n"), None);
    }

    #[test]
    fn a_response_is_complete_with_its_body() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
        assert!(!response_complete(&head[..20]));
        assert!(!response_complete(head));
        assert!(response_complete(&[&head[..], b"ok"].concat()));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n";
        assert!(!response_complete(chunked));
        assert!(response_complete(&[&chunked[..], b"0\r\n\r\n"].concat()));
        assert!(response_complete(
            b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n"
        ));
        // No length: until the server closes.
        assert!(!response_complete(b"HTTP/1.0 200 OK\r\n\r\nbody"));
    }
}
