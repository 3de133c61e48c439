//! The adopted processes: descendants of the instances that the kernel handed to
//! the daemon when their parent exited (a double fork, a daemon's launcher that
//! exits), with their own descendants — and to which instance each belongs.
//!
//! Found when asked (`status -l`, a stop, the shutdown), never watched in the
//! background: the main thread's children that the daemon does not own (see
//! `owned`), then their children, down. Each is pinned by a pidfd as it is found,
//! so a signal can never reach a later process that got the same pid.
//!
//! Belonging: every instance's child is started with [`MARKER`]`=NAME` in its
//! environment, which its descendants inherit through fork and exec, a new
//! session included. A process is the instance's when the environment it was
//! started with names it, or, failing that, when it is still in the instance's
//! session; what neither names is no instance's (a process that cleared its
//! environment and left the session, or a program started outside taskmaster).

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::owned;
use crate::config::ExecForm;
use crate::sys::{self, subreaper};

/// The environment variable naming an instance in its child and descendants.
pub const MARKER: &str = "TASKMASTER_PROCESS_NAME";
/// Which of the instance's spawns (1, 2, …) a process descends from: what one
/// run left behind is told from what the next one starts.
pub const RUN: &str = "TASKMASTER_RUN";

/// What a child is marked with.
#[derive(Debug, Clone, Copy)]
pub struct Marker<'a> {
    pub name: &'a str,
    pub run: u64,
}

/// `form` with [`MARKER`] and [`RUN`] in its environment (in place of any the
/// program's own environment has: they are the daemon's to give).
pub fn marked_form(form: &ExecForm, marker: Marker<'_>) -> Result<ExecForm, Errno> {
    let ours = |e: &&CString| {
        [MARKER, RUN].iter().any(|key| {
            e.as_bytes()
                .strip_prefix(key.as_bytes())
                .is_some_and(|rest| rest.first() == Some(&b'='))
        })
    };
    let mut env: Vec<CString> = form.env.iter().filter(|e| !ours(e)).cloned().collect();
    for entry in [
        format!("{MARKER}={}", marker.name),
        format!("{RUN}={}", marker.run),
    ] {
        env.push(CString::new(entry).map_err(|_| Errno::EINVAL)?);
    }
    Ok(ExecForm {
        argv: Vec::new(),
        env: Arc::new(env),
        cwd: form.cwd.clone(),
        path: form.path.clone(),
    })
}

/// One adopted process, or a descendant of one.
pub struct Adopted {
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// The instance its environment names, or its nearest ancestor's among the
    /// adopted (for one whose environment cannot be read).
    pub marker: Option<String>,
    /// The instance's run it descends from (its environment's [`RUN`]).
    pub run: Option<u64>,
    pub session: i32,
}

impl Adopted {
    /// Whether it belongs to the instance `name` whose child leads the session
    /// `leader` (0 when it has none now).
    pub fn belongs_to(&self, name: &str, leader: i32) -> bool {
        match &self.marker {
            Some(marker) => marker == name,
            None => leader > 0 && self.session == leader,
        }
    }

    /// Whether it descends from the run `run` of the instance `name` (its leader
    /// `leader`, gone now).
    pub fn left_by(&self, name: &str, run: u64, leader: i32) -> bool {
        match &self.marker {
            Some(marker) => marker == name && self.run == Some(run),
            None => leader > 0 && self.session == leader,
        }
    }

    /// Sends `signal`; one already gone is no error.
    pub fn signal(&self, signal: Signal) {
        if let Some(sig) = rustix::process::Signal::from_named_raw(signal as i32) {
            let _ = rustix::process::pidfd_send_signal(self.pidfd.as_fd(), sig);
        }
    }
}

/// An instance's name and run, as a process's environment gives them.
type Marks = (String, Option<u64>);

/// Every live adopted process and its descendants, at most
/// [`subreaper::MAX_LISTED`]. With `settled`, once no spawn is under way: a
/// child still on its way to its watcher is then never listed.
pub fn adopted(settled: bool) -> Vec<Adopted> {
    // Under the registry's lock: the reaper cannot reap one of these before its
    // pidfd pins it.
    let me = std::process::id() as i32;
    let roots: Vec<(i32, OwnedFd)> = {
        let mut owned = owned::lock(settled);
        owned
            .recent_unowned()
            .into_iter()
            .filter_map(|pid| Some((pid, sys::pidfd::pidfd_open(pid).ok()?)))
            // Pinned, then checked: a reading a moment old may name a pid
            // reaped and reused since.
            .filter(|&(pid, _)| subreaper::lineage(pid).is_some_and(|l| l.ppid == me))
            .collect()
    };
    let mut pending: Vec<(i32, OwnedFd, Option<Marks>)> =
        roots.into_iter().map(|(pid, fd)| (pid, fd, None)).collect();
    let mut found = Vec::new();
    while let Some((pid, pidfd, inherited)) = pending.pop() {
        let Some(lineage) = subreaper::lineage(pid) else {
            continue;
        };
        if lineage.zombie {
            continue;
        }
        let own = subreaper::environ(pid).and_then(|env| {
            let name = subreaper::find_variable(&env, MARKER)?;
            let run = subreaper::find_variable(&env, RUN).and_then(|r| r.parse().ok());
            Some((name, run))
        });
        let marker = own.or(inherited);
        for child in subreaper::children_of(pid) {
            if found.len() + pending.len() >= subreaper::MAX_LISTED {
                break;
            }
            let Ok(fd) = sys::pidfd::pidfd_open(child) else {
                continue;
            };
            // Pinned, then checked: the pid still names a child of `pid`.
            if subreaper::lineage(child).is_some_and(|l| l.ppid == pid) {
                pending.push((child, fd, marker.clone()));
            }
        }
        let (marker, run) = marker.map_or((None, None), |(name, run)| (Some(name), run));
        found.push(Adopted {
            pid,
            pidfd,
            marker,
            run,
            session: lineage.session,
        });
    }
    found.sort_by_key(|a| a.pid);
    found
}

/// The adopted processes of the instance `name`, whose child (if any) leads the
/// session `leader`.
pub fn of_instance(name: &str, leader: i32) -> Vec<Adopted> {
    adopted(false)
        .into_iter()
        .filter(|a| a.belongs_to(name, leader))
        .collect()
}

/// The adopted processes that the run `run` of the instance `name` (whose
/// child `leader` is gone) left behind.
pub fn left_by(name: &str, run: u64, leader: i32) -> Vec<Adopted> {
    adopted(false)
        .into_iter()
        .filter(|a| a.left_by(name, run, leader))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(marker: Option<&str>, session: i32) -> Adopted {
        Adopted {
            pid: std::process::id() as i32,
            pidfd: sys::pidfd::pidfd_open(std::process::id() as i32).unwrap(),
            marker: marker.map(str::to_string),
            run: Some(2),
            session,
        }
    }

    #[test]
    fn the_marker_decides_and_the_session_only_without_one() {
        assert!(one(Some("web:0"), 5).belongs_to("web:0", 7));
        assert!(
            !one(Some("web:1"), 7).belongs_to("web:0", 7),
            "marker first"
        );
        assert!(one(None, 7).belongs_to("web:0", 7));
        assert!(!one(None, 7).belongs_to("web:0", 8));
        assert!(
            !one(None, 0).belongs_to("web:0", 0),
            "no leader, no session"
        );
    }

    #[test]
    fn what_a_run_left_is_told_from_the_next_run() {
        assert!(one(Some("web:0"), 5).left_by("web:0", 2, 9));
        assert!(
            !one(Some("web:0"), 5).left_by("web:0", 3, 9),
            "a later run's"
        );
        assert!(one(None, 9).left_by("web:0", 3, 9), "its old session");
    }

    #[test]
    fn the_marks_replace_any_the_program_set() {
        let form = ExecForm {
            argv: Vec::new(),
            env: Arc::new(vec![
                CString::new("A=1").unwrap(),
                CString::new("TASKMASTER_PROCESS_NAME=fake").unwrap(),
                CString::new("TASKMASTER_RUNNER=kept").unwrap(),
            ]),
            cwd: CString::new("/").unwrap(),
            path: None,
        };
        let marked = marked_form(
            &form,
            Marker {
                name: "web:1",
                run: 4,
            },
        )
        .unwrap();
        let env: Vec<&str> = marked.env.iter().map(|e| e.to_str().unwrap()).collect();
        assert_eq!(
            env,
            [
                "A=1",
                "TASKMASTER_RUNNER=kept",
                "TASKMASTER_PROCESS_NAME=web:1",
                "TASKMASTER_RUN=4"
            ]
        );
    }
}
