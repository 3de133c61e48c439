//! The shell's notices: the bounded channel they arrive on, the hold that keeps
//! them while an attach session owns the terminal, and the loop that prints them
//! above the prompt.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

/// Where the shell's notices come from: `tx` is kept to nudge the printer. A
/// bounded queue (`notices::NOTICE_QUEUE`): a printer held up by its terminal
/// makes the daemon drop notices and count them, never keep them all.
pub struct NoticeChannel {
    pub tx: SyncSender<String>,
    pub rx: Receiver<String>,
    /// Shared with every [`NoticeHold`] of this channel.
    pub(super) held: Arc<AtomicBool>,
}

impl NoticeChannel {
    pub fn new() -> NoticeChannel {
        let (tx, rx) = std::sync::mpsc::sync_channel(crate::notices::NOTICE_QUEUE);
        NoticeChannel {
            tx,
            rx,
            held: Arc::default(),
        }
    }

    /// A handle for what takes the terminal from this shell (attach): notices are
    /// held while it runs.
    pub fn hold(&self) -> NoticeHold {
        NoticeHold {
            held: self.held.clone(),
            nudge: self.tx.clone(),
        }
    }
}

impl Default for NoticeChannel {
    fn default() -> Self {
        Self::new()
    }
}

/// Holds one shell's notices while an attach session owns the terminal.
#[derive(Clone)]
pub struct NoticeHold {
    /// While set, notices are kept, and shown when it is cleared.
    held: Arc<AtomicBool>,
    /// Wakes the notice printer when holding ends (an empty notice is a nudge).
    nudge: SyncSender<String>,
}

impl NoticeHold {
    /// Holds notices while `f` runs (README: Attach: notices of other instances are
    /// held while you are attached and shown after).
    pub fn holding<T>(&self, f: impl FnOnce() -> T) -> T {
        self.held.store(true, Ordering::SeqCst);
        let result = f();
        self.held.store(false, Ordering::SeqCst);
        // A full queue wakes the printer anyway.
        let _ = self.nudge.try_send(String::new());
        result
    }
}

/// Prints each notice (through `print`, which says whether the terminal took it)
/// until the channel ends or the terminal fails. Empty notices are nudges; muted
/// ones are dropped unless they are the daemon's own messages; while `holding`,
/// notices are kept — the first [`crate::notices::NOTICE_QUEUE`], the others
/// counted and said when the hold ends.
pub(super) fn forward(
    notices: Receiver<String>,
    muted: &AtomicBool,
    holding: &AtomicBool,
    mut print: impl FnMut(String) -> bool,
) {
    let mut held = Vec::new();
    let mut not_kept = 0;
    for notice in notices {
        // An empty notice is the nudge sent when holding ends.
        let shown = !muted.load(Ordering::SeqCst) || crate::eventlog::is_daemon_message(&notice);
        if !notice.is_empty() && shown {
            match held.len() < crate::notices::NOTICE_QUEUE {
                true => held.push(notice),
                false => not_kept += 1,
            }
        }
        if holding.load(Ordering::SeqCst) {
            continue;
        }
        if not_kept > 0 {
            held.push(format!(
                "taskmaster: {not_kept} more notices while attached, not kept"
            ));
            not_kept = 0;
        }
        for notice in held.drain(..) {
            if !print(format!("{notice}\n")) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_notices_are_bounded_and_the_rest_counted_when_the_hold_ends() {
        // A rendezvous channel: each send returns once the loop took the notice,
        // and the nudge once it has dealt with the one before.
        let (tx, rx) = std::sync::mpsc::sync_channel(0);
        let holding = Arc::new(AtomicBool::new(true));
        let flag = holding.clone();
        let printed = std::thread::spawn(move || {
            let mut printed = Vec::new();
            forward(rx, &AtomicBool::new(false), &flag, |line| {
                printed.push(line);
                true
            });
            printed
        });
        let total = crate::notices::NOTICE_QUEUE + 40;
        for i in 0..total {
            tx.send(format!("notice {i}")).expect("send");
        }
        holding.store(false, Ordering::SeqCst);
        tx.send(String::new()).expect("nudge");
        drop(tx);
        let printed = printed.join().expect("printer");
        let kept = crate::notices::NOTICE_QUEUE;
        assert_eq!(printed.len(), kept + 1, "{:?}", printed.last());
        assert_eq!(printed[0], "notice 0\n");
        assert_eq!(printed[kept - 1], format!("notice {}\n", kept - 1));
        assert_eq!(
            printed[kept],
            "taskmaster: 40 more notices while attached, not kept\n"
        );
    }

    /// What `forward` prints of `notices` sent at once, muted or not, no hold.
    fn printed(notices: &[&str], muted: bool) -> Vec<String> {
        let channel = NoticeChannel::new();
        for notice in notices {
            channel.tx.send(notice.to_string()).expect("send");
        }
        drop(channel.tx);
        let mut printed = Vec::new();
        let (muted, holding) = (AtomicBool::new(muted), AtomicBool::new(false));
        forward(channel.rx, &muted, &holding, |line| {
            printed.push(line);
            true
        });
        printed
    }

    #[test]
    fn without_a_hold_each_notice_is_printed_as_it_comes_and_muted_ones_dropped() {
        assert_eq!(printed(&["web: FATAL", ""], false), ["web: FATAL\n"]);
        assert!(printed(&["web: FATAL"], true).is_empty());
    }
}
