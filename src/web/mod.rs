//! The web dashboard (README: Web dashboard): an HTTP server, off unless
//! `taskmaster.http.listen` is set, that serves one page and is the socket
//! protocol over another transport — `POST /api/command` takes the same request
//! line and gives the same reply, through the same `control::execute_words` and
//! `control::finish` — with the live parts over WebSockets: `/ws` pushes status
//! and events and follows an instance's output, `/ws/attach` is an attach session.
//!
//! Threads, no async runtime: one thread per connection, each admitted by the
//! control socket's own `Connections` (the same cap and descriptor reserve, and
//! counted by `status -l`). Every request is authenticated (`auth.rs`); nothing
//! is fetched from elsewhere at run time (`assets.rs`).

mod api;
mod assets;
mod attach;
pub mod auth;
pub mod http;
mod live;
mod server;
mod ws;

pub use server::{bind, Bound};

use std::path::{Path, PathBuf};

use crate::config::HttpSettings;
use crate::control::Reply;

/// The stack of a thread that runs commands (a connection's, `web-command`,
/// `web-status`): as a control connection's.
pub const COMMAND_STACK: usize = 256 * 1024;

/// Starts a named thread with `stack` bytes of stack.
fn spawn(name: &str, stack: usize, f: impl FnOnce() + Send + 'static) -> Result<(), String> {
    std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(stack)
        .spawn(f)
        .map(drop)
        .map_err(|e| format!("cannot start the {name} thread: {e}"))
}

/// Starts a thread that only copies (a writer, a follower, a reader).
fn spawn_small(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), String> {
    spawn(name, crate::stack::THREAD_STACK, f)
}

/// What a reload that changes `taskmaster.http` says: the server keeps its
/// address, credentials and token until the next start.
pub const SETTINGS_AT_START: &str =
    "taskmaster: http changed: the web dashboard keeps its settings until taskmaster starts again";

/// Binds the dashboard's listener when `http` is configured.
pub fn bind_if_configured(
    http: Option<&HttpSettings>,
    socket: &Path,
    kept_token: Option<String>,
) -> Result<Option<Bound>, String> {
    http.map(|settings| bind(settings, socket, kept_token))
        .transpose()
}

/// `web-url`'s answer for the daemon's hooks, and the token file to remove at
/// exit. The settings are read at start only (README: Web dashboard).
pub fn url_reply(web: Option<&Bound>) -> (Box<dyn Fn() -> Reply + Send + Sync>, Option<PathBuf>) {
    match web {
        Some(bound) => {
            let url = bound.url();
            (
                Box::new(move || Reply::ok(url.clone())),
                Some(bound.token_file()),
            )
        }
        None => (
            Box::new(|| {
                Reply::error(
                    "ERROR (the web dashboard is off: set taskmaster.http.listen, like \
                     127.0.0.1:9001, and start taskmaster again)",
                )
            }),
            None,
        ),
    }
}
