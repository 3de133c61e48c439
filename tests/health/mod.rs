//! Health checks (README: Health checks) on real processes against real
//! listeners the tests run: a `cmd` check run like the program, an `http` check
//! against a small HTTP server of the test's, a `tcp` check against a listener;
//! `status` shows the health and why a check failed; `on_failure` restarts,
//! alerts or does nothing; `depends_on: {NAME: healthy}` waits for health; a check
//! that hangs is killed at its timeout; bad settings are `--check` errors.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::*;

mod checks;
mod config;
mod failures;
mod ordering;
mod shared;

/// A tiny HTTP server on 127.0.0.1: every request gets the status the test set
/// (200 at first). Its thread lives as long as the test binary. Made with
/// `slow_body`, it writes the head of its answer, then the body only after
/// 0.3 s without hearing the client give up, and counts the clients that gave
/// up before the body (`cut_short`).
pub struct HttpServer {
    pub port: u16,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
    cut: Arc<AtomicUsize>,
}

impl HttpServer {
    pub fn start() -> HttpServer {
        Self::serve(false)
    }

    pub fn slow_body() -> HttpServer {
        Self::serve(true)
    }

    fn serve(slow_body: bool) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let port = listener.local_addr().expect("its address").port();
        let status = Arc::new(AtomicU16::new(200));
        let hits = Arc::new(AtomicUsize::new(0));
        let cut = Arc::new(AtomicUsize::new(0));
        let (code, count, cut_short) = (status.clone(), hits.clone(), cut.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                read_request(&mut conn);
                let code = code.load(Ordering::SeqCst);
                let head = format!(
                    "HTTP/1.1 {code} Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
                );
                let _ = conn.write_all(head.as_bytes());
                if slow_body {
                    // The client closing or resetting now has not read the body.
                    let _ = conn.set_read_timeout(Some(secs(0.3)));
                    let gave_up = match conn.read(&mut [0u8; 64]) {
                        Ok(0) => true,
                        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                        Ok(_) => false,
                    };
                    if gave_up || conn.write_all(b"ok").is_err() {
                        cut_short.fetch_add(1, Ordering::SeqCst);
                    }
                } else {
                    let _ = conn.write_all(b"ok");
                }
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        HttpServer {
            port,
            status,
            hits,
            cut,
        }
    }

    pub fn cut_short(&self) -> usize {
        self.cut.load(Ordering::SeqCst)
    }

    pub fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A port of 127.0.0.1 nothing listens on (bound, then closed).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    listener.local_addr().expect("its address").port()
}

/// `status --json`'s `health` of `name` (null without one).
pub fn health(d: &mut Daemon, name: &str) -> serde_json::Value {
    d.instance(name)["health"].clone()
}

/// Waits until `name` is RUNNING with `health`; returns its status object.
pub fn wait_health(
    d: &mut Daemon,
    name: &str,
    health: &str,
    timeout: std::time::Duration,
) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    poll_until(timeout, secs(0.02), || {
        let i = d.instance(name);
        if i["state"] == "RUNNING" && i["health"] == health {
            return Some(i);
        }
        last = i;
        None
    })
    .unwrap_or_else(|| panic!("{name} never {health}; last status: {last}"))
}

/// The description of `name` in `status`.
pub fn description(d: &mut Daemon, name: &str) -> String {
    d.instance(name)["description"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Reads a request's head from a test server's connection (5 s at most).
pub fn read_request(conn: &mut std::net::TcpStream) -> Vec<u8> {
    let _ = conn.set_read_timeout(Some(secs(5.0)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    request
}
