//! `top` (README: top): a live full-screen view of the instances, in the daemon's
//! own shell and in `taskmasterctl`. The client's side only: the data is the
//! command layer's `top` reply ([`TopSnapshot`]), asked for in-process by the
//! daemon's shell and over the socket by `taskmasterctl`, one request a second
//! while the view is open — so the daemon does nothing for a `top` nobody has open.
//!
//! * `model` — pure: order, scrolling, every text shown (also the terminal-less
//!   snapshot the command answers with, so `control::top` imports it);
//! * `view` — the terminal: ratatui on crossterm, keys, the refresh loop.

pub mod model;
mod view;

use crate::control::client::{Client, ClientError};
use crate::control::protocol::TopSnapshot;

pub use view::{give_back_if_open, run, REFRESH};

/// Whether the live view can run here: stdin and stdout both a terminal.
/// Elsewhere `top` prints one snapshot (the command's text reply).
pub fn usable_terminal() -> bool {
    nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
        && nix::unistd::isatty(std::io::stdout()).unwrap_or(false)
}

/// The snapshot in a `top` reply, or why there is none.
pub fn decode(
    exit: i32,
    output: &str,
    data: Option<&serde_json::value::RawValue>,
) -> Result<TopSnapshot, String> {
    if exit != 0 {
        return Err(output.to_string());
    }
    let data = data.ok_or("the daemon sent no snapshot (is it an older taskmaster?)")?;
    serde_json::from_str(data.get()).map_err(|e| format!("the daemon's snapshot: {e}"))
}

/// The live view over connections that `connect` opens to the daemon
/// (`taskmasterctl top`, over its socket or ssh): one connection, opened again
/// once when it breaks (the daemon's idle timeout, a restart).
pub fn over_connection(connect: impl Fn() -> Result<Client, ClientError>) -> Result<(), String> {
    let mut client: Option<Client> = None;
    let mut fetch = || -> Result<TopSnapshot, String> {
        let mut last = String::new();
        for attempt in 0..2 {
            let mut open = match client.take() {
                Some(c) => c,
                None => connect().map_err(|e| e.to_string())?,
            };
            match open.request("top", &[]) {
                Ok(reply) => {
                    client = Some(open);
                    return decode(reply.exit, &reply.output, reply.data.as_deref());
                }
                Err(e) if attempt == 1 => return Err(e.to_string()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    };
    run(&mut fetch)
}
