//! A real `taskmaster` daemon on a test's config, driven through its stdin command
//! mode and observed through its replies and its event log; and the kill of a
//! daemon's whole tree when a test fails, so nothing leaks into the others.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{children_of, expand, poll_until, testprog, wait_for, TempDir, TASKMASTER};

/// A running daemon. Dropping it kills it (and its process groups) if a test failed.
pub struct Daemon {
    pub dir: TempDir,
    pub config: PathBuf,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    /// Every line the daemon printed on stdout so far.
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Writes `yaml` as `taskmaster.yaml` in a new temp dir and starts the daemon on
    /// it, with stdin as a pipe (line command mode). `TESTPROG` in the yaml is
    /// replaced by the test program's path and `DIR` by the temp dir.
    pub fn start(tag: &str, yaml: &str) -> Daemon {
        let dir = TempDir::new(tag);
        let config = dir.path("taskmaster.yaml");
        let yaml = yaml
            .replace("TESTPROG", testprog())
            .replace("DIR", dir.0.to_str().expect("utf-8 temp dir"));
        std::fs::write(&config, yaml).expect("write config");
        Self::start_in(dir, config)
    }

    pub fn start_in(dir: TempDir, config: PathBuf) -> Daemon {
        Self::start_in_with(dir, config, |_| {})
    }

    /// Like `start`, letting the test adjust the daemon's command first (limits…).
    pub fn start_with(tag: &str, yaml: &str, adjust: impl FnOnce(&mut Command)) -> Daemon {
        let dir = TempDir::new(tag);
        let config = dir.path("taskmaster.yaml");
        std::fs::write(&config, expand(yaml, &dir.0)).expect("write config");
        Self::start_in_with(dir, config, adjust)
    }

    fn start_in_with(dir: TempDir, config: PathBuf, adjust: impl FnOnce(&mut Command)) -> Daemon {
        // Each daemon gets its own control socket: tests run in parallel.
        let socket = dir.path("taskmaster.sock");
        let mut command = Command::new(TASKMASTER);
        command
            .arg("-c")
            .arg(&config)
            .arg("--socket")
            .arg(&socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Last, so a test may also take the daemon's stderr.
        adjust(&mut command);
        let mut child = command.spawn().expect("start taskmaster");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Daemon {
            dir,
            config,
            child: Some(child),
            stdin,
            lines,
        }
    }

    /// The daemon's control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path("taskmaster.sock")
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(-1)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path(name)
    }

    /// Sends one command line.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write command");
        stdin.flush().expect("flush command");
    }

    /// Number of lines printed so far (to wait for lines after a point).
    pub fn mark(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// Waits for a line after `mark` satisfying `pred`, returns it.
    pub fn wait_line(
        &self,
        mark: usize,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        wait_for(what, timeout, || {
            self.lines.lock().unwrap()[mark..]
                .iter()
                .find(|l| pred(l))
                .cloned()
        })
    }

    /// Sends `line` and waits for a reply line equal to `expected`.
    pub fn command_expect(&mut self, line: &str, expected: &str, timeout: Duration) {
        let mark = self.mark();
        self.send(line);
        self.wait_line(
            mark,
            &format!("reply {expected:?} to {line:?}"),
            timeout,
            |l| l == expected,
        );
    }

    /// `status --json`, parsed.
    pub fn status(&mut self) -> Vec<serde_json::Value> {
        let mark = self.mark();
        self.send("status --json");
        let line = self.wait_line(mark, "status --json reply", Duration::from_secs(10), |l| {
            l.starts_with('[')
        });
        match serde_json::from_str(&line).expect("status --json is JSON") {
            serde_json::Value::Array(items) => items,
            other => panic!("status --json is not an array: {other}"),
        }
    }

    /// The status object of one instance.
    pub fn instance(&mut self, name: &str) -> serde_json::Value {
        self.status()
            .into_iter()
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("no instance {name} in status"))
    }

    /// Waits until `name` is in `state`; returns its status object.
    pub fn wait_state(&mut self, name: &str, state: &str, timeout: Duration) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        poll_until(timeout, Duration::from_millis(10), || {
            let i = self.instance(name);
            if i["state"] == state {
                return Some(i);
            }
            last = i;
            None
        })
        .unwrap_or_else(|| {
            panic!("timed out waiting for {name} to be {state}; last status: {last}")
        })
    }

    pub fn pid_of(&mut self, name: &str) -> i32 {
        self.instance(name)["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("{name} has no pid")) as i32
    }

    /// The event log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("taskmaster.log")).unwrap_or_default()
    }

    pub fn wait_log(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) {
        wait_for(what, timeout, || pred(&self.log()).then_some(()))
    }

    /// Closes stdin (= shutdown) and waits for the daemon to exit; returns its code.
    pub fn finish(&mut self, timeout: Duration) -> i32 {
        self.stdin.take();
        self.wait_exit(timeout)
    }

    /// Waits for the daemon to exit by itself; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let child = self.child.as_mut().expect("daemon running");
        let status = wait_for("taskmaster to exit", timeout, || {
            child.try_wait().expect("try_wait")
        });
        self.child = None;
        status.code().unwrap_or(-1)
    }

    /// After the daemon exited: its directory, to start another daemon there.
    pub fn into_dir(mut self) -> (TempDir, PathBuf) {
        assert!(self.child.is_none(), "into_dir on a running daemon");
        let dir = std::mem::replace(&mut self.dir, TempDir(PathBuf::new()));
        (dir, self.config.clone())
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc_kill(self.pid(), sig) };
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A failed test: take the whole tree down so nothing leaks into others.
            // Freeze the daemon first, so it cannot spawn a child we would miss.
            let pid = child.id() as i32;
            // SAFETY: kill(2) on our own child.
            unsafe { libc_kill(pid, 19) }; // SIGSTOP
            for c in children_of(pid) {
                // SAFETY: kill(2) on process groups our daemon created.
                unsafe { libc_kill(-c, 9) };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Kills a daemon started without [`Daemon`] and the process groups of its children
/// (each child of taskmaster leads its own), then reaps it.
pub fn kill_with_groups(mut child: Child) {
    let pid = child.id() as i32;
    // Stopped first: a daemon still running would restart a killed child before
    // its own kill, and that child would outlive the test.
    // SAFETY: kill(2) on the daemon this test started (19: SIGSTOP).
    unsafe { libc_kill(pid, 19) };
    for c in children_of(pid) {
        // SAFETY: kill(2) on process groups our daemon created.
        unsafe { libc_kill(-c, 9) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Sets the daemon's soft and hard `RLIMIT_NOFILE` before it starts.
pub fn nofile_limit(limit: u64) -> impl FnOnce(&mut std::process::Command) {
    move |cmd| {
        // SAFETY: setrlimit in the child before exec; async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(cmd, move || {
                let lim = nix::libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}
