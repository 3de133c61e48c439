//! `POST /api/command`: the socket protocol over HTTP. The body is a request
//! line (`{"command": "stop", "args": ["web"]}`), the answer the same reply line
//! the socket gives, through the same `execute_words` and `finish`. Streams
//! (`tail -f`, `attach`, `events`, `notices`, `maintail -f`) are the
//! WebSockets' (`/ws`, `/ws/attach`), and are refused here with a usage error.

use std::sync::Arc;

use super::http::{Request, Response};
use crate::control::continuation::{ShutdownAnswer, Sink, StreamMode};
use crate::control::protocol;
use crate::control::{
    attach::AttachTarget, execute_words, finish, server::reply_line, Continuation, Hooks, Next,
    Reply, Source, Transport,
};
use crate::supervisor::Supervisor;

const JSON: &str = "application/json";

pub fn command(
    request: &Request,
    sup: &Arc<Supervisor>,
    hooks: &Hooks,
    source: Source,
) -> Response {
    let kind = request.header("content-type").unwrap_or("");
    if !kind
        .split(';')
        .next()
        .is_some_and(|k| k.trim().eq_ignore_ascii_case(JSON))
    {
        return Response::text(415, "send the request as application/json");
    }
    // serde would also read a struct from a JSON array: only objects are requests.
    let body = &request.body;
    let parsed = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice::<protocol::Request>(body),
        _ => serde_json::from_str::<protocol::Request>("not an object"),
    };
    let line = match parsed {
        Ok(line) => line,
        Err(e) => {
            let why = format!(
                "malformed request: {e}; expected {{\"command\": \"...\", \"args\": [...]}}"
            );
            return Response::new(400, JSON, reply_line(&Reply::usage(why)));
        }
    };
    let reply = execute_words(sup, &hooks.connections, &line.command, &line.args, &source);
    let mut transport = HttpTransport {
        source,
        answered: None,
    };
    finish(hooks, reply, &mut transport);
    let answer = transport
        .answered
        .unwrap_or_else(|| Reply::error("ERROR (no reply)"));
    Response::new(200, JSON, reply_line(&answer))
}

/// One request, one reply, no stream.
struct HttpTransport {
    source: Source,
    answered: Option<Reply>,
}

/// What a stream asked over HTTP is told.
pub const STREAMS_ELSEWHERE: &str = "ERROR (tail -f, attach, events, notices and maintail -f \
                                     stream: over HTTP they are the WebSockets' /ws and /ws/attach)";

impl Transport for HttpTransport {
    fn source(&self) -> &Source {
        &self.source
    }

    fn answer(&mut self, reply: &Reply) -> bool {
        self.answered.get_or_insert_with(|| reply.clone());
        true
    }

    fn shutdown_answer(&mut self) -> ShutdownAnswer {
        ShutdownAnswer::OnceBegun
    }

    fn shutdown_cause(&self) -> &'static str {
        "shutdown"
    }

    fn stream_mode(&self, _then: &Continuation) -> StreamMode {
        StreamMode::Refused(Reply::usage(STREAMS_ELSEWHERE))
    }

    fn stream(&mut self, _cancel: Box<dyn FnOnce() + Send>, _copy: &mut dyn FnMut(Sink)) -> Next {
        Next::End
    }

    fn attach(&mut self, _target: AttachTarget) -> Next {
        Next::End
    }
}
