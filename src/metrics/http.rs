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
//! The request is read, and the answer written, by [`crate::http_wire`] (as the
//! dashboard's), with the limits here.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::warn;

use crate::http_wire::{self, drain, write_by, Limits, ReadError, Request};

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
/// A scrape has no body: none is read (what a client sends anyway is drained).
const LIMITS: Limits = Limits {
    max_head: MAX_REQUEST,
    max_body: None,
    request_time: REQUEST_TIME,
};
/// The accept thread's own write of a `503`: short, it must not be held up.
const REFUSAL_TIME: Duration = Duration::from_millis(100);

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
            let refusal = response(503, "too many connections\n", "text/plain");
            let _ = write_by(&mut stream, &refusal, Instant::now() + REFUSAL_TIME);
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
    let answer = match http_wire::read_request(&mut stream, &LIMITS) {
        Ok(request) => route(&request, page),
        Err(ReadError::Gone) => return,
        // Unlike the dashboard, which browsers connect to ahead of need, a
        // silent client here is told why it is dropped.
        Err(ReadError::Silent) => response(408, "request not sent in time\n", "text/plain"),
        Err(ReadError::Answer(status, text)) => {
            response(status, &format!("{text}\n"), "text/plain")
        }
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
    drain(&mut stream, DRAIN_BYTES, Instant::now() + DRAIN_TIME);
}

/// The answer to a whole request.
fn route(request: &Request, page: &Page) -> Vec<u8> {
    if request.path != "/metrics" {
        return response(
            404,
            "not found: only /metrics is served here\n",
            "text/plain",
        );
    }
    if request.method != "GET" {
        return response(405, "method not allowed: only GET /metrics\n", "text/plain");
    }
    match page() {
        Some(body) => response(200, &body, super::exposition::CONTENT_TYPE),
        None => response(500, "the page could not be made\n", "text/plain"),
    }
}

/// A whole HTTP/1.1 answer that closes the connection.
pub(super) fn response(code: u16, body: &str, content_type: &str) -> Vec<u8> {
    let allow: &[(&str, &str)] = if code == 405 {
        &[("Allow", "GET")]
    } else {
        &[]
    };
    http_wire::response(code, content_type, allow, body.as_bytes())
}
