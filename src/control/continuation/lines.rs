//! The lines of a `notices` or `maintail -f` stream (a [`Continuation`] that
//! copies lines from a channel, not bytes from an output), and how the stream
//! ends when its client does: the part of [`super::finish`] that only those two
//! streams need.

use super::Continuation;
use crate::control::Hooks;

/// The lines a `Notices` or `FollowLog` stream copies, and how it is ended.
pub(super) fn subscribe(
    hooks: &Hooks,
    then: &Continuation,
) -> Option<(StreamEnd, std::sync::mpsc::Receiver<String>)> {
    match then {
        Continuation::Notices => {
            let (tx, rx) = std::sync::mpsc::channel::<String>();
            (hooks.subscribe_notices)(tx.clone());
            Some((StreamEnd::new(LineSender::Unbounded(tx)), rx))
        }
        Continuation::FollowLog => {
            let queue = crate::eventlog::FOLLOWER_QUEUE;
            let (tx, rx) = std::sync::mpsc::sync_channel::<String>(queue);
            (hooks.follow_log)(tx.clone());
            Some((StreamEnd::new(LineSender::Bounded(tx)), rx))
        }
        _ => None,
    }
}

enum LineSender {
    Unbounded(std::sync::mpsc::Sender<String>),
    Bounded(std::sync::mpsc::SyncSender<String>),
}

/// Ends a stream of lines when its client does: a flag, and an empty line sent
/// to wake the loop (for a bounded channel that is full, the loop is awake
/// anyway and sees the flag at its next line).
#[derive(Clone)]
pub(super) struct StreamEnd {
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
    wake: std::sync::Arc<LineSender>,
}

impl StreamEnd {
    fn new(wake: LineSender) -> StreamEnd {
        StreamEnd {
            ended: std::sync::Arc::default(),
            wake: std::sync::Arc::new(wake),
        }
    }

    pub(super) fn ended(&self) -> bool {
        self.ended.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(super) fn canceller(&self) -> Box<dyn FnOnce() + Send> {
        let end = self.clone();
        Box::new(move || {
            end.ended.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = match &*end.wake {
                LineSender::Unbounded(tx) => tx.send(String::new()).is_ok(),
                LineSender::Bounded(tx) => tx.try_send(String::new()).is_ok(),
            };
        })
    }
}
