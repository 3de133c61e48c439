//! `ssh://[user@]host[:port][/socket]`: where a remote taskmaster is (README:
//! Many hosts over SSH). Pure: parsing, checking, the URL written back, and the
//! short labels that name hosts in a gathered reply.
//!
//! The parts end up as words of an `ssh` command line and of a remote shell
//! command, so they are checked strictly: a host or user that begins with `-`
//! would be read by ssh as an option, and no part may hold a control character.

use std::fmt;

/// One remote taskmaster, reached through OpenSSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    /// A name or an address; an IPv6 address without its brackets.
    pub host: String,
    pub port: Option<u16>,
    /// The remote daemon's control socket, an absolute path; none: the remote
    /// `taskmasterctl`'s own default.
    pub socket: Option<String>,
}

/// Why a `-H` value is not a usable URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a URL (expected ssh://[user@]host[:port][/socket])")]
    NotUrl,
    #[error("unknown scheme '{0}://' (only ssh:// is supported)")]
    UnknownScheme(String),
    #[error("empty host")]
    EmptyHost,
    #[error("bad host '{0}' (letters, digits, '.', '-' and '_', or an [IPv6] address; not starting with '-')")]
    BadHost(String),
    #[error("empty user before '@'")]
    EmptyUser,
    #[error("bad user '{0}' (no ':' — passwords are not taken from URLs, use keys — no space, not starting with '-')")]
    BadUser(String),
    #[error("bad port '{0}' (a number from 1 to 65535)")]
    BadPort(String),
    #[error("control characters are not allowed")]
    ControlCharacter,
}

const SCHEME: &str = "ssh://";

/// Parses and checks `text`.
pub fn parse(text: &str) -> Result<SshTarget, UrlError> {
    if text.chars().any(char::is_control) {
        return Err(UrlError::ControlCharacter);
    }
    let Some((scheme, _)) = text.split_once("://") else {
        return Err(UrlError::NotUrl);
    };
    if !text.starts_with(SCHEME) {
        return Err(UrlError::UnknownScheme(scheme.to_string()));
    }
    let rest = &text[SCHEME.len()..];
    let (authority, socket) = match rest.find('/') {
        Some(at) => (&rest[..at], Some(&rest[at..])),
        None => (rest, None),
    };
    // `ssh://host/` names no socket, as `ssh://host` does.
    let socket = socket.filter(|s| *s != "/").map(str::to_string);
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, host_port)) => (Some(check_user(user)?), host_port),
        None => (None, authority),
    };
    let (host, port) = split_port(host_port)?;
    Ok(SshTarget {
        user,
        host,
        port,
        socket,
    })
}

fn check_user(user: &str) -> Result<String, UrlError> {
    if user.is_empty() {
        return Err(UrlError::EmptyUser);
    }
    if user.starts_with('-') || user.contains([':', '@', ' ']) {
        return Err(UrlError::BadUser(user.to_string()));
    }
    Ok(user.to_string())
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_port(host_port: &str) -> Result<(String, Option<u16>), UrlError> {
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let Some((v6, after)) = bracketed.split_once(']') else {
            return Err(UrlError::BadHost(host_port.to_string()));
        };
        let ok = !v6.is_empty()
            && v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if !ok {
            return Err(UrlError::BadHost(host_port.to_string()));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| UrlError::BadHost(host_port.to_string()))?,
            ),
        };
        (v6.to_string(), port)
    } else {
        let (host, port) = match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        };
        if host.is_empty() {
            return Err(UrlError::EmptyHost);
        }
        let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        if host.starts_with('-') || !host.chars().all(name_char) {
            return Err(UrlError::BadHost(host.to_string()));
        }
        (host.to_string(), port)
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(UrlError::BadPort(p.to_string())),
        },
    };
    Ok((host, port))
}

impl SshTarget {
    /// The host as a URL writes it (an IPv6 address in brackets).
    fn host_text(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The target named with the first `detail` of: host, port, user, socket.
    fn label_at(&self, detail: usize) -> String {
        let mut out = String::new();
        if let (Some(user), true) = (&self.user, detail >= 2) {
            out.push_str(user);
            out.push('@');
        }
        out.push_str(&self.host_text());
        if let (Some(port), true) = (self.port, detail >= 1) {
            out.push_str(&format!(":{port}"));
        }
        if let (Some(socket), true) = (&self.socket, detail >= 3) {
            out.push_str(socket);
        }
        out
    }
}

impl fmt::Display for SshTarget {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(out, "{SCHEME}{}", self.label_at(3))
    }
}

/// The names of `targets` in a gathered reply: each its host alone, or, when two
/// would then look the same, with as much more (port, then user, then socket) as
/// tells them all apart — the same amount for every one, so the column reads
/// evenly.
pub fn labels(targets: &[SshTarget]) -> Vec<String> {
    let mut labels = Vec::new();
    for detail in 0..=3 {
        labels = targets.iter().map(|t| t.label_at(detail)).collect();
        let mut sorted = labels.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() == labels.len() {
            break;
        }
    }
    labels
}

#[cfg(test)]
#[path = "url_tests.rs"]
mod tests;
