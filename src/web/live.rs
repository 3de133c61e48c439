//! `/ws`: the page's live connection (README: Web dashboard).
//!
//! Server → page, text messages (JSON):
//! * `{"type":"status","instances":[…]}` — `status --json`'s table: at once,
//!   after every event (bursts coalesce: one table per pass), and every
//!   [`USAGE_REFRESH`] while the page is open, for CPU and memory;
//! * `{"type":"event","event":{…}}` — one line of `events --json` (a slow page
//!   loses events and gets a `lost` one saying how many);
//! * `{"type":"reply","id":N,"reply":{…}}` — a command's reply line;
//! * `{"type":"tail","seq":N,"name":…,"ok":…,"text":…}` — the last lines of the
//!   output followed from now on, which then comes as binary messages: 4 bytes
//!   of `seq` (big-endian), then the bytes (a slow page loses output and is told
//!   in the stream, as `tail -f` is).
//!
//! Page → server: `{"type":"command","id":N,"command":…,"args":[…]}` (what
//! `POST /api/command` takes), `{"type":"tail","name":…}` (follow that instance's
//! output instead; no name: none).
//!
//! The followers are the socket's own: the hub's event stream, `tail -f`'s
//! `Follow`, `status` itself. Threads: the connection's (reads), `web-write`,
//! `web-status`, `web-events`, a `web-tail` while output is followed, and a
//! `web-command` per command under way (at most [`MAX_COMMANDS`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::ws::{Incoming, Outbox, WsReader};
use crate::control::continuation::{ShutdownAnswer, Sink, StreamMode};
use crate::control::events::{self, EventFormat};
use crate::control::server::response;
use crate::control::FollowCancel;
use crate::control::{
    attach::AttachTarget, execute_words, finish, Continuation, Hooks, Next, Reply, Source,
    Transport,
};
use crate::supervisor::Supervisor;

/// How often the table is sent again while a page is open, for its CPU and
/// memory columns (as `top` refreshes): only then does the dashboard cost work.
pub const USAGE_REFRESH: Duration = Duration::from_secs(2);
/// Commands of one page under way at once.
const MAX_COMMANDS: usize = 4;
/// Lines of output shown when a tail begins.
const TAIL_LINES: &str = "200";

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum PageMessage {
    Command {
        #[serde(default)]
        id: u64,
        command: String,
        #[serde(default)]
        args: Vec<String>,
    },
    Tail {
        #[serde(default)]
        name: Option<String>,
    },
}

pub fn run(
    mut reader: WsReader,
    outbox: Outbox,
    sup: &Arc<Supervisor>,
    hooks: &Arc<Hooks>,
    source: Source,
) {
    let (dirty, dirty_rx) = sync_channel::<()>(1);
    {
        let (sup, hooks, outbox) = (sup.clone(), hooks.clone(), outbox.clone());
        let source = source.clone();
        let _ = super::spawn("web-status", super::COMMAND_STACK, move || {
            push_status(&sup, &hooks, &outbox, &source, dirty_rx)
        });
    }
    let feed = (hooks.follow_events)();
    let end_events = feed.ender();
    {
        let (outbox, dirty) = (outbox.clone(), dirty.clone());
        let _ = super::spawn_small("web-events", move || {
            events::copy(&feed, EventFormat::Json, &mut |line: &[u8]| {
                let line = String::from_utf8_lossy(line);
                let message = format!(r#"{{"type":"event","event":{}}}"#, line.trim_end());
                let _ = dirty.try_send(());
                match outbox.text(message) {
                    true => Ok(()),
                    false => Err(std::io::ErrorKind::BrokenPipe.into()),
                }
            })
        });
    }
    drop(dirty);
    let running = Arc::new(AtomicUsize::new(0));
    let mut tail: Option<FollowCancel> = None;
    let mut tail_seq = 0u32;
    while let Some(message) = reader.next() {
        let text = match message {
            Incoming::Text(text) => text,
            Incoming::Binary(_) => {
                error(&outbox, "binary messages are for /ws/attach");
                continue;
            }
        };
        match serde_json::from_str::<PageMessage>(&text) {
            Ok(PageMessage::Command { id, command, args }) => {
                if running.load(Ordering::SeqCst) >= MAX_COMMANDS {
                    let busy = Reply::error(format!(
                        "ERROR (this page has {MAX_COMMANDS} commands under way: wait for one)"
                    ));
                    outbox.text(reply_message(id, &busy));
                    continue;
                }
                running.fetch_add(1, Ordering::SeqCst);
                let (sup, hooks, theirs) = (sup.clone(), hooks.clone(), outbox.clone());
                let (source, done) = (source.clone(), running.clone());
                let spawned = super::spawn("web-command", super::COMMAND_STACK, move || {
                    let reply = execute_words(&sup, &hooks.connections, &command, &args, &source);
                    let mut transport = PageTransport {
                        source,
                        id,
                        outbox: theirs,
                    };
                    finish(&hooks, reply, &mut transport);
                    done.fetch_sub(1, Ordering::SeqCst);
                });
                if let Err(e) = spawned {
                    running.fetch_sub(1, Ordering::SeqCst);
                    outbox.text(reply_message(id, &Reply::error(format!("ERROR ({e})"))));
                }
            }
            Ok(PageMessage::Tail { name }) => {
                if let Some(cancel) = tail.take() {
                    cancel.cancel();
                }
                tail_seq = tail_seq.wrapping_add(1);
                if let Some(name) = name {
                    tail = follow(sup, hooks, &outbox, &source, name, tail_seq);
                }
            }
            Err(e) => error(&outbox, &format!("bad message: {e}")),
        }
    }
    if let Some(cancel) = tail {
        cancel.cancel();
    }
    end_events();
}

fn error(outbox: &Outbox, message: &str) {
    outbox.text(json!({"type": "error", "message": message}).to_string());
}

fn reply_message(id: u64, reply: &Reply) -> String {
    json!({"type": "reply", "id": id, "reply": response(reply)}).to_string()
}

/// The page's `status` message: the `status --json` table as the command wrote it
/// (keys in the order they have always had).
#[derive(serde::Serialize)]
struct StatusMessage<'a> {
    instances: Option<&'a serde_json::value::RawValue>,
    #[serde(rename = "type")]
    kind: &'static str,
    version: &'static str,
}

/// The `web-status` thread: the table at once, after events, and each
/// [`USAGE_REFRESH`], until the page is gone.
fn push_status(
    sup: &Arc<Supervisor>,
    hooks: &Hooks,
    outbox: &Outbox,
    source: &Source,
    dirty: Receiver<()>,
) {
    let args = ["--json".to_string()];
    loop {
        let reply = execute_words(sup, &hooks.connections, "status", &args, source);
        let message = StatusMessage {
            instances: reply.data.as_deref(),
            kind: "status",
            version: env!("CARGO_PKG_VERSION"),
        };
        let Ok(message) = serde_json::to_string(&message) else {
            return;
        };
        if !outbox.text(message) {
            return;
        }
        match dirty.recv_timeout(USAGE_REFRESH) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Starts following `name`'s output (`tail -f`), on a `web-tail` thread.
fn follow(
    sup: &Arc<Supervisor>,
    hooks: &Hooks,
    outbox: &Outbox,
    source: &Source,
    name: String,
    seq: u32,
) -> Option<FollowCancel> {
    let args = [
        "-f".to_string(),
        "-n".into(),
        TAIL_LINES.into(),
        name.clone(),
    ];
    let reply = execute_words(sup, &hooks.connections, "tail", &args, source);
    let header = json!({
        "type": "tail", "seq": seq, "name": name, "ok": reply.exit == 0, "text": reply.output,
    });
    outbox.text(header.to_string());
    let Continuation::Follow(mut follow) = reply.then else {
        return None;
    };
    let cancel = follow.canceller();
    let outbox = outbox.clone();
    let spawned = super::spawn_small("web-tail", move || {
        follow.run(|data| {
            let mut message = seq.to_be_bytes().to_vec();
            message.extend_from_slice(data);
            match outbox.binary(message) {
                true => Ok(()),
                false => Err(std::io::ErrorKind::BrokenPipe.into()),
            }
        });
    });
    spawned.ok().map(|()| cancel)
}

/// A command asked by the page: its reply is a message; streams belong to the
/// tail and attach panes.
struct PageTransport {
    source: Source,
    id: u64,
    outbox: Outbox,
}

impl Transport for PageTransport {
    fn source(&self) -> &Source {
        &self.source
    }

    fn answer(&mut self, reply: &Reply) -> bool {
        self.outbox.text(reply_message(self.id, reply))
    }

    fn shutdown_answer(&mut self) -> ShutdownAnswer {
        ShutdownAnswer::OnceBegun
    }

    fn shutdown_cause(&self) -> &'static str {
        "shutdown"
    }

    fn stream_mode(&self, _then: &Continuation) -> StreamMode {
        StreamMode::Refused(Reply::usage(super::api::STREAMS_ELSEWHERE))
    }

    fn stream(&mut self, _cancel: Box<dyn FnOnce() + Send>, _copy: &mut dyn FnMut(Sink)) -> Next {
        Next::End
    }

    fn attach(&mut self, _target: AttachTarget) -> Next {
        Next::End
    }
}
