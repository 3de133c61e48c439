//! `taskmaster.http`: the web dashboard's settings (README: Web dashboard). Off
//! unless `listen` is given. Listening anywhere but on a loopback address is
//! refused unless `auth` is set: the access token alone is fine on a machine's
//! own loopback (reached from elsewhere over an SSH tunnel), not on a network.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::check::wrong;
use super::tree::Node;

/// The dashboard's server: where it listens and who may use it besides the
/// holder of the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub auth: Option<HttpAuth>,
}

/// `auth: {user, password_hash}`: a user name and the PHC string of an Argon2
/// hash of the password (`taskmaster --hash-password` makes one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAuth {
    pub user: String,
    pub password_hash: String,
}

const KEYS: &[&str] = &["listen", "auth"];
const AUTH_KEYS: &[&str] = &["user", "password_hash"];

/// `http: {listen: ADDRESS:PORT, auth: {user, password_hash}}`; null: off.
pub(super) fn http(node: &Node) -> Result<Option<HttpSettings>, String> {
    let entries = match node {
        Node::Null => return Ok(None),
        Node::Map(entries) => entries,
        other => return Err(wrong(other, "a mapping with listen (and auth)")),
    };
    if let Some((key, _)) = entries.iter().find(|(k, _)| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown http setting `{key}` (known: {})",
            KEYS.join(", ")
        ));
    }
    let listen = match node.get("listen") {
        Some(Node::Str(text)) => listen_address(text)?,
        Some(other) => return Err(format!("listen: {}", wrong(other, "ADDRESS:PORT"))),
        None => return Err("missing `listen` (like 127.0.0.1:9001)".to_string()),
    };
    let auth = match node.get("auth") {
        None | Some(Node::Null) => None,
        Some(auth) => Some(http_auth(auth)?),
    };
    if auth.is_none() && !listen.ip().is_loopback() {
        return Err(format!(
            "listen: {listen} is not a loopback address: the dashboard listens on a \
             network only with `auth` (user and password_hash) set; or keep it on \
             127.0.0.1 and reach it over an SSH tunnel"
        ));
    }
    Ok(Some(HttpSettings { listen, auth }))
}

/// `IP:PORT` (`[::1]:9001` for IPv6), or `localhost:PORT`.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    let bad = || {
        format!("listen: bad address {text:?}: expected IP:PORT, like 127.0.0.1:9001 or [::1]:9001")
    };
    if let Some(port) = text.strip_prefix("localhost:") {
        let port = port.parse::<u16>().map_err(|_| bad())?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse::<SocketAddr>().map_err(|_| bad())
}

fn http_auth(node: &Node) -> Result<HttpAuth, String> {
    let Node::Map(entries) = node else {
        return Err(format!(
            "auth: {}",
            wrong(node, "a mapping with user and password_hash")
        ));
    };
    if let Some((key, _)) = entries
        .iter()
        .find(|(k, _)| !AUTH_KEYS.contains(&k.as_str()))
    {
        return Err(format!(
            "auth: unknown setting `{key}` (known: user, password_hash)"
        ));
    }
    let text = |key: &str| match node.get(key) {
        Some(Node::Str(s)) if !s.is_empty() => Ok(s.clone()),
        Some(other) => Err(format!(
            "auth.{key}: {}",
            wrong(other, "a non-empty string")
        )),
        None => Err(format!("auth: missing `{key}`")),
    };
    let (user, password_hash) = (text("user")?, text("password_hash")?);
    if user.contains(':') || user.chars().any(char::is_control) {
        return Err("auth.user: no `:` or control character in a user name".to_string());
    }
    if let Err(e) = argon2::PasswordHash::new(&password_hash) {
        return Err(format!(
            "auth.password_hash: not a password hash ({e}); make one with \
             `taskmaster --hash-password`"
        ));
    }
    Ok(HttpAuth {
        user,
        password_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Option<HttpSettings>, String> {
        let mut issues = Vec::new();
        http(&super::super::tree::build(yaml, &mut issues).unwrap())
    }

    const HASH: &str = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$8Nw9ng0IRrYKUhQ4ib/S8Q";

    #[test]
    fn listen_on_loopback_needs_no_auth() {
        let s = parse("listen: 127.0.0.1:9001").unwrap().unwrap();
        assert_eq!(s.listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(s.auth, None);
        let s = parse("listen: localhost:0").unwrap().unwrap();
        assert_eq!(s.listen, "127.0.0.1:0".parse().unwrap());
        assert!(parse("listen: '[::1]:9001'").unwrap().is_some());
        assert_eq!(parse("~").unwrap(), None);
    }

    #[test]
    fn a_network_address_without_auth_is_refused() {
        let e = parse("listen: 0.0.0.0:9001").unwrap_err();
        assert!(e.contains("not a loopback address"), "{e}");
        let with = format!("listen: 0.0.0.0:9001\nauth: {{user: admin, password_hash: '{HASH}'}}");
        let s = parse(&with).unwrap().unwrap();
        assert_eq!(s.auth.unwrap().user, "admin");
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        for (yaml, says) in [
            ("listen: 9001", "ADDRESS:PORT"),
            ("listen: 'nowhere:80'", "bad address"),
            ("{}", "missing `listen`"),
            ("port: 80", "unknown http setting `port`"),
            ("[1]", "a mapping"),
            (
                "listen: 127.0.0.1:1\nauth: {user: a, password_hash: secret}",
                "not a password hash",
            ),
            (
                "listen: 127.0.0.1:1\nauth: {user: a}",
                "missing `password_hash`",
            ),
            (
                "listen: 127.0.0.1:1\nauth: {user: 'a:b', password_hash: x}",
                "no `:`",
            ),
        ] {
            let e = parse(yaml).unwrap_err();
            assert!(e.contains(says), "{yaml}: {e}");
        }
    }
}
