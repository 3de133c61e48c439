//! Shared harness for the integration tests: a real `taskmaster` daemon on a
//! temporary config, driven through its stdin command mode, observed through its
//! replies, its event log, the files its children write, and `/proc`.
//!
//! Nothing here sleeps blindly: every wait is a condition polled until a deadline.

#![allow(dead_code)]

pub mod pids;
pub mod pty;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const TASKMASTER: &str = env!("CARGO_BIN_EXE_taskmaster");

/// The test child program (`tests/helpers/testprog.rs`), `examples/taskmaster-testprog`
/// beside the taskmaster binary. It is a cargo example so that `cargo install` leaves
/// it out; a full `cargo test` builds examples, `cargo test --test NAME` does not. So,
/// when the tests run under cargo, the first call builds it with that cargo, into the
/// same target directory and profile (nothing to do when it is fresh): `--test NAME`
/// then works on a clean tree and never runs a stale copy.
pub fn testprog() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let bin_dir = Path::new(TASKMASTER).parent().expect("binary directory");
        let path = bin_dir.join("examples").join("taskmaster-testprog");
        if let Some(cargo) = std::env::var_os("CARGO") {
            build_testprog(&cargo, bin_dir);
        }
        assert!(
            path.exists(),
            "{} is missing: run `cargo build --examples`",
            path.display()
        );
        path.to_str().expect("utf-8 target path").to_string()
    })
}

/// `cargo build --example taskmaster-testprog` for the profile and target directory
/// the tests were built in (`bin_dir` is `TARGET_DIR/PROFILE_DIR`).
fn build_testprog(cargo: &std::ffi::OsStr, bin_dir: &Path) {
    let profile = match bin_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let target_dir = bin_dir.parent().expect("target directory");
    let out = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--example",
            "taskmaster-testprog",
            "--profile",
        ])
        .arg(profile)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .stdin(Stdio::null())
        .output()
        .expect("run cargo to build taskmaster-testprog");
    assert!(
        out.status.success(),
        "cargo build --example taskmaster-testprog failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tm-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.0.as_os_str().is_empty() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
    poll_until(timeout, Duration::from_millis(10), f)
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// The one deadline loop of the tests: calls `f` until it returns `Some`, sleeping
/// `every` between calls; `None` once `timeout` has passed without it. [`wait_for`]
/// panics with a plain message; a caller that reports what it saw last (kept by `f`)
/// uses this and panics with its own.
pub fn poll_until<T>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Is `pid` a live process (not a zombie)?
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_string));
            !matches!(state.as_deref(), Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// Is `pid` a zombie?
pub fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rfind(')')
                .is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Live processes (not zombies) whose process group is one of `pgids`, from /proc.
pub fn live_in_groups(pgids: &[i32]) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().take(3).collect();
        let pgrp = fields.get(2).and_then(|g| g.parse::<i32>().ok());
        let live = !matches!(fields.first(), Some(&"Z") | Some(&"X"));
        if live && pgrp.is_some_and(|g| pgids.contains(&g)) {
            out.push(p);
        }
    }
    out
}

/// Direct children of `pid`, from /proc.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1)?.parse::<i32>().ok());
            if ppid == Some(pid) {
                out.push(p);
            }
        }
    }
    out
}

/// Whether `pid` runs `taskmaster --spawn-helper`: the daemon's child that clones
/// the programs' processes, beside them among its children.
pub fn is_spawn_helper(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .any(|arg| arg == b"--spawn-helper")
}

/// The daemon's children that run programs: all but its spawn helper.
pub fn program_children_of(daemon: i32) -> Vec<i32> {
    children_of(daemon)
        .into_iter()
        .filter(|&p| !is_spawn_helper(p))
        .collect()
}

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

/// Reads a file to a string, empty if missing.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// `yaml` with `TESTPROG` replaced by the test program's path and `DIR` by `dir`, as
/// [`Daemon::start`] does.
pub fn expand(yaml: &str, dir: &Path) -> String {
    yaml.replace("TESTPROG", testprog())
        .replace("DIR", dir.to_str().expect("utf-8 temp dir"))
}

/// Writes `yaml` (TESTPROG and DIR replaced, see [`expand`]) as `dir/taskmaster.yaml`;
/// returns its path.
pub fn write_config_file(dir: &Path, yaml: &str) -> PathBuf {
    let config = dir.join("taskmaster.yaml");
    std::fs::write(&config, expand(yaml, dir)).expect("write config");
    config
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

/// Asserts that `f` stays true for `how_long` (checked every 20 ms).
pub fn assert_stays(what: &str, how_long: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + how_long;
    loop {
        assert!(f(), "{what} did not hold for {how_long:?}");
        if Instant::now() >= end {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `path` exists and its content satisfies `pred`; returns the content.
pub fn wait_file(path: &Path, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
    wait_for(&format!("content of {}", path.display()), timeout, || {
        let text = std::fs::read_to_string(path).ok()?;
        pred(&text).then_some(text)
    })
}

/// This process's umask, read without changing it (umask(2) would race other tests).
pub fn current_umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("Umask line in /proc/self/status");
    u32::from_str_radix(line.trim(), 8).expect("octal umask")
}

/// How many descriptors `pid` holds.
pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// How many threads `pid` runs.
pub fn thread_count(pid: i32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok())
        .unwrap_or(0)
}

/// The daemon's (descriptors, threads), once 5 readings 100 ms apart agree.
pub fn quiet_counts(pid: i32) -> (usize, usize) {
    let mut last = (fd_count(pid), thread_count(pid));
    let mut same = 0;
    wait_for(
        "the daemon's fd and thread counts to settle",
        secs(20.0),
        || {
            std::thread::sleep(Duration::from_millis(100));
            let now = (fd_count(pid), thread_count(pid));
            same = if now == last { same + 1 } else { 0 };
            last = now;
            (same >= 4).then_some(now)
        },
    )
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
