//! Several clients attached to one pty program share its one window size: the
//! size is that of the client that typed last (or attached last, before anyone
//! typed), and when that client leaves it goes back to the size of the most recent
//! of those remaining — what a person at either terminal expects to see.
//!
//! One [`Viewers`] per instance (owned by its `Instance`), one entry per attach
//! session to that instance's pty, removed when the session ends: bounded by the
//! sessions open.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use parking_lot::Mutex;

struct Viewer {
    /// The attached process (sessions of one process share its pty; a restarted
    /// instance has a new process and a new pty).
    pid: i32,
    session: u64,
    size: Option<(u16, u16)>,
    /// When it last typed or attached, on [`Sessions::clock`]: the largest one
    /// owns the size.
    active: u64,
    pty: Arc<OwnedFd>,
}

#[derive(Default)]
struct Sessions {
    viewers: Vec<Viewer>,
    /// The size each shared pty was last given, so that typing does not resize
    /// (and SIGWINCH the program) at every key.
    applied: Vec<(i32, (u16, u16))>,
    /// Orders joins and keystrokes; also gives each session its id.
    clock: u64,
}

impl Sessions {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

/// The attach sessions of one instance's pty and the size last given to it.
#[derive(Default)]
pub struct Viewers {
    sessions: Mutex<Sessions>,
}

impl Viewers {
    /// A new session on `pid`'s pty; returns its id for the calls below.
    pub fn join(&self, pid: i32, pty: Arc<OwnedFd>) -> u64 {
        let mut sessions = self.sessions.lock();
        let session = sessions.tick();
        sessions.viewers.push(Viewer {
            pid,
            session,
            size: None,
            active: session,
            pty,
        });
        session
    }

    /// The session's terminal has this size (on attach, after a resize).
    pub fn resized(&self, session: u64, rows: u16, cols: u16) {
        let mut sessions = self.sessions.lock();
        if let Some(v) = sessions.viewers.iter_mut().find(|v| v.session == session) {
            v.size = Some((rows, cols));
        }
        apply_most_recent(&mut sessions, session);
    }

    /// The session typed: its size becomes the program's.
    pub fn typed(&self, session: u64) {
        let mut sessions = self.sessions.lock();
        let now = sessions.tick();
        if let Some(v) = sessions.viewers.iter_mut().find(|v| v.session == session) {
            v.active = now;
        }
        apply_most_recent(&mut sessions, session);
    }

    /// The session ended: the size goes back to the most recent remaining one's.
    pub fn leave(&self, session: u64) {
        let mut sessions = self.sessions.lock();
        let Some(at) = sessions.viewers.iter().position(|v| v.session == session) else {
            return;
        };
        let pid = sessions.viewers.remove(at).pid;
        match sessions.viewers.iter().find(|v| v.pid == pid) {
            Some(other) => {
                let other = other.session;
                apply_most_recent(&mut sessions, other)
            }
            None => sessions.applied.retain(|(p, _)| *p != pid),
        }
    }
}

/// Gives the pty of `session`'s process the size of its most recent viewer.
fn apply_most_recent(sessions: &mut Sessions, session: u64) {
    let viewers = &sessions.viewers;
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
    let applied = &mut sessions.applied;
    if applied.iter().any(|&(p, s)| p == pid && s == size) {
        return;
    }
    if super::set_window_size(&*owner.pty, size.0, size.1).is_ok() {
        applied.retain(|(p, _)| *p != pid);
        applied.push((pid, size));
    }
}
