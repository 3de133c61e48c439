//! Who asked for a command: every transport says it, so the event log can tell
//! who started, stopped, signalled, reloaded or shut down what.

use std::fmt;

/// Where a command came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The daemon's own interactive shell.
    Shell,
    /// A line on the daemon's standard input (a pipe or a file: line mode).
    Stdin,
    /// A client of the control socket, as the kernel names it (SO_PEERCRED).
    Socket {
        /// The client's command name (`/proc/PID/comm`), when it could be read.
        program: Option<String>,
        uid: u32,
        /// 0 when the kernel does not know it (a client in another pid namespace).
        pid: i32,
    },
    /// A signal sent to the daemon (`SIGHUP`, `SIGTERM`, `SIGINT`).
    Signal(&'static str),
    /// The web dashboard: the browser's address, and the user of `http.auth`
    /// when it logged in with the password (none: the access token).
    Web { peer: String, user: Option<String> },
}

impl Source {
    /// A socket client from its peer credentials, named by its command name.
    pub fn socket_client(uid: u32, pid: i32) -> Source {
        let program = (pid > 0)
            .then(|| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
            .flatten()
            .map(|comm| comm.trim_end().to_string())
            .filter(|comm| !comm.is_empty());
        Source::Socket { program, uid, pid }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Shell => f.write_str("the daemon's shell"),
            Source::Stdin => f.write_str("the daemon's standard input"),
            Source::Socket { program, uid, pid } => {
                let who = program.as_deref().unwrap_or("a control socket client");
                match pid {
                    0 => write!(f, "{who} (uid {uid})"),
                    pid => write!(f, "{who} (uid {uid}, pid {pid})"),
                }
            }
            Source::Signal(name) => f.write_str(name),
            Source::Web { peer, user: None } => write!(f, "the web dashboard ({peer})"),
            Source::Web {
                peer,
                user: Some(user),
            } => write!(f, "the web dashboard (user {user}, {peer})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_says_who() {
        assert_eq!(Source::Shell.to_string(), "the daemon's shell");
        assert_eq!(Source::Signal("SIGHUP").to_string(), "SIGHUP");
        let client = Source::Socket {
            program: Some("taskmasterctl".into()),
            uid: 0,
            pid: 1234,
        };
        assert_eq!(client.to_string(), "taskmasterctl (uid 0, pid 1234)");
        let unknown = Source::Socket {
            program: None,
            uid: 1000,
            pid: 0,
        };
        assert_eq!(unknown.to_string(), "a control socket client (uid 1000)");
        let page = Source::Web {
            peer: "127.0.0.1:5000".into(),
            user: None,
        };
        assert_eq!(page.to_string(), "the web dashboard (127.0.0.1:5000)");
        let user = Source::Web {
            peer: "10.0.0.2:5000".into(),
            user: Some("admin".into()),
        };
        assert_eq!(
            user.to_string(),
            "the web dashboard (user admin, 10.0.0.2:5000)"
        );
        let me = Source::socket_client(0, std::process::id() as i32);
        assert!(
            matches!(
                me,
                Source::Socket {
                    program: Some(_),
                    ..
                }
            ),
            "{me:?}"
        );
    }
}
