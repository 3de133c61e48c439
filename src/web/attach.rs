//! `/ws/attach?name=NAME`: an attach session in the browser, the socket's own
//! (`control::attach::run_session`): the first message is the `attach` reply
//! (`{"type":"reply","reply":{…}}`, with `AttachInfo` as its data), then the
//! program's output as binary messages, and the page's binary messages are the
//! attach frames of the socket protocol (input, window size, interrupt). Closing
//! the WebSocket detaches; the program's exit closes it. Several pages (and
//! terminals) may attach to one instance at once.
//!
//! Threads: the connection's runs the session; `web-ws-read` reads the page's
//! messages into a bounded queue that the session's `attach-input` thread reads
//! as its byte stream.

use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use serde_json::json;

use super::ws::{Incoming, Outbox, OutboxWriter, WsReader};
use crate::control::continuation::{ShutdownAnswer, Sink, StreamMode};
use crate::control::server::response;
use crate::control::{
    attach::AttachTarget, execute_words, finish, Continuation, Hooks, Next, Reply, Source,
    Transport,
};
use crate::supervisor::Supervisor;

/// Input messages queued for the program before the page's reads wait.
const INPUT_QUEUE: usize = 64;

pub fn run(
    reader: WsReader,
    outbox: Outbox,
    name: String,
    sup: &Arc<Supervisor>,
    hooks: &Hooks,
    source: Source,
) {
    let reply = execute_words(sup, &hooks.connections, "attach", &[name], &source);
    let mut transport = AttachTransport {
        source,
        outbox: outbox.clone(),
        reader: Some(reader),
        live: hooks.live_streams.clone(),
    };
    finish(hooks, reply, &mut transport);
    outbox.close();
}

struct AttachTransport {
    source: Source,
    outbox: Outbox,
    /// Until the session takes it.
    reader: Option<WsReader>,
    /// The sessions an upgrade in place ends, telling each to attach again.
    live: Arc<crate::control::live_streams::LiveStreams>,
}

impl Transport for AttachTransport {
    fn source(&self) -> &Source {
        &self.source
    }

    fn answer(&mut self, reply: &Reply) -> bool {
        let message = json!({"type": "reply", "reply": response(reply)});
        self.outbox.text(message.to_string())
    }

    fn shutdown_answer(&mut self) -> ShutdownAnswer {
        ShutdownAnswer::OnceBegun
    }

    fn shutdown_cause(&self) -> &'static str {
        "shutdown"
    }

    fn stream_mode(&self, then: &Continuation) -> StreamMode {
        match then {
            Continuation::Attach(_) => StreamMode::Run,
            _ => StreamMode::Refused(Reply::usage(super::api::STREAMS_ELSEWHERE)),
        }
    }

    fn stream(&mut self, _cancel: Box<dyn FnOnce() + Send>, _copy: &mut dyn FnMut(Sink)) -> Next {
        Next::End
    }

    fn attach(&mut self, target: AttachTarget) -> Next {
        let Some(mut reader) = self.reader.take() else {
            return Next::End;
        };
        let (input, frames) = sync_channel::<Vec<u8>>(INPUT_QUEUE);
        let spawned = super::spawn_small("web-ws-read", move || {
            while let Some(message) = reader.next() {
                // Text messages carry nothing for a session.
                if let Incoming::Binary(data) = message {
                    if input.send(data).is_err() {
                        return;
                    }
                }
            }
        });
        if spawned.is_err() {
            return Next::End;
        }
        let notices = Box::new(OutboxWriter(self.outbox.clone()));
        let mut output = OutboxWriter(self.outbox.clone());
        crate::control::attach::run_session(
            target,
            FrameBytes::new(frames),
            &mut output,
            Some(notices),
            &self.live,
        );
        Next::End
    }
}

/// The page's binary messages as one byte stream: the attach frames, however
/// the browser cut them into messages. Ends when the page is gone.
struct FrameBytes {
    queue: Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl FrameBytes {
    fn new(queue: Receiver<Vec<u8>>) -> FrameBytes {
        FrameBytes {
            queue,
            current: Vec::new(),
            at: 0,
        }
    }
}

impl Read for FrameBytes {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.current.len() {
            match self.queue.recv() {
                Ok(next) => (self.current, self.at) = (next, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
