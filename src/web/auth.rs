//! Who may use the dashboard (README: Web dashboard, Security).
//!
//! * The access token: 32 random bytes made at start, written to a file only the
//!   daemon's user can read (next to the control socket) and given by
//!   `taskmasterctl web-url`. Accepted as `Authorization: Bearer TOKEN`, as
//!   `?token=TOKEN` on the page's first load (answered with a cookie holding it,
//!   HttpOnly and SameSite=Strict, and a redirect to the bare URL), and then as
//!   that cookie.
//! * With `http.auth`, also the user and password (HTTP Basic, checked against
//!   the Argon2 hash); a success is answered with the same cookie, so the slow
//!   hash is checked once per browser session, not per request.
//!
//! Requests that change something (POST, WebSocket) must also come from the
//! dashboard's own page: a browser always names the page's origin, and it must be
//! this server's. Only a Bearer token — which a browser never sends by itself —
//! may come without an Origin (scripts, curl).

use std::io::Read;
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;

use super::http::Request;
use crate::config::HttpAuth;

/// The session cookie's name.
pub const COOKIE: &str = "taskmaster_session";

/// Password checks under way at once. Each holds Argon2's 19 MiB for tens of
/// milliseconds: unbounded, a flood of wrong passwords from the network would
/// be a flood of memory.
const MAX_PASSWORD_CHECKS: usize = 2;

/// The credentials the dashboard accepts.
pub struct Access {
    token: String,
    auth: Option<HttpAuth>,
    /// Password checks under way.
    checking: AtomicUsize,
}

/// Too many password checks are under way: the request is answered 503.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Cookie,
    Bearer,
    /// `?token=` (the page's first load only).
    Query,
    /// HTTP Basic, for `http.auth`'s user.
    Password(String),
}

impl Credential {
    /// Whether a browser sends it by itself (so a cross-site request could carry
    /// it): then the Origin must be this server's.
    pub fn ambient(&self) -> bool {
        !matches!(self, Credential::Bearer)
    }

    /// The user, for the event log.
    pub fn user(&self) -> Option<&str> {
        match self {
            Credential::Password(user) => Some(user),
            _ => None,
        }
    }
}

impl Access {
    pub fn new(token: String, auth: Option<HttpAuth>) -> Access {
        Access {
            token,
            auth,
            checking: AtomicUsize::new(0),
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether a password may be given (the 401 then asks the browser for one).
    pub fn has_password(&self) -> bool {
        self.auth.is_some()
    }

    /// The request's credential, if one is valid. `?token=` counts only for
    /// `query_ok` requests (the page itself, loaded with GET).
    pub fn check(&self, request: &Request, query_ok: bool) -> Result<Option<Credential>, Busy> {
        if let Some(value) = cookie(request, COOKIE) {
            if same(value, &self.token) {
                return Ok(Some(Credential::Cookie));
            }
        }
        let authorization = request.header("authorization").unwrap_or("");
        let (scheme, value) = authorization.split_once(' ').unwrap_or(("", ""));
        if scheme.eq_ignore_ascii_case("bearer") && same(value.trim(), &self.token) {
            return Ok(Some(Credential::Bearer));
        }
        if query_ok
            && request
                .query_param("token")
                .is_some_and(|t| same(&t, &self.token))
        {
            return Ok(Some(Credential::Query));
        }
        if scheme.eq_ignore_ascii_case("basic") && self.auth.is_some() {
            if self.checking.fetch_add(1, Ordering::SeqCst) >= MAX_PASSWORD_CHECKS {
                self.checking.fetch_sub(1, Ordering::SeqCst);
                return Err(Busy);
            }
            let user = self.password_user(value.trim());
            self.checking.fetch_sub(1, Ordering::SeqCst);
            return Ok(user.map(Credential::Password));
        }
        Ok(None)
    }

    /// The user of Basic credentials `encoded`, if they are `http.auth`'s.
    fn password_user(&self, encoded: &str) -> Option<String> {
        let auth = self.auth.as_ref()?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        if !same(user, &auth.user) {
            return None;
        }
        let hash = argon2::PasswordHash::new(&auth.password_hash).ok()?;
        use argon2::PasswordVerifier;
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .ok()?;
        Some(user.to_string())
    }

    /// The cookie that stands for the token from now on.
    pub fn set_cookie(&self) -> String {
        format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", self.token)
    }
}

/// Whether the request comes from a page of this server: its Origin (which a
/// browser sets on every POST and WebSocket) names the host it was sent to.
/// `None`: no Origin at all (not a browser's request).
pub fn same_origin(request: &Request) -> Option<bool> {
    let origin = request.header("origin")?;
    let host = request.header("host").unwrap_or("");
    Some(!host.is_empty() && origin == format!("http://{host}"))
}

/// A cookie's value from the request's Cookie header.
fn cookie<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    let header = request.header("cookie")?;
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

/// Compares in a time that does not depend on where they differ.
fn same(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 bytes from the kernel's random source, in hex.
pub fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Where the token is kept: next to the control socket.
pub fn token_path(socket: &Path) -> PathBuf {
    let mut path = socket.as_os_str().to_owned();
    path.push(".web-token");
    PathBuf::from(path)
}

/// Writes the token to `path`, readable by the daemon's user only (a file left
/// by an earlier run is replaced, whatever its mode was).
pub fn write_token(path: &Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{token}\n").as_bytes())
}

/// `taskmaster --hash-password`: reads a password (a line of standard input; not
/// echoed on a terminal) and prints its Argon2 hash for `http.auth`.
pub fn hash_password_from_stdin() -> Result<String, String> {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let saved = terminal
        .then(|| nix::sys::termios::tcgetattr(&stdin).ok())
        .flatten();
    if let Some(mode) = &saved {
        eprint!("Password: ");
        let mut quiet = mode.clone();
        quiet
            .local_flags
            .remove(nix::sys::termios::LocalFlags::ECHO);
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet);
    }
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    if let Some(mode) = &saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, mode);
        eprintln!();
    }
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("empty password".to_string());
    }
    hash_password(password)
}

/// The password's Argon2id hash (default parameters, a random salt) as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::PasswordHasher;
    let mut salt = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut salt))
        .map_err(|e| format!("cannot read random bytes: {e}"))?;
    let salt = argon2::password_hash::SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)], query: &str) -> Request {
        Request {
            method: "GET".into(),
            path: "/".into(),
            query: query.into(),
            headers: (headers.iter())
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
            leftover: Vec::new(),
        }
    }

    #[test]
    fn the_token_is_accepted_as_cookie_bearer_or_first_load_query() {
        let access = Access::new("abc".into(), None);
        let ok =
            |h: &[(&str, &str)], q: &str, query_ok| access.check(&request(h, q), query_ok).unwrap();
        assert_eq!(
            ok(&[("cookie", "x=1; taskmaster_session=abc")], "", false),
            Some(Credential::Cookie)
        );
        assert_eq!(
            ok(&[("authorization", "Bearer abc")], "", false),
            Some(Credential::Bearer)
        );
        assert_eq!(ok(&[], "token=abc", true), Some(Credential::Query));
        assert_eq!(ok(&[], "token=abc", false), None);
        assert_eq!(ok(&[("authorization", "Bearer abd")], "", false), None);
        assert_eq!(ok(&[("cookie", "taskmaster_session=ab")], "", false), None);
        assert_eq!(ok(&[], "", true), None);
    }

    #[test]
    fn a_password_is_checked_against_its_hash() {
        let hash = hash_password("s3cret").unwrap();
        let access = Access::new(
            "t".into(),
            Some(HttpAuth {
                user: "admin".into(),
                password_hash: hash,
            }),
        );
        let basic = |text: &str| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(text);
            access
                .check(
                    &request(&[("authorization", &format!("Basic {encoded}"))], ""),
                    false,
                )
                .unwrap()
        };
        assert_eq!(
            basic("admin:s3cret"),
            Some(Credential::Password("admin".into()))
        );
        assert_eq!(basic("admin:wrong"), None);
        assert_eq!(basic("root:s3cret"), None);
        assert_eq!(basic("garbage"), None);
    }

    #[test]
    fn password_checks_at_once_are_bounded() {
        let auth = HttpAuth {
            user: "admin".into(),
            password_hash: hash_password("pw").unwrap(),
        };
        let access = Access::new("t".into(), Some(auth));
        access.checking.store(MAX_PASSWORD_CHECKS, Ordering::SeqCst);
        let encoded = base64::engine::general_purpose::STANDARD.encode("admin:pw");
        let basic = format!("Basic {encoded}");
        let asked = request(&[("authorization", &basic)], "");
        assert_eq!(access.check(&asked, false), Err(Busy));
        // The token needs no check, so is never turned away.
        let bearer = request(&[("authorization", "Bearer t")], "");
        assert_eq!(access.check(&bearer, false), Ok(Some(Credential::Bearer)));
        access.checking.store(0, Ordering::SeqCst);
        assert_eq!(
            access.check(&asked, false),
            Ok(Some(Credential::Password("admin".into())))
        );
    }

    #[test]
    fn the_origin_must_be_this_host() {
        let from = |origin: &str| {
            same_origin(&request(
                &[("host", "127.0.0.1:9001"), ("origin", origin)],
                "",
            ))
        };
        assert_eq!(from("http://127.0.0.1:9001"), Some(true));
        assert_eq!(from("http://evil.example"), Some(false));
        assert_eq!(from("null"), Some(false));
        assert_eq!(same_origin(&request(&[("host", "h")], "")), None);
    }
}
