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
            let queue = crate::notices::NOTICE_QUEUE;
            let (tx, rx) = std::sync::mpsc::sync_channel::<String>(queue);
            (hooks.subscribe_notices)(tx.clone());
            Some((StreamEnd::new(tx), rx))
        }
        Continuation::FollowLog => {
            let queue = crate::eventlog::FOLLOWER_QUEUE;
            let (tx, rx) = std::sync::mpsc::sync_channel::<String>(queue);
            (hooks.follow_log)(tx.clone());
            Some((StreamEnd::new(tx), rx))
        }
        _ => None,
    }
}

/// Ends a stream of lines when its client does: a flag, and an empty line sent
/// to wake the loop (when the channel is full, the loop is awake anyway and sees
/// the flag at its next line).
#[derive(Clone)]
pub(super) struct StreamEnd {
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
    wake: std::sync::Arc<std::sync::mpsc::SyncSender<String>>,
}

impl StreamEnd {
    fn new(wake: std::sync::mpsc::SyncSender<String>) -> StreamEnd {
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
            let _ = end.wake.try_send(String::new());
        })
    }
}
