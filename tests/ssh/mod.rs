//! `taskmasterctl -H ssh://…` (README: Many hosts over SSH) against a real OpenSSH
//! server: Debian's openssh-server, installed if missing and prepared by
//! `scripts/test-sshd` (a throwaway host key and client key, 127.0.0.1 only), run
//! by each test as its child. The remote `taskmasterctl` is the one built with the
//! tests, named by `TASKMASTER_REMOTE_CTL`; ssh reads the test's own client config
//! through `TASKMASTER_SSH_COMMAND`. Both are set on each client's command only.
//!
//! Skipped, saying why loudly, only when sshd cannot be installed (no Debian mirror,
//! not root).

mod commands;
mod streams;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;

pub const CTL: &str = env!("CARGO_BIN_EXE_taskmasterctl");

/// A throwaway sshd on 127.0.0.1, killed when dropped.
pub struct Sshd {
    pub dir: TempDir,
    child: Child,
    port: u16,
    user: String,
}

/// A TCP port nothing listens on at the moment of asking.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

impl Sshd {
    /// A running sshd, or why there can be none (then the test says SKIPPED).
    pub fn start() -> Result<Sshd, String> {
        let dir = TempDir::new("sshd");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-sshd");
        let keys = dir.path("keys");
        // A port found free may be taken before sshd binds it: then another.
        for _ in 0..5 {
            let port = free_port();
            let out = Command::new(&script)
                .arg(&keys)
                .arg(port.to_string())
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
            match out.status.code() {
                Some(0) => {}
                Some(3) => return Err(said),
                other => panic!("scripts/test-sshd failed ({other:?}): {said}"),
            }
            let log_path = dir.path("sshd.log");
            let log = std::fs::File::create(&log_path).expect("sshd.log");
            let mut child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(keys.join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .expect("start sshd");
            let listening = poll_until(secs(10.0), Duration::from_millis(10), || {
                if read(&log_path).contains("Server listening on") {
                    return Some(true);
                }
                child.try_wait().ok().flatten().map(|_| false)
            });
            if listening == Some(true) {
                let user = nix::unistd::User::from_uid(nix::unistd::getuid())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
                    .unwrap_or_else(|| "root".into());
                return Ok(Sshd {
                    dir,
                    child,
                    port,
                    user,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("sshd on port {port} did not start:\n{}", read(&log_path));
        }
        panic!("sshd never started (see above)");
    }

    /// The URL of the daemon whose socket is `socket`, through this sshd.
    pub fn url(&self, socket: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            socket.display()
        )
    }

    /// What names that daemon in a gathered reply of two on this sshd: the whole
    /// URL but its scheme (they differ by their socket only).
    pub fn label(&self, socket: &Path) -> String {
        self.url(socket)["ssh://".len()..].to_string()
    }

    /// `taskmasterctl ARGS…` set up to go through this sshd.
    pub fn ctl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(CTL);
        cmd.args(args).stdin(Stdio::null());
        self.client_env(&mut cmd);
        cmd
    }

    /// The environment a client needs for this sshd.
    pub fn client_env(&self, cmd: &mut Command) {
        let config = self.dir.path("keys").join("ssh_config");
        cmd.env(
            "TASKMASTER_SSH_COMMAND",
            format!("ssh -F {}", config.display()),
        )
        .env("TASKMASTER_REMOTE_CTL", CTL)
        .env_remove("TASKMASTER_HOST");
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running sshd, or the test returns after saying SKIPPED and why.
macro_rules! sshd_or_skip {
    ($test:expr) => {
        match crate::ssh::Sshd::start() {
            Ok(sshd) => sshd,
            Err(why) => {
                eprintln!(
                    "SKIPPED {}: no sshd to test against: scripts/test-sshd says: {why}",
                    $test
                );
                return;
            }
        }
    };
}
pub(crate) use sshd_or_skip;

/// What a finished client printed and how it exited.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to its end, which must come within 30 s: a client that hangs fails
/// the test (and is killed) instead of hanging it.
pub fn run(cmd: Command) -> Ran {
    run_fed(cmd, None)
}

/// [`run`], with `input` on the command's stdin (then closed).
pub fn run_fed(mut cmd: Command, input: Option<&'static [u8]>) -> Ran {
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start taskmasterctl");
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(input);
        });
    }
    let collect = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = collect(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = collect(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = poll_until(secs(30.0), Duration::from_millis(10), || {
        child.try_wait().expect("try_wait")
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{cmd:?} still ran after 30 s; it printed:\n{}\n{}",
            stdout.join().unwrap_or_default(),
            stderr.join().unwrap_or_default()
        );
    };
    Ran {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    }
}
