//! A small WebDriver client: headless Chromium through chromedriver's HTTP API
//! (JSON over HTTP/1.1, one connection per call). Debian's `chromium` and
//! `chromium-driver` are installed by `scripts/browser`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

/// The W3C name of an element reference in a JSON answer.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver's path, or why it cannot be had.
pub fn chromedriver() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/browser");
    let out = Command::new(script).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// A browser session; dropping it ends the browser and its driver.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: TempDir,
}

impl Browser {
    pub fn start(driver: &Path) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut command = Command::new(driver);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().expect("start chromedriver");
        let profile = TempDir::new("chromium-profile");
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            _profile: profile,
        };
        wait_for("chromedriver", secs(30.0), || {
            let ready = browser.call("GET", "/status", None).ok()?;
            (ready["value"]["ready"] == true).then_some(())
        });
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("chromium");
        let user_data = format!("--user-data-dir={}", browser._profile.0.display());
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", user_data,
                ],
            },
        }}});
        let answer = browser
            .call("POST", "/session", Some(capabilities))
            .expect("a browser session");
        browser.session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        browser
    }

    /// One WebDriver call; `Err` is the driver's error answer.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| json!(e.to_string()))?;
        stream.set_read_timeout(Some(secs(60.0))).unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| json!(e.to_string()))?;
        let (head, body) = read_answer(&mut stream).map_err(|e| json!(e.to_string()))?;
        let value: Value =
            serde_json::from_str(&body).map_err(|e| json!(format!("{e}: {head}{body}")))?;
        match head.starts_with("HTTP/1.1 200") {
            true => Ok(value),
            false => Err(value),
        }
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Value> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
            .map(|v| v["value"].clone())
    }

    pub fn go(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })))
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub fn eval(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// The text of the first element `css` selects ("" when there is none).
    pub fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : '';",
            json!(css)
        );
        self.eval(&script).as_str().unwrap_or("").to_string()
    }

    /// Waits until the text of `css` satisfies `pred`; returns it.
    pub fn wait_text(&self, css: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        wait_for(&format!("the text of {css}"), timeout, || {
            let text = self.text(css);
            pred(&text).then_some(text)
        })
    }

    fn find(&self, css: &str) -> Result<String, Value> {
        let found = self.session_call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        Ok(found[ELEMENT].as_str().unwrap_or_default().to_string())
    }

    /// Clicks `css` as a user would (the page redraws its table on every push:
    /// an element gone stale meanwhile is found again).
    pub fn click(&self, css: &str) {
        wait_for(&format!("a click on {css}"), secs(20.0), || {
            let id = self.find(css).ok()?;
            self.session_call("POST", &format!("/element/{id}/click"), Some(json!({})))
                .ok()
                .map(|_| ())
        });
    }

    /// Types `text` into `css` (WebDriver key codes: `\u{E007}` is Enter).
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).unwrap_or_else(|e| panic!("{css}: {e}"));
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.session_call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .unwrap_or_else(|e| panic!("resize: {e}"));
    }

    /// A PNG of the page, written to `target/web-screenshots/NAME.png`, and to
    /// `docs/screenshots/` too with `TASKMASTER_UPDATE_SCREENSHOTS=1`.
    pub fn screenshot(&self, name: &str) {
        use base64::Engine;
        let shot = self
            .session_call("GET", "/screenshot", None)
            .expect("a screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap_or_default())
            .expect("base64 PNG");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![root.join("target/web-screenshots")];
        if std::env::var_os("TASKMASTER_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
            dirs.push(root.join("docs/screenshots"));
        }
        for dir in dirs {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        }
    }
}

/// An answer's head and its Content-Length body (chromedriver keeps the
/// connection open after it, whatever the request asked).
fn read_answer(stream: &mut TcpStream) -> std::io::Result<(String, String)> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        bytes.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let length = (head.lines())
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while bytes.len() < head_end + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&bytes[head_end..head_end + length]).into_owned();
    Ok((head, body))
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        // chromedriver and whatever browser processes are left: its group.
        let group = nix::unistd::Pid::from_raw(-(self.driver.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}
