//! A connection to a remote taskmaster through OpenSSH (README: Many hosts over
//! SSH): `ssh -T … -- HOST 'taskmasterctl --stdio -s SOCKET'`, whose stdin and
//! stdout are one end of a socket pair and the client's [`Client`] the other. The
//! remote `taskmasterctl --stdio` relays the bytes to its daemon's socket
//! (`remote::stdio`), so the protocol — requests, replies, streams, attach frames —
//! is the same as over a local socket, and nothing but sshd listens on the host.
//!
//! ssh's stderr is kept (its last 4 KiB, by a thread of its own that ends with
//! ssh) and shown only when the connection fails: "Connection refused", "Permission
//! denied", or the remote side's own words.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::url::SshTarget;
use crate::control::client::{Carrier, Client, ClientError};

/// The environment variable with the ssh command line (words split as a shell
/// would), like git's `GIT_SSH_COMMAND`; default `ssh`.
pub const SSH_COMMAND_VAR: &str = "TASKMASTER_SSH_COMMAND";
/// The environment variable naming the remote `taskmasterctl` (a command line
/// prefix given to the remote shell); default `taskmasterctl`, found on its PATH.
pub const REMOTE_CTL_VAR: &str = "TASKMASTER_REMOTE_CTL";

/// Options given after the user's own ssh command line: never a question on the
/// terminal (a password prompt would hang a script or a gathered command), 10 s
/// to connect, and a host that stops answering given up after 45 s (a `tail -f`
/// or `attach` would otherwise wait for TCP to notice, hours). ssh keeps the first
/// value it reads for an option, so a `-o` in `TASKMASTER_SSH_COMMAND` overrides
/// these (an ssh_config file, read after the command line, does not).
pub const DEFAULT_OPTIONS: [&str; 8] = [
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=10",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=3",
];

/// How long a connection's ssh may take to end once its socket has closed
/// before it is killed.
const END_GRACE: Duration = Duration::from_secs(1);
/// How long a failed connection waits for ssh's exit and last words.
const FAILURE_WAIT: Duration = Duration::from_secs(5);
/// The most of ssh's stderr kept (its end).
const STDERR_KEPT: usize = 4096;

/// How ssh is run: the command and the remote `taskmasterctl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSettings {
    command: Vec<String>,
    remote_ctl: String,
}

impl SshSettings {
    /// From [`SSH_COMMAND_VAR`] and [`REMOTE_CTL_VAR`]; an error names the variable.
    pub fn from_env() -> Result<SshSettings, String> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        SshSettings::from_values(var(SSH_COMMAND_VAR), var(REMOTE_CTL_VAR))
    }

    pub fn from_values(
        command: Option<String>,
        remote_ctl: Option<String>,
    ) -> Result<SshSettings, String> {
        let command = match command {
            None => vec!["ssh".to_string()],
            Some(line) => match shlex::split(&line) {
                Some(words) if !words.is_empty() => words,
                _ => return Err(format!("{SSH_COMMAND_VAR}: unbalanced quotes in {line:?}")),
            },
        };
        Ok(SshSettings {
            command,
            remote_ctl: remote_ctl.unwrap_or_else(|| "taskmasterctl".to_string()),
        })
    }

    /// The remote command: the relay, on the URL's socket (quoted for the
    /// remote shell) or on the remote default.
    pub fn remote_command(&self, target: &SshTarget) -> String {
        let mut line = format!("{} --stdio", self.remote_ctl);
        if let Some(socket) = &target.socket {
            let quoted = shlex::try_quote(socket).unwrap_or_default();
            line.push_str(" -s ");
            line.push_str(&quoted);
        }
        line
    }

    /// The whole ssh command line. The host comes after `--`, so that nothing in it
    /// is ever read as an option (the URL's check refuses a leading `-` as well).
    pub fn argv(&self, target: &SshTarget) -> Vec<String> {
        let mut argv = self.command.clone();
        argv.push("-T".into());
        argv.extend(DEFAULT_OPTIONS.iter().map(|o| o.to_string()));
        if let Some(user) = &target.user {
            argv.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(port) = target.port {
            argv.extend(["-p".to_string(), port.to_string()]);
        }
        argv.push("--".into());
        argv.push(target.host.clone());
        argv.push(self.remote_command(target));
        argv
    }

    /// Starts ssh to `target` and returns the client side of the connection. Only
    /// a failure to start ssh is an error here: whether the host answers is known
    /// at the first reply.
    pub fn connect(&self, target: &SshTarget) -> Result<Client, ClientError> {
        let place = target.to_string();
        let unreachable = |why: String| ClientError::Unreachable {
            place: place.clone(),
            why,
        };
        let argv = self.argv(target);
        let (ours, theirs) = UnixStream::pair().map_err(|e| unreachable(e.to_string()))?;
        let their_out = theirs.try_clone().map_err(|e| unreachable(e.to_string()))?;
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::from(OwnedFd::from(their_out)))
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| unreachable(format!("cannot run {}: {e}", argv[0])))?;
        let carrier = SshProcess::watch(child);
        Client::over(place.clone(), ours, Some(Box::new(carrier)))
            .map_err(|e| unreachable(e.to_string()))
    }
}

/// The ssh process of one connection, ended and reaped when the connection is dropped.
struct SshProcess {
    child: Child,
    /// The end of what ssh wrote on its stderr.
    said: Arc<Mutex<Vec<u8>>>,
    /// Ready once ssh's stderr reached its end (the reader thread is done).
    said_all: Option<Receiver<()>>,
    /// Readable once ssh has exited; none if the kernel gave none (then ssh is
    /// not waited for, only killed).
    pidfd: Option<OwnedFd>,
}

impl SshProcess {
    /// `child` with what watches it: its stderr read by a thread, its pidfd.
    fn watch(mut child: Child) -> SshProcess {
        let said = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done_rx) = sync_channel(1);
        let mut said_all = None;
        if let Some(mut stderr) = child.stderr.take() {
            let sink = said.clone();
            let reader = std::thread::Builder::new()
                .name("ssh-stderr".into())
                .stack_size(crate::stack::THREAD_STACK)
                .spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = stderr.read(&mut buf) {
                        let mut kept = sink.lock();
                        kept.extend_from_slice(&buf[..n]);
                        let excess = kept.len().saturating_sub(STDERR_KEPT);
                        kept.drain(..excess);
                    }
                    let _ = done_tx.send(());
                });
            // Without the thread, stderr is closed unread: a message from ssh then
            // ends it (SIGPIPE), so the connection fails rather than ssh waiting
            // on a full pipe for ever.
            if reader.is_ok() {
                said_all = Some(done_rx);
            }
        }
        let pidfd = crate::sys::pidfd::pidfd_open(child.id() as i32).ok();
        SshProcess {
            child,
            said,
            said_all,
            pidfd,
        }
    }

    /// Waits at most `timeout` for ssh to exit; its status if it did.
    fn exited_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(pidfd) = &self.pidfd {
            let deadline = Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
                let mut poll = [nix::poll::PollFd::new(
                    pidfd.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                // A signal (SIGWINCH while attached) cuts the wait short: wait on.
                match nix::poll::poll(&mut poll, nix::poll::PollTimeout::from(ms)) {
                    Err(nix::errno::Errno::EINTR) if !left.is_zero() => continue,
                    _ => break,
                }
            }
        }
        self.child.try_wait().ok().flatten()
    }
}

impl Carrier for SshProcess {
    fn why_ended(&mut self) -> String {
        let status = self.exited_within(FAILURE_WAIT);
        if let Some(done) = &self.said_all {
            let _ = done.recv_timeout(END_GRACE);
        }
        let said = last_words(&self.said.lock());
        explain(status.map(Ended::from), &said)
    }
}

impl Drop for SshProcess {
    fn drop(&mut self) {
        // The socket is closed by now (dropped before the carrier): ssh ends the
        // remote relay and exits on its own.
        if self.exited_within(END_GRACE).is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// How ssh ended, as far as the client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Code(i32),
    Signal(i32),
}

impl From<ExitStatus> for Ended {
    fn from(status: ExitStatus) -> Ended {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Ended::Code(code),
            (None, Some(sig)) => Ended::Signal(sig),
            (None, None) => Ended::Code(-1),
        }
    }
}

/// The last three lines ssh (or the remote side) wrote on stderr, on one line.
pub fn last_words(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(3)..].join("; ")
}

/// Why a connection through ssh ended, from how ssh ended (`None`: it had not
/// yet) and its last words. ssh exits 255 for its own failures and otherwise with
/// the remote command's status: 127 is the remote shell not finding it.
pub fn explain(ended: Option<Ended>, said: &str) -> String {
    let or = |fallback: String| {
        if said.is_empty() {
            fallback
        } else {
            said.to_string()
        }
    };
    match ended {
        Some(Ended::Code(255)) => or("ssh failed (exit status 255)".into()),
        Some(Ended::Code(127)) => format!(
            "{} (is taskmasterctl on the remote PATH? {REMOTE_CTL_VAR} names it)",
            or("the remote shell could not run taskmasterctl".into())
        ),
        Some(Ended::Code(code)) => or(format!(
            "the remote taskmasterctl --stdio ended with status {code}"
        )),
        Some(Ended::Signal(sig)) => or(format!("ssh was killed by signal {sig}")),
        None => or("ssh closed the connection".into()),
    }
}

#[cfg(test)]
#[path = "ssh_tests.rs"]
mod tests;
