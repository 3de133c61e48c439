//! The control-plane tests' tools: `taskmasterctl` one-shots with a deadline, raw
//! connections to the control socket, status snapshots, and daemons started without
//! the harness.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::CTL;
use crate::common::*;

/// One program, `sleeper`, RUNNING at once.
pub const SLEEPER_YAML: &str = "programs:\n  sleeper:\n    cmd: TESTPROG sleep\n    starttime: 0\n";

/// What a finished process left behind.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `taskmasterctl -c CONFIG ARGS...`: the socket named in the config.
pub fn ctl_config(config: &Path, args: &[&str]) -> Out {
    let mut all: Vec<&OsStr> = vec![OsStr::new("-c"), config.as_os_str()];
    all.extend(args.iter().map(OsStr::new));
    ctl_raw(&all)
}

/// Runs `cmd` to completion (stdin closed), killing it and failing after `timeout`.
pub fn run_timeout(mut cmd: Command, timeout: Duration) -> Out {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) => Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            panic!("{what} did not finish within {timeout:?}");
        }
    }
}

/// `taskmasterctl ARGS...` (no implicit `-s`).
pub fn ctl_raw<S: AsRef<OsStr>>(args: &[S]) -> Out {
    let mut cmd = Command::new(CTL);
    cmd.args(args);
    run_timeout(cmd, secs(30.0))
}

/// `taskmasterctl -s SOCKET ARGS...`.
pub fn ctl(socket: &Path, args: &[&str]) -> Out {
    let mut all: Vec<&OsStr> = vec![OsStr::new("-s"), socket.as_os_str()];
    all.extend(args.iter().map(OsStr::new));
    ctl_raw(&all)
}

/// Like [`ctl`], also returning the client's pid (to find it in the event log).
pub fn ctl_with_pid(socket: &Path, args: &[&str]) -> (u32, Out) {
    let child = Command::new(CTL)
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start taskmasterctl");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait for taskmasterctl");
    let out = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (pid, out)
}

/// Like [`ctl`], asserting the exit code; returns stdout.
pub fn ctl_ok(socket: &Path, args: &[&str], code: i32) -> String {
    let out = ctl(socket, args);
    assert_eq!(
        out.code, code,
        "taskmasterctl {args:?}: expected exit {code}, got {out:?}"
    );
    out.stdout
}

/// A raw connection to the control socket, with a read timeout.
pub fn connect(socket: &Path) -> (UnixStream, BufReader<UnixStream>) {
    let stream =
        UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    stream
        .set_read_timeout(Some(secs(20.0)))
        .expect("read timeout");
    let reader = BufReader::new(stream.try_clone().expect("clone stream"));
    (stream, reader)
}

/// Reads one reply line and parses it.
pub fn read_reply(reader: &mut impl BufRead) -> Value {
    let mut line = String::new();
    let n = reader.read_line(&mut line).expect("read a reply line");
    assert!(n > 0, "the daemon closed the connection without a reply");
    assert!(line.ends_with('\n'), "reply is one full line: {line:?}");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {line:?}"))
}

/// One request on a fresh connection; returns the reply.
pub fn request(socket: &Path, raw: &[u8]) -> Value {
    let (mut stream, mut reader) = connect(socket);
    stream.write_all(raw).expect("send request");
    read_reply(&mut reader)
}

/// `status --json` over the raw protocol: the `data` array.
pub fn status_json(socket: &Path) -> Vec<Value> {
    let reply = request(
        socket,
        b"{\"command\": \"status\", \"args\": [\"--json\"]}\n",
    );
    // 0 every instance running, 3 some stopped (supervisorctl's LSB codes).
    let exit = reply["exit"].as_i64();
    assert!(matches!(exit, Some(0 | 3)), "status --json reply: {reply}");
    match &reply["data"] {
        Value::Array(items) => items.clone(),
        other => panic!("status --json data is not an array: {other}"),
    }
}

pub fn instance(socket: &Path, name: &str) -> Value {
    status_json(socket)
        .into_iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no instance {name} in status"))
}

/// Waits until every named instance is RUNNING (the socket may not exist yet);
/// returns their pids by name.
pub fn wait_running(socket: &Path, names: &[&str], timeout: Duration) -> BTreeMap<String, i32> {
    wait_for(&format!("{names:?} RUNNING"), timeout, || {
        UnixStream::connect(socket).ok()?;
        let all = status_json(socket);
        let mut pids = BTreeMap::new();
        for name in names {
            let i = all.iter().find(|i| i["name"] == *name)?;
            if i["state"] != "RUNNING" {
                return None;
            }
            pids.insert(name.to_string(), i["pid"].as_i64()? as i32);
        }
        Some(pids)
    })
}

/// Every instance's (state, pid), to show that nothing changed.
pub fn snapshot(socket: &Path) -> BTreeMap<String, (String, Option<i64>)> {
    status_json(socket)
        .into_iter()
        .map(|i| {
            (
                i["name"].as_str().expect("name").to_string(),
                (
                    i["state"].as_str().expect("state").to_string(),
                    i["pid"].as_i64(),
                ),
            )
        })
        .collect()
}

/// Threads of `pid` whose name is exactly `name`.
pub fn threads_named(pid: i32, name: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name)
        })
        .count()
}

/// The line of `text` that starts with `name` followed by spaces.
pub fn status_line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no status line for {name} in {text:?}"))
}

/// A daemon started without the harness (to choose its command line); killed with
/// its process groups on drop unless it exited.
pub struct Bare {
    child: Option<Child>,
}

impl Bare {
    /// `taskmaster -c CONFIG --no-shell [--socket SOCKET]`.
    pub fn on(config: &Path, socket: Option<&Path>) -> Bare {
        Bare::with_stdout(config, socket, Stdio::null())
    }

    /// The same, its standard output going to `stdout`.
    pub fn with_stdout(config: &Path, socket: Option<&Path>, stdout: Stdio) -> Bare {
        let mut cmd = Command::new(TASKMASTER);
        cmd.arg("-c").arg(config).arg("--no-shell");
        if let Some(socket) = socket {
            cmd.arg("--socket").arg(socket);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start taskmaster");
        Bare { child: Some(child) }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// SIGTERM, then waits for the exit; returns its code.
    pub fn terminate(&mut self, timeout: Duration) -> i32 {
        kill(Pid::from_raw(self.pid()), Signal::SIGTERM).expect("SIGTERM");
        self.wait_exit(timeout).0
    }

    /// Waits for the exit; returns (code, stderr).
    pub fn wait_exit(&mut self, timeout: Duration) -> (i32, String) {
        let child = self.child.as_mut().expect("running");
        let status = wait_for("taskmaster to exit", timeout, || {
            child.try_wait().expect("try_wait")
        });
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        self.child = None;
        (status.code().unwrap_or(-1), err)
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            kill_with_groups(child);
        }
    }
}

/// A `taskmasterctl` that streams (`tail -f`, `notices`): its stdout collected line
/// by line as it comes. Killed on drop.
pub struct CtlStream {
    child: Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl CtlStream {
    /// `taskmasterctl -s SOCKET ARGS...`, stdout read in the background.
    pub fn start(socket: &Path, args: &[&str]) -> CtlStream {
        let mut child = Command::new(CTL)
            .arg("-s")
            .arg(socket)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start taskmasterctl");
        let stdout = child.stdout.take().expect("stdout");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        CtlStream { child, lines }
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until the lines so far satisfy `pred`; returns them.
    pub fn wait(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        wait_for(what, timeout, || {
            let lines = self.lines();
            pred(&lines).then_some(lines)
        })
    }
}

impl Drop for CtlStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
