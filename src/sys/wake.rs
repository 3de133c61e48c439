//! Waking one thread out of its `ppoll` without a descriptor: a thread-directed
//! signal (docs/ARCHITECTURE.md, "Waking a watcher").
//!
//! An eventfd per watcher cost one descriptor per instance. Instead, [`WAKE_SIGNAL`]
//! is blocked in every thread (the main thread blocks it before any thread exists,
//! and threads inherit their creator's mask) and has a handler that does nothing. A
//! watcher's `ppoll` passes [`unblocked_mask`], which lets it in for the duration
//! of the call only. So a wake sent while the watcher is busy stays pending and the
//! next `ppoll` returns at once with EINTR: no wake-up is lost. A standard signal
//! coalesces while pending, which is what a wake wants.
//!
//! SIGURG: ignored by default, raised by the kernel only for out-of-band socket data
//! to a process that claimed it with `F_SETOWN`, which taskmaster never does; the
//! daemon's own signals (INT, TERM, HUP, USR1, USR2 for upgrades, WINCH for the
//! shell, CHLD blocked and taken by `sigwait` in `orphans`) are all elsewhere. A child starts with every
//! signal at its default and none blocked (`watch::child_signals`), so it never
//! inherits the block.

use std::sync::Once;

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};

/// The signal that wakes a watcher.
pub const WAKE_SIGNAL: Signal = Signal::SIGURG;

extern "C" fn ignore_wake(_: nix::libc::c_int) {}

/// Installs the no-op handler (once per process) and blocks [`WAKE_SIGNAL`] in the
/// calling thread. The daemon calls it first thing, with one thread; every watcher
/// calls it again as it starts, which makes the library safe to use without the
/// daemon's start-up (tests) and is a no-op otherwise.
///
/// A handler rather than SIG_IGN: an ignored signal is discarded even while blocked,
/// and would never interrupt `ppoll`.
pub fn block_in_this_thread() {
    static HANDLER: Once = Once::new();
    HANDLER.call_once(|| {
        let action = SigAction::new(
            SigHandler::Handler(ignore_wake),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler does nothing, so it is async-signal-safe; nothing
        // else in the process handles this signal.
        let _ = unsafe { nix::sys::signal::sigaction(WAKE_SIGNAL, &action) };
    });
    let mut set = SigSet::empty();
    set.add(WAKE_SIGNAL);
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
}

thread_local! {
    /// [`unblocked_mask`], read once per thread (a watcher's mask never changes).
    static UNBLOCKED: SigSet = {
        let mut mask = SigSet::thread_get_mask().unwrap_or_else(|_| SigSet::empty());
        mask.remove(WAKE_SIGNAL);
        mask
    };
}

/// The calling thread's mask without [`WAKE_SIGNAL`]: what its `ppoll` runs with.
/// Read the first time a thread asks, which must be after
/// [`block_in_this_thread`].
pub fn unblocked_mask() -> SigSet {
    UNBLOCKED.with(|mask| *mask)
}

/// A thread to wake: its `pthread_t`.
pub type Thread = libc::pthread_t;

/// The calling thread, for [`wake`].
pub fn this_thread() -> Thread {
    // SAFETY: pthread_self cannot fail and has no preconditions.
    unsafe { libc::pthread_self() }
}

/// Wakes `thread` out of its `ppoll`, now or at its next one.
///
/// The caller must know that `thread` has not ended (a `pthread_t` of an ended
/// thread may name another one, or nothing): the instance's inbox lock guarantees
/// it for watchers (`watch::instance`).
pub fn wake(thread: Thread) -> Result<(), Errno> {
    // SAFETY: `thread` is a live thread of this process (the caller's guarantee);
    // pthread_kill only queues the signal for it.
    match unsafe { libc::pthread_kill(thread, WAKE_SIGNAL as libc::c_int) } {
        0 => Ok(()),
        e => Err(Errno::from_raw(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_wake_sent_before_the_poll_makes_it_return_at_once() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (go, wait_go) = std::sync::mpsc::channel::<()>();
        let poller = std::thread::spawn(move || {
            block_in_this_thread();
            tx.send(this_thread()).unwrap();
            // The wake arrives while this thread is not in ppoll.
            wait_go.recv().unwrap();
            // Without the pending wake this would sleep for ten minutes.
            let timeout = nix::sys::time::TimeSpec::from_duration(Duration::from_secs(600));
            nix::poll::ppoll(&mut [], Some(timeout), Some(unblocked_mask()))
        });
        let thread = rx.recv().unwrap();
        wake(thread).unwrap();
        go.send(()).unwrap();
        assert_eq!(poller.join().unwrap(), Err(Errno::EINTR));
    }

    #[test]
    fn the_signal_stays_blocked_outside_the_poll() {
        block_in_this_thread();
        let mask = SigSet::thread_get_mask().unwrap();
        assert!(mask.contains(WAKE_SIGNAL));
        assert!(!unblocked_mask().contains(WAKE_SIGNAL));
    }
}
