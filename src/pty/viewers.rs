//! Several clients attached to one pty program share its one window size: the
//! size is that of the client that typed last (or attached last, before anyone
//! typed), and when that client leaves it goes back to the size of the most recent
//! of those remaining — what a person at either terminal expects to see.
//!
//! One entry per attach session to a pty, removed when the session ends: bounded by
//! the sessions open.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

struct Viewer {
    /// The attached process (sessions of one process share its pty).
    pid: i32,
    session: u64,
    size: Option<(u16, u16)>,
    /// When it last typed or attached, on [`CLOCK`]: the largest one owns the size.
    active: u64,
    pty: Arc<OwnedFd>,
}

static VIEWERS: Mutex<Vec<Viewer>> = Mutex::new(Vec::new());
/// The size each shared pty was last given, so that typing does not resize (and
/// SIGWINCH the program) at every key.
static APPLIED: Mutex<Vec<(i32, (u16, u16))>> = Mutex::new(Vec::new());
static CLOCK: AtomicU64 = AtomicU64::new(1);

fn tick() -> u64 {
    CLOCK.fetch_add(1, Ordering::SeqCst)
}

/// A new session on `pid`'s pty; returns its id for the calls below.
pub fn join(pid: i32, pty: Arc<OwnedFd>) -> u64 {
    let session = tick();
    VIEWERS.lock().push(Viewer {
        pid,
        session,
        size: None,
        active: session,
        pty,
    });
    session
}

/// The session's terminal has this size (on attach, after a resize).
pub fn resized(session: u64, rows: u16, cols: u16) {
    let mut viewers = VIEWERS.lock();
    if let Some(v) = viewers.iter_mut().find(|v| v.session == session) {
        v.size = Some((rows, cols));
    }
    apply_most_recent(&viewers, session);
}

/// The session typed: its size becomes the program's.
pub fn typed(session: u64) {
    let mut viewers = VIEWERS.lock();
    if let Some(v) = viewers.iter_mut().find(|v| v.session == session) {
        v.active = tick();
    }
    apply_most_recent(&viewers, session);
}

/// The session ended: the size goes back to the most recent remaining one's.
pub fn leave(session: u64) {
    let mut viewers = VIEWERS.lock();
    let Some(at) = viewers.iter().position(|v| v.session == session) else {
        return;
    };
    let pid = viewers.remove(at).pid;
    match viewers.iter().find(|v| v.pid == pid) {
        Some(other) => apply_most_recent(&viewers, other.session),
        None => APPLIED.lock().retain(|(p, _)| *p != pid),
    }
}

/// Gives the pty of `session`'s process the size of its most recent viewer.
fn apply_most_recent(viewers: &[Viewer], session: u64) {
    let Some(pid) = viewers.iter().find(|v| v.session == session).map(|v| v.pid) else {
        return;
    };
    let Some(owner) = viewers
        .iter()
        .filter(|v| v.pid == pid && v.size.is_some())
        .max_by_key(|v| v.active)
    else {
        return;
    };
    let Some(size) = owner.size else { return };
    let mut applied = APPLIED.lock();
    if applied.iter().any(|&(p, s)| p == pid && s == size) {
        return;
    }
    if super::set_window_size(&*owner.pty, size.0, size.1).is_ok() {
        applied.retain(|(p, _)| *p != pid);
        applied.push((pid, size));
    }
}
