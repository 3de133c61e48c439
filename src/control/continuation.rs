//! What a reply asks of its transport once it is given — reload, reopen the event
//! log, shut down, follow an output, attach, stream notices — finished in one
//! place for every transport: the daemon's shell and stdin (`frontend.rs`) and
//! the socket's connections (`connection.rs`) both call [`finish`].
//!
//! A transport supplies only what is its own ([`Transport`]): where a reply and a
//! stream's bytes go, how the user ends a stream (Ctrl-C on a terminal, closing
//! the connection on the socket), when it answers `shutdown`, and which streams it
//! can carry at all.
//!
//! The line streams (`notices`, `maintail -f`) subscribe and end in `lines.rs`
//! beside this file.

mod lines;

use std::io;

use super::attach::AttachTarget;
use super::events::EventFormat;
use super::tail::TailFollow;
use super::{Hooks, Reply, Source};

/// A change of the running configuration from the file, asked for by a command
/// and carried out by the daemon ([`Hooks::reload`]), one at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigChange {
    /// `reload` (and SIGHUP): the whole file, replied in taskmaster's words.
    Reload,
    /// `update [NAME...]`: the whole file (no NAME, or `all`), or only the named
    /// programs' part of it, replied in supervisorctl's words.
    Update(Vec<String>),
    /// `add NAME...`: programs of the file not in use yet.
    Add(Vec<String>),
    /// `remove NAME...`: programs in use, all of whose instances are stopped.
    Remove(Vec<String>),
}

/// What the transport does after giving a command's reply.
#[derive(Clone, Default)]
pub enum Continuation {
    /// Nothing: the reply is all.
    #[default]
    Done,
    /// Apply the configuration file (or part of it); that change's own reply is
    /// given instead.
    Reload(ConfigChange),
    /// Reopen the event log at its path; the outcome's reply is given instead.
    Reopen,
    /// Begin the daemon's shutdown.
    Shutdown,
    /// Stream this output until the client ends it (`tail -f`).
    Follow(TailFollow),
    /// Run an attach session on the connection.
    Attach(AttachTarget),
    /// Stream event notices, one per line, until the client ends it.
    Notices,
    /// Stream the event log's new lines until the client ends it (`maintail -f`).
    FollowLog,
    /// Stream every event, in this format, until the client ends it (`events`).
    Events(EventFormat),
    /// Answer with the web dashboard's address (`web-url`), which the daemon knows.
    WebUrl,
    /// Re-execute the daemon's binary (or this one) in place (`upgrade`); the
    /// new process answers, or the reply says why it did not happen.
    Upgrade(Option<std::path::PathBuf>),
}

impl Continuation {
    /// Raw output follows the reply (the wire's `"stream": true`).
    pub fn streams(&self) -> bool {
        matches!(
            self,
            Continuation::Follow(_)
                | Continuation::Attach(_)
                | Continuation::Notices
                | Continuation::FollowLog
                | Continuation::Events(_)
        )
    }
}

/// When a transport answers `shutdown`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ShutdownAnswer {
    /// Before asking for it (a terminal: the reply comes before the daemon's own
    /// "shutdown begun" line).
    Now,
    /// Right after asking for it.
    OnceBegun,
    /// When the shutdown has finished: the transport holds the client until then.
    OnceFinished,
}

/// What a transport does with a reply that streams.
pub enum StreamMode {
    /// Gives the reply, then runs the stream.
    Run,
    /// Gives the reply, then this note (if any), and streams nothing.
    Declined(Option<&'static str>),
    /// Gives this reply instead of the command's, and ends.
    Refused(Reply),
}

/// Whether the transport serves another request after this one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Next {
    Continue,
    /// The client is gone, a stream ended, or the shutdown was asked for.
    End,
}

/// Writes a stream's bytes to the client.
pub type Sink<'a> = &'a mut dyn FnMut(&[u8]) -> io::Result<()>;

/// What is particular to one transport.
pub trait Transport {
    /// Who is asking (for the shutdown's log line).
    fn source(&self) -> &Source;
    /// Gives `reply` to the client; false when the client is gone.
    fn answer(&mut self, reply: &Reply) -> bool;
    /// When `shutdown` is answered (called once, before the shutdown is asked for).
    fn shutdown_answer(&mut self) -> ShutdownAnswer;
    /// How the shutdown is named in the log: `shutdown`, `quit`.
    fn shutdown_cause(&self) -> &'static str;
    /// Whether the stream `then` asks for can run here.
    fn stream_mode(&self, then: &Continuation) -> StreamMode;
    /// Runs `copy`, which writes the stream through the sink it is given, until
    /// it returns; when the client ends the stream first (Ctrl-C, closing the
    /// connection), calls `cancel`, which makes `copy` return.
    fn stream(&mut self, cancel: Box<dyn FnOnce() + Send>, copy: &mut dyn FnMut(Sink)) -> Next;
    /// Runs an attach session (only a transport whose `stream_mode` runs it).
    fn attach(&mut self, target: AttachTarget) -> Next;
    /// A descriptor of the client's connection for the new process of an
    /// upgrade in place to answer on (a terminal has none: the new daemon's
    /// shell starts anew).
    fn keep_for_reply(&self) -> Option<std::os::fd::OwnedFd> {
        None
    }
}

/// Gives `reply` through `transport` and does what it asks of the transport.
pub fn finish(hooks: &Hooks, mut reply: Reply, transport: &mut dyn Transport) -> Next {
    if let Continuation::Reload(change) = &reply.then {
        reply = (hooks.reload)(change);
    }
    if matches!(reply.then, Continuation::Reopen) {
        reply = (hooks.reopen)();
    }
    if matches!(reply.then, Continuation::WebUrl) {
        reply = (hooks.web_url)();
    }
    if let Continuation::Upgrade(binary) = &reply.then {
        reply = (hooks.upgrade)(
            binary.clone(),
            transport.keep_for_reply(),
            transport.source(),
        );
    }
    if matches!(reply.then, Continuation::Shutdown) {
        return shut_down(hooks, &reply, transport);
    }
    if reply.then.streams() {
        match transport.stream_mode(&reply.then) {
            StreamMode::Run => {}
            StreamMode::Declined(note) => {
                let answered = transport.answer(&reply);
                if let (true, Some(note)) = (answered, note) {
                    transport.answer(&Reply::ok(note));
                }
                return if answered { Next::Continue } else { Next::End };
            }
            StreamMode::Refused(instead) => {
                transport.answer(&instead);
                return Next::End;
            }
        }
    }
    // Subscribed before the reply goes out: once the client has its reply, no
    // notice or log line can slip past it.
    let lines = lines::subscribe(hooks, &reply.then);
    let feed = matches!(reply.then, Continuation::Events(_)).then(|| (hooks.follow_events)());
    if !transport.answer(&reply) {
        return Next::End;
    }
    match std::mem::take(&mut reply.then) {
        Continuation::Follow(mut follow) => {
            let cancel = follow.canceller();
            transport.stream(Box::new(move || cancel.cancel()), &mut |out| {
                follow.run(out);
            })
        }
        Continuation::Notices | Continuation::FollowLog => {
            let Some((end, rx)) = lines else {
                return Next::End;
            };
            transport.stream(end.canceller(), &mut |out| {
                for line in rx.iter() {
                    if end.ended() || out(format!("{line}\n").as_bytes()).is_err() {
                        break;
                    }
                }
            })
        }
        Continuation::Events(format) => {
            let Some(feed) = feed else {
                return Next::End;
            };
            transport.stream(Box::new(feed.ender()), &mut |out| {
                super::events::copy(&feed, format, out)
            })
        }
        Continuation::Attach(target) => transport.attach(target),
        _ => Next::Continue,
    }
}

/// Asks for the shutdown, answering when the transport does.
fn shut_down(hooks: &Hooks, reply: &Reply, transport: &mut dyn Transport) -> Next {
    let when = transport.shutdown_answer();
    if when == ShutdownAnswer::Now {
        transport.answer(reply);
    }
    (hooks.shutdown)(transport.source().clone(), transport.shutdown_cause());
    if when == ShutdownAnswer::OnceBegun {
        transport.answer(reply);
    }
    Next::End
}

#[cfg(test)]
mod tests;
