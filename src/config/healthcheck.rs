//! A program's `healthcheck:` (README: Health checks) and `depends_on`'s map
//! form (`depends_on: {db: healthy}`): the types, and their checks with the
//! file:line messages of the rest of the loader.
//!
//! A check is one of three probes — a command run like the program (its
//! environment, user and working directory), an HTTP GET, a TCP connect — with
//! its schedule and what `retries` failures in a row do. Everything the daemon
//! needs to run one is decided here, so a URL or an address that could never
//! work is a config error rather than an `unhealthy` reason.

use std::collections::BTreeMap;
use std::time::Duration;

use super::check::{wrong, At, Checker};
use super::fields;
use super::model::ProgramConfig;
use super::tree::Node;

/// `healthcheck:`: one probe, run on the instance's own schedule while it is RUNNING.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    pub probe: Probe,
    /// From the end of one check to the start of the next.
    pub interval: Duration,
    /// A check still going after this long has failed (a command is killed).
    pub timeout: Duration,
    /// Failed checks in a row that make the instance unhealthy.
    pub retries: u32,
    /// After a spawn, failed checks do not count for this long (a pass does).
    pub start_period: Duration,
    pub on_failure: OnFailure,
}

/// What one check does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Run a command (split like `cmd`) with the program's environment, user and
    /// working directory: exit status 0 passes.
    Cmd { cmd: String, argv: Vec<String> },
    /// `GET` the URL: a status from 200 to 399 passes.
    Http(HttpTarget),
    /// Connect to `host:port`: an accepted connection passes.
    Tcp { host: String, port: u16 },
}

/// An `http://` URL, taken apart once at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// As written, for messages.
    pub url: String,
    /// A name or an address (an IPv6 one without its brackets).
    pub host: String,
    pub port: u16,
    /// The request target: the path and query, `/` when the URL has none.
    pub path: String,
}

/// What `retries` failed checks in a row do, besides `status` saying `unhealthy`
/// and the event log saying why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Stop the instance by its stop rules and start it again.
    Restart,
    /// Send the `unhealthy` alert and notice.
    Alert,
    /// Nothing more.
    Nothing,
}

const KEYS: &[&str] = &[
    "cmd",
    "http",
    "tcp",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "on_failure",
];
const PROBES: [&str; 3] = ["cmd", "http", "tcp"];

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: u32 = 3;
/// The shortest `interval`: checks back to back would keep the daemon busy.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// `healthcheck`: absent or null is none; otherwise a mapping with exactly one of
/// `cmd`, `http`, `tcp`. `None` after recording the errors.
pub(super) fn healthcheck(
    c: &mut Checker,
    node: Option<&Node>,
    at: &At,
) -> Option<Option<HealthCheck>> {
    let entries = match node {
        None | Some(Node::Null) => return Some(None),
        Some(Node::Map(entries)) => entries,
        Some(other) => {
            let expected = "a mapping with one of cmd, http or tcp (and interval, timeout, retries, start_period, on_failure)";
            c.error(at, wrong(other, expected));
            return None;
        }
    };
    c.unknown_keys(entries, at, KEYS, "healthcheck setting");
    let map = node?;
    let given: Vec<&str> = PROBES
        .into_iter()
        .filter(|k| map.get(k).is_some())
        .collect();
    let probe = match given.as_slice() {
        [] => {
            c.error(
                at,
                "missing the check: one of cmd (a command), http (a URL) or tcp (HOST:PORT)",
            );
            None
        }
        ["cmd"] => c
            .take(
                &at.key("cmd"),
                map.get("cmd").map_or(Err(String::new()), fields::command),
            )
            .map(|(cmd, argv)| Probe::Cmd { cmd, argv }),
        ["http"] => c
            .take(
                &at.key("http"),
                map.get("http").map_or(Err(String::new()), http_url),
            )
            .map(Probe::Http),
        ["tcp"] => c
            .take(
                &at.key("tcp"),
                map.get("tcp").map_or(Err(String::new()), tcp_address),
            )
            .map(|(host, port)| Probe::Tcp { host, port }),
        several => {
            let message = format!(
                "one check only: found {}, expected one of cmd, http or tcp",
                several.join(" and ")
            );
            c.error(&at.key(several[1]), message);
            None
        }
    };
    let interval = c.field(map, at, "interval", DEFAULT_INTERVAL, |n| {
        positive_seconds(n, MIN_INTERVAL)
    });
    let timeout = c.field(map, at, "timeout", DEFAULT_TIMEOUT, |n| {
        positive_seconds(n, Duration::from_millis(1))
    });
    let retries = c.field(map, at, "retries", DEFAULT_RETRIES, |n| {
        fields::bounded(n, 1, 1_000_000)
    });
    let start_period = c.field(map, at, "start_period", Duration::ZERO, fields::seconds);
    let on_failure = c.field(map, at, "on_failure", OnFailure::Alert, on_failure);
    if entries.iter().any(|(k, _)| !KEYS.contains(&k.as_str())) {
        return None;
    }
    Some(Some(HealthCheck {
        probe: probe?,
        interval: interval?,
        timeout: timeout?,
        retries: retries?,
        start_period: start_period?,
        on_failure: on_failure?,
    }))
}

/// A number of seconds of at least `min` (and at most what `seconds` takes).
fn positive_seconds(node: &Node, min: Duration) -> Result<Duration, String> {
    let secs = fields::seconds(node)?;
    if secs < min {
        let expected = format!("a number of seconds ≥ {}", min.as_secs_f64());
        return Err(wrong(node, &expected));
    }
    Ok(secs)
}

fn on_failure(node: &Node) -> Result<OnFailure, String> {
    const EXPECTED: &str = "one of: restart, alert, none";
    match node {
        Node::Str(s) => match s.to_ascii_lowercase().as_str() {
            "restart" => Ok(OnFailure::Restart),
            "alert" => Ok(OnFailure::Alert),
            "none" => Ok(OnFailure::Nothing),
            _ => Err(wrong(node, EXPECTED)),
        },
        _ => Err(wrong(node, EXPECTED)),
    }
}

/// `http://HOST[:PORT][/PATH]`: plain HTTP only (the check runs on this machine
/// or its network), no user name or password in it.
pub(crate) fn http_url(node: &Node) -> Result<HttpTarget, String> {
    let bad = |why: &str| wrong(node, &format!("an http:// URL ({why})"));
    let Node::Str(url) = node else {
        return Err(wrong(node, "an http:// URL"));
    };
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(match url.starts_with("https://") {
            true => bad("https is not supported: check the plain-HTTP port, or use a cmd check"),
            false => bad("it must start with http://"),
        });
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(bad("no user name or password"));
    }
    if path.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err(bad("no spaces or control characters: write them %-encoded"));
    }
    let (host, port) = host_port(authority, Some(80)).map_err(bad)?;
    let path = match path.starts_with('/') {
        true => path.to_string(),
        false => format!("/{path}"),
    };
    Ok(HttpTarget {
        url: url.clone(),
        host,
        port,
        path,
    })
}

/// `HOST:PORT` for a tcp check.
pub(crate) fn tcp_address(node: &Node) -> Result<(String, u16), String> {
    let Node::Str(address) = node else {
        return Err(wrong(node, "HOST:PORT (a string)"));
    };
    host_port(address, None).map_err(|why| wrong(node, &format!("HOST:PORT ({why})")))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `default_port` when none is given
/// (`None`: a port is required).
fn host_port(text: &str, default_port: Option<u16>) -> Result<(String, u16), &'static str> {
    let (host, port) = match text.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or("a `[` without its `]`")?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err("an IPv6 address between the brackets");
            }
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or("`:PORT` after the `]`")?),
                ),
            }
        }
        None => match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        },
    };
    let name_char = |ch: char| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_' | ':');
    if host.is_empty() || !host.chars().all(name_char) {
        return Err("a host name or address");
    }
    let port = match (port, default_port) {
        (Some(port), _) => port.parse::<u16>().ok().filter(|p| *p > 0),
        (None, default) => default,
    };
    let port = port.ok_or("a port from 1 to 65535")?;
    Ok((host.to_string(), port))
}

/// `depends_on`: a name, a list of names (each must be RUNNING), or a mapping
/// of names to `running` or `healthy`. Returns every name, and those that must
/// be healthy.
pub(super) fn depends_on(
    c: &mut Checker,
    node: Option<&Node>,
    at: &At,
) -> Option<(Vec<String>, Vec<String>)> {
    let entries = match node {
        None => return Some((Vec::new(), Vec::new())),
        Some(Node::Map(entries)) => entries,
        Some(other) => {
            return c
                .take(at, fields::names(other))
                .map(|names| (names, Vec::new()))
        }
    };
    let (mut names, mut healthy, mut ok) = (Vec::new(), Vec::new(), true);
    for (name, condition) in entries {
        match condition {
            Node::Str(s) if s.eq_ignore_ascii_case("running") => {}
            Node::Str(s) if s.eq_ignore_ascii_case("healthy") => healthy.push(name.clone()),
            other => {
                c.error(&at.key(name), wrong(other, "running or healthy"));
                ok = false;
            }
        }
        names.push(name.clone());
    }
    ok.then_some((names, healthy))
}

/// The names `depends_on` gives in either form, as far as they can be read
/// (for the unknown-name and cycle checks).
pub(super) fn dependency_names(node: &Node) -> Option<Vec<String>> {
    match node {
        Node::Map(entries) => Some(entries.iter().map(|(k, _)| k.clone()).collect()),
        other => fields::names(other).ok(),
    }
}

/// A program waited for as `healthy` must have a health check: without one it
/// could never be.
pub(super) fn check_healthy_dependencies(
    programs: &BTreeMap<String, ProgramConfig>,
    c: &mut Checker,
    at: &At,
) -> bool {
    let mut ok = true;
    for (name, program) in programs {
        for dep in &program.policy.depends_on_healthy {
            let unchecked = programs
                .get(dep)
                .is_some_and(|p| p.policy.healthcheck.is_none());
            if unchecked {
                let message = format!("`{dep}` has no healthcheck, so it can never be healthy (write `{dep}: running`, or give it a healthcheck)");
                c.error(&at.key(name).key("depends_on").key(dep), message);
                ok = false;
            }
        }
    }
    ok
}
