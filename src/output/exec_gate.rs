//! The pumps' gate for an upgrade in place (README: Upgrading in place).
//!
//! `execve` ends every thread wherever it is. A pump blocked in `poll` holds no
//! byte: what the child wrote waits in the pipe (or the pty) for the next
//! taskmaster. A pump between a read and the write of what it read holds bytes in
//! its own memory, which the exec would lose. So each pump does everything it does
//! to its descriptors — read, splice, write, close at end of stream — inside
//! [`enter`], and the upgrade [`close`]s the gate before its exec: that waits
//! until no pump is inside, and keeps every pump that wakes up meanwhile waiting
//! at the gate, in front of its next read. If the exec fails, [`open`] lets them
//! go on.
//!
//! One gate for the process, as a static: it is a fact of the process, like its
//! pid — there is one exec per process, whichever instance a pump drains.

use parking_lot::{Condvar, Mutex};

struct Gate {
    /// Pumps inside now.
    inside: usize,
    /// An upgrade is about to exec: nobody may enter.
    closed: bool,
}

static GATE: Mutex<Gate> = Mutex::new(Gate {
    inside: 0,
    closed: false,
});
static CHANGED: Condvar = Condvar::new();

/// Inside the gate until dropped.
pub struct Inside(());

impl Drop for Inside {
    fn drop(&mut self) {
        let mut gate = GATE.lock();
        gate.inside -= 1;
        if gate.closed && gate.inside == 0 {
            CHANGED.notify_all();
        }
    }
}

/// Waits while the gate is closed, then enters it.
pub fn enter() -> Inside {
    let mut gate = GATE.lock();
    while gate.closed {
        CHANGED.wait(&mut gate);
    }
    gate.inside += 1;
    Inside(())
}

/// Closes the gate and waits until no pump is inside; false (the gate open
/// again) when one is still inside at `deadline` — a write that waits on a
/// stopped terminal or a stalled disk.
pub fn close(deadline: std::time::Instant) -> bool {
    let mut gate = GATE.lock();
    gate.closed = true;
    while gate.inside > 0 {
        if CHANGED.wait_until(&mut gate, deadline).timed_out() {
            gate.closed = false;
            drop(gate);
            CHANGED.notify_all();
            return false;
        }
    }
    true
}

/// Opens the gate again (the exec failed).
pub fn open() {
    GATE.lock().closed = false;
    CHANGED.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn close_waits_for_the_pump_inside_and_holds_the_next_one() {
        let inside = enter();
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        let closer = std::thread::spawn(move || {
            let later = std::time::Instant::now() + std::time::Duration::from_secs(60);
            assert!(close(later));
            flag.store(true, Ordering::SeqCst);
        });
        // The closer cannot be done while a pump is inside.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!closed.load(Ordering::SeqCst));
        drop(inside);
        closer.join().unwrap();
        assert!(closed.load(Ordering::SeqCst));
        let entered = Arc::new(AtomicBool::new(false));
        let flag = entered.clone();
        let pump = std::thread::spawn(move || {
            let _inside = enter();
            flag.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!entered.load(Ordering::SeqCst));
        open();
        pump.join().unwrap();
        assert!(entered.load(Ordering::SeqCst));
    }
}
