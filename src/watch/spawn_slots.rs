//! How many spawns are under way at once, daemon-wide.
//!
//! A spawn holds descriptors from its first step (the child's pipes: six, or a pty,
//! and the exec helper's status pipe, and the spawn helper's reply socket pair) to
//! its last, and waits meanwhile for the spawn helper, which serves a few requests
//! at a time. With 5 000 instances started at once, every watcher made its pipes
//! and then waited in `sendmsg` for room on the helper's socket: up to 40 000
//! descriptors at once ran the daemon out of them (the helper's replies came
//! truncated, it was killed, and spawning fell back to the daemon), and each
//! request taken woke every waiting sender. So a spawn first takes one of
//! [`SLOTS`] slots: enough to keep every helper worker busy with requests queued
//! behind it, few enough that waiting spawns hold nothing. A watcher waiting for a
//! slot is woken alone, when one is given back.

use parking_lot::{Condvar, Mutex};

/// Spawns under way at once: twice the helper's largest number of workers.
pub const SLOTS: usize = 16;

static IN_USE: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// A slot, given back when dropped.
pub struct SpawnSlot(());

/// Waits for a free slot. Every holder finishes its spawn in bounded time (the
/// spawn helper's exchange has a timeout), so the wait is bounded too.
pub fn take() -> SpawnSlot {
    let mut in_use = IN_USE.lock();
    while *in_use >= SLOTS {
        FREED.wait(&mut in_use);
    }
    *in_use += 1;
    SpawnSlot(())
}

impl Drop for SpawnSlot {
    fn drop(&mut self) {
        *IN_USE.lock() -= 1;
        FREED.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    #[test]
    fn never_more_than_the_slots_at_once() {
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(64));
        let threads: Vec<_> = (0..64)
            .map(|_| {
                let (now, most, start) = (now.clone(), most.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..50 {
                        let _slot = take();
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        std::thread::yield_now();
                        now.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a worker panicked");
        }
        // Other tests of this process may hold slots too: they only lower this.
        assert!(most.load(Ordering::SeqCst) <= SLOTS);
    }
}
