//! [`finish`] checked with a transport that writes down, in order, what it is
//! asked to do: which reply it gives when, and whether a stream runs.

use super::*;
use std::sync::{Arc, Mutex};

/// A transport that writes down what was done, in order.
struct Recorder {
    log: Arc<Mutex<Vec<String>>>,
    source: Source,
    when: ShutdownAnswer,
    streams: bool,
}

impl Transport for Recorder {
    fn source(&self) -> &Source {
        &self.source
    }
    fn answer(&mut self, reply: &Reply) -> bool {
        self.log
            .lock()
            .unwrap()
            .push(format!("answer {}", reply.output));
        true
    }
    fn shutdown_answer(&mut self) -> ShutdownAnswer {
        self.when
    }
    fn shutdown_cause(&self) -> &'static str {
        "quit"
    }
    fn stream_mode(&self, _then: &Continuation) -> StreamMode {
        if self.streams {
            StreamMode::Run
        } else {
            StreamMode::Declined(Some("not here"))
        }
    }
    fn stream(&mut self, cancel: Box<dyn FnOnce() + Send>, _: &mut dyn FnMut(Sink)) -> Next {
        drop(cancel);
        self.log.lock().unwrap().push("stream".into());
        Next::End
    }
    fn attach(&mut self, _target: AttachTarget) -> Next {
        Next::End
    }
}

fn run(reply: Reply, when: ShutdownAnswer, streams: bool) -> (Next, Vec<String>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (shut, reloaded) = (log.clone(), log.clone());
    let hooks = Hooks {
        shutdown: Box::new(move |source, how| {
            shut.lock()
                .unwrap()
                .push(format!("shutdown by {source} ({how})"))
        }),
        reload: Box::new(move |_| {
            reloaded.lock().unwrap().push("reload".into());
            Reply::ok("reloaded")
        }),
        reopen: Box::new(|| Reply::error("cannot reopen")),
        shutdown_waiters: Arc::default(),
        socket_path: Box::new(std::path::PathBuf::new),
        subscribe_notices: Box::new(|_| {}),
        follow_log: Box::new(|_| {}),
        follow_events: Box::new(|| crate::hub::Hub::new(vec![]).follow_events()),
        upgrade: Box::new(|_, _, _| Reply::error("no upgrade here")),
        live_streams: Arc::default(),
        connections: Arc::default(),
        web_url: Box::new(|| Reply::error("off")),
    };
    let mut transport = Recorder {
        log: log.clone(),
        source: Source::Shell,
        when,
        streams,
    };
    let next = finish(&hooks, reply, &mut transport);
    let done = log.lock().unwrap().clone();
    (next, done)
}

#[test]
fn a_reload_answers_with_its_own_reply() {
    let (next, log) = run(
        Reply::then("", Continuation::Reload(ConfigChange::Reload)),
        ShutdownAnswer::Now,
        true,
    );
    assert_eq!(next, Next::Continue);
    assert_eq!(log, ["reload", "answer reloaded"]);
    let (_, log) = run(
        Reply::then("", Continuation::Reopen),
        ShutdownAnswer::Now,
        true,
    );
    assert_eq!(log, ["answer cannot reopen"]);
}

#[test]
fn shutdown_is_answered_when_the_transport_says() {
    let reply = || Reply::then("Shut down", Continuation::Shutdown);
    let asked = format!("shutdown by {} (quit)", Source::Shell);
    let (next, log) = run(reply(), ShutdownAnswer::Now, true);
    assert_eq!(next, Next::End);
    assert_eq!(log, ["answer Shut down".to_string(), asked.clone()]);
    let (_, log) = run(reply(), ShutdownAnswer::OnceBegun, true);
    assert_eq!(log, [asked.clone(), "answer Shut down".to_string()]);
    let (_, log) = run(reply(), ShutdownAnswer::OnceFinished, true);
    assert_eq!(log, [asked]);
}

#[test]
fn a_stream_runs_after_its_reply_or_is_declined_with_a_note() {
    let (next, log) = run(
        Reply::then("", Continuation::Notices),
        ShutdownAnswer::Now,
        true,
    );
    assert_eq!(next, Next::End);
    assert_eq!(log, ["answer ", "stream"]);
    let (next, log) = run(
        Reply::then("", Continuation::Notices),
        ShutdownAnswer::Now,
        false,
    );
    assert_eq!(next, Next::Continue);
    assert_eq!(log, ["answer ", "answer not here"]);
    let (next, log) = run(Reply::ok("plain"), ShutdownAnswer::Now, false);
    assert_eq!(next, Next::Continue);
    assert_eq!(log, ["answer plain"]);
}
