//! The web dashboard (README: Web dashboard): its HTTP API and security rules
//! with raw requests (`api.rs`, `security.rs`), its WebSockets with tungstenite's
//! client (`live.rs`), and the page itself in headless Chromium (`browser.rs`).

mod api;
mod browser;
mod live;
mod security;
mod webdriver;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::common::*;

const CTL: &str = env!("CARGO_BIN_EXE_taskmasterctl");

/// The dashboard of a daemon: its address and access token, from `web-url`.
pub struct Web {
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub token: String,
}

impl Web {
    pub fn of(d: &Daemon) -> Web {
        let out = std::process::Command::new(CTL)
            .arg("-s")
            .arg(d.socket())
            .arg("web-url")
            .output()
            .expect("run taskmasterctl web-url");
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(out.status.success(), "web-url: {url}");
        let rest = url.strip_prefix("http://").expect(&url);
        let (addr, query) = rest.split_once("/?token=").expect(&url);
        Web {
            addr: addr.to_string(),
            token: query.to_string(),
        }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn cookie(&self) -> String {
        format!("taskmaster_session={}", self.token)
    }

    /// Sends `raw` and reads the whole answer (the server closes after it).
    pub fn raw(&self, raw: &[u8]) -> Answer {
        let mut stream = TcpStream::connect(&self.addr).expect("connect to the dashboard");
        stream.set_read_timeout(Some(secs(30.0))).unwrap();
        // The server may answer (and close) before reading all of a refused request.
        let _ = stream.write_all(raw);
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        Answer::parse(&bytes)
    }

    /// A request with these headers (Host and Content-Length added).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        raw.push_str("\r\n");
        raw.push_str(body);
        self.raw(raw.as_bytes())
    }

    /// `POST /api/command` with the Bearer token.
    pub fn command(&self, command: &str, args: &[&str]) -> serde_json::Value {
        let body = serde_json::json!({"command": command, "args": args}).to_string();
        let bearer = format!("Bearer {}", self.token);
        let answer = self.request(
            "POST",
            "/api/command",
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            &body,
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        serde_json::from_str(&answer.body).expect(&answer.body)
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Header lines, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    fn parse(bytes: &[u8]) -> Answer {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_string(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A daemon with the dashboard on a port of the kernel's choosing.
pub fn start(tag: &str, programs: &str) -> (Daemon, Web) {
    let yaml = format!("taskmaster:\n  http:\n    listen: 127.0.0.1:0\nprograms:\n{programs}");
    let d = Daemon::start(tag, &yaml);
    wait_for("the control socket", secs(10.0), || {
        d.socket().exists().then_some(())
    });
    let web = Web::of(&d);
    (d, web)
}

/// `sleeper`, RUNNING at once.
pub const SLEEPER: &str = "  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n";

/// Whether a process with this pid exists (a zombie counts as gone).
pub fn gone(pid: i32) -> bool {
    !alive(pid) || zombie(pid)
}

pub fn short() -> Duration {
    secs(10.0)
}
