//! Remote taskmasters, the client's side (README: Many hosts over SSH):
//! `taskmasterctl -H ssh://[user@]host[:port][/socket]` reaches a daemon on another
//! host through OpenSSH — no protocol or port of our own: ssh runs `taskmasterctl
//! --stdio` there, which relays the ordinary socket protocol to the daemon.
//!
//! * `url` — pure: the URL, checked; the labels of several hosts;
//! * `hosts` — `-H`, `--hosts FILE`, `TASKMASTER_HOST`;
//! * `ssh` — the ssh process under a [`Client`], and why it failed;
//! * `stdio` — the relay on the remote side;
//! * `fanout` — one command on several hosts, gathered.
//!
//! Like `terminal`, it reaches `control` only through `protocol` and `client`;
//! the command layer imports nothing of it.

pub mod fanout;
pub mod hosts;
pub mod ssh;
pub mod stdio;
pub mod url;

use std::path::PathBuf;

use crate::control::client::{Client, ClientError};

/// Where one daemon is: its socket on this host, or a remote one.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Socket(PathBuf),
    Ssh {
        target: url::SshTarget,
        settings: ssh::SshSettings,
    },
}

impl Endpoint {
    /// A new connection to the daemon.
    pub fn connect(&self) -> Result<Client, ClientError> {
        match self {
            Endpoint::Socket(path) => Client::connect(path),
            Endpoint::Ssh { target, settings } => settings.connect(target),
        }
    }

    /// A new connection known to reach the daemon: over ssh, whether the host
    /// answers is known only from a reply, so one is asked for (`version`).
    pub fn connect_checked(&self) -> Result<Client, ClientError> {
        let mut client = self.connect()?;
        if let Endpoint::Ssh { .. } = self {
            client.request("version", &[])?;
        }
        Ok(client)
    }

    /// How messages name it: the socket's path or the URL.
    pub fn place(&self) -> String {
        match self {
            Endpoint::Socket(path) => path.display().to_string(),
            Endpoint::Ssh { target, .. } => target.to_string(),
        }
    }
}
