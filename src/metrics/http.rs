//! The `/metrics` listener: a small HTTP/1.1 server on std's sockets, made to be
//! scraped and to survive whoever else connects.
//!
//! One `metrics` thread accepts; each connection gets a `metrics-conn` thread,
//! at most [`MAX_CONNECTIONS`] at once — beyond that the accept thread answers
//! `503` itself and closes. Every connection has deadlines, not only timeouts
//! per read: [`REQUEST_TIME`] to send its request, [`ANSWER_TIME`] to take the
//! answer, and its request head is read into [`MAX_REQUEST`] bytes at most
//! (`431` past that). Only `GET /metrics` is served (`404` for another path,
//! `405` for another method); every answer closes the connection. So a client
//! can hold at most a few threads for a few seconds, and never the daemon:
//! the page is made from what `status` reads, under the same short locks.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::warn;

/// Connections served at once.
pub(super) const MAX_CONNECTIONS: usize = 4;
/// The longest request head read: a scrape's is a few hundred bytes.
pub(super) const MAX_REQUEST: usize = 8192;
/// Time a client has to send its whole request head.
const REQUEST_TIME: Duration = Duration::from_secs(2);
/// Time a client has to take the whole answer.
const ANSWER_TIME: Duration = Duration::from_secs(10);
/// After the answer, what the client still sends is read (so closing does not
/// reset the connection before it read the answer), this long and this much.
const DRAIN_TIME: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 64 << 10;

/// Makes the page: the body, or `None` when it could not be made.
pub(super) type Page = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// A listening server; [`Listening::stop`] ends it.
pub(super) struct Listening {
    /// Where it listens (the port chosen, when the setting said 0).
    pub addr: SocketAddr,
    stopped: Arc<AtomicBool>,
    listener: OwnedFd,
    thread: JoinHandle<()>,
}

impl Listening {
    /// Stops accepting and waits for the accept thread to have closed the
    /// socket, so the address can be taken again at once. Connections under way
    /// finish on their own threads.
    pub fn stop(self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept() of the server thread with an error.
        let _ =
            nix::sys::socket::shutdown(self.listener.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        let _ = self.thread.join();
    }
}

/// Listens on `addr` and serves `page` there.
pub(super) fn start(addr: SocketAddr, page: Page) -> Result<Listening, String> {
    let cannot = |e: std::io::Error| format!("metrics: cannot listen on {addr}: {e}");
    let listener = TcpListener::bind(addr).map_err(cannot)?;
    let addr = listener.local_addr().map_err(cannot)?;
    let fd = listener.as_fd().try_clone_to_owned().map_err(cannot)?;
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = stopped.clone();
    let thread = std::thread::Builder::new()
        .name("metrics".into())
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(move || serve(listener, page, flag))
        .map_err(|e| format!("metrics: cannot start its thread: {e}"))?;
    Ok(Listening {
        addr,
        stopped,
        listener: fd,
        thread,
    })
}

/// A connection's place among the [`MAX_CONNECTIONS`]; given back on drop.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve(listener: TcpListener, page: Page, stopped: Arc<AtomicBool>) {
    let open = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        let mut stream = match conn {
            Ok(stream) => stream,
            // EMFILE and friends: the client waits in the backlog. A short pause
            // keeps a lasting EMFILE from spinning.
            Err(e) => {
                if e.kind() != ErrorKind::ConnectionAborted {
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            drop(Slot(open.clone()));
            let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = stream.write_all(&response(503, "too many connections\n", "text/plain"));
            continue;
        }
        let slot = Slot(open.clone());
        let page = page.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-conn".into())
            .stack_size(crate::stack::THREAD_STACK)
            .spawn(move || {
                answer(stream, &page);
                drop(slot);
            });
        if let Err(e) = spawned {
            warn!("metrics: cannot start a connection's thread: {e}");
        }
    }
}

/// Reads one request, answers it, closes.
fn answer(mut stream: TcpStream, page: &Page) {
    let answer = match read_head(&mut stream, Instant::now() + REQUEST_TIME) {
        Head::Complete(request) => route(&request, page),
        Head::TooLarge => response(431, "request head too large\n", "text/plain"),
        Head::Malformed => response(400, "malformed request\n", "text/plain"),
        Head::Timeout => response(408, "request not received in time\n", "text/plain"),
        Head::Closed => return,
    };
    let written = write_by(&mut stream, &answer, Instant::now() + ANSWER_TIME);
    // As after a large control reply: a page of thousands of instances leaves
    // freed pieces all over the heap, which the C library would keep resident.
    if answer.len() > crate::sys::malloc::LARGE_REPLY {
        drop(answer);
        crate::sys::malloc::give_back_free_memory();
    }
    if written.is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    drain(&mut stream, Instant::now() + DRAIN_TIME);
}

/// What came of reading a request head.
enum Head {
    /// The method and path.
    Complete((String, String)),
    TooLarge,
    Malformed,
    Timeout,
    /// The client went away first: nobody to answer.
    Closed,
}

fn read_head(stream: &mut TcpStream, deadline: Instant) -> Head {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    loop {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return Head::Timeout;
        };
        if stream.set_read_timeout(Some(left)).is_err() {
            return Head::Closed;
        }
        match stream.read(&mut buf[len..]) {
            Ok(0) => return Head::Closed,
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Head::Timeout
            }
            Err(_) => return Head::Closed,
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => {
                let method = request.method.unwrap_or_default().to_string();
                let path = request.path.unwrap_or_default().to_string();
                return Head::Complete((method, path));
            }
            Ok(httparse::Status::Partial) if len == buf.len() => return Head::TooLarge,
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => return Head::TooLarge,
            Err(_) => return Head::Malformed,
        }
    }
}

/// The answer to a whole request.
fn route((method, target): &(String, String), page: &Page) -> Vec<u8> {
    let path = target.split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return response(
            404,
            "not found: only /metrics is served here\n",
            "text/plain",
        );
    }
    if method != "GET" {
        return response(405, "method not allowed: only GET /metrics\n", "text/plain");
    }
    match page() {
        Some(body) => response(200, &body, super::exposition::CONTENT_TYPE),
        None => response(500, "the page could not be made\n", "text/plain"),
    }
}

/// A whole HTTP/1.1 answer that closes the connection.
pub(super) fn response(code: u16, body: &str, content_type: &str) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let allow = if code == 405 { "Allow: GET\r\n" } else { "" };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    let mut bytes = Vec::with_capacity(head.len() + body.len());
    bytes.extend_from_slice(head.as_bytes());
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// Writes all of `bytes` before `deadline`, or gives up.
fn write_by(stream: &mut TcpStream, mut bytes: &[u8], deadline: Instant) -> Result<(), ()> {
    while !bytes.is_empty() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero());
        stream
            .set_write_timeout(Some(left.ok_or(())?))
            .map_err(drop)?;
        match stream.write(bytes) {
            Ok(0) => return Err(()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
    Ok(())
}

/// Reads what the client still sends, until it closes, [`DRAIN_BYTES`] or `deadline`.
fn drain(stream: &mut TcpStream, deadline: Instant) {
    let mut buf = [0u8; 4096];
    let mut read = 0;
    while read < DRAIN_BYTES {
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
