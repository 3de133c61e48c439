//! Alerts (`taskmaster.notify`): a command run for chosen events — a program going
//! FATAL, an unexpected exit, a backoff, a failed reload — with the event's facts
//! in its environment (`TASKMASTER_EVENT`, `TASKMASTER_INSTANCE`,
//! `TASKMASTER_MESSAGE`, `TASKMASTER_PID`, `TASKMASTER_SUPPRESSED`). The pid is that
//! of the process the event is about: the one that exited (for a FATAL, the last one
//! that did), taskmaster's own for a failed reload.
//!
//! At most `max_per_minute` commands start in any minute, so a crash loop cannot
//! fork-bomb the host; events over the limit are counted and the count is passed
//! to the next command that runs. A command that cannot start or fails is logged,
//! never fatal. Each command is waited for by a small thread of its own, for its
//! pid alone: nothing here reaps anybody else's child. The command runs in the
//! config file's directory.

use std::collections::VecDeque;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use log::warn;
use parking_lot::Mutex;

use crate::config::Notify;

struct Notifier {
    settings: Option<Notify>,
    /// Start times of the commands run in the last minute.
    recent: VecDeque<Instant>,
    suppressed: u64,
}

static NOTIFIER: Mutex<Notifier> = Mutex::new(Notifier {
    settings: None,
    recent: VecDeque::new(),
    suppressed: 0,
});

/// Applies the config's `notify` section (at start and on every reload).
pub fn configure(settings: Option<Notify>) {
    NOTIFIER.lock().settings = settings;
}

/// An event happened; runs the command if the event is chosen and the rate allows.
/// `pid` is the process the event is about (`TASKMASTER_PID`, empty if none).
pub fn event(kind: &str, instance: &str, pid: Option<i32>, message: &str) {
    let (argv, dir, suppressed) = {
        let mut n = NOTIFIER.lock();
        let Some(settings) = n.settings.as_ref().filter(|s| s.events.contains(kind)) else {
            return;
        };
        let (argv, max) = (settings.argv.clone(), settings.max_per_minute as usize);
        let dir = settings.workingdir.clone();
        let now = Instant::now();
        while n
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            n.recent.pop_front();
        }
        if n.recent.len() >= max {
            n.suppressed += 1;
            return;
        }
        n.recent.push_back(now);
        (argv, dir, std::mem::take(&mut n.suppressed))
    };
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    let spawned = Command::new(program)
        .args(args)
        .current_dir(&dir)
        .env("TASKMASTER_EVENT", kind)
        .env("TASKMASTER_INSTANCE", instance)
        .env("TASKMASTER_MESSAGE", message)
        .env(
            "TASKMASTER_PID",
            pid.map(|p| p.to_string()).unwrap_or_default(),
        )
        .env("TASKMASTER_SUPPRESSED", suppressed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return warn!("notify: cannot run {program}: {e}"),
    };
    let name = program.clone();
    let waiter = std::thread::Builder::new()
        .name("notify".into())
        .stack_size(crate::sys::THREAD_STACK)
        .spawn(move || match child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => warn!("notify: {name} failed ({status})"),
            Err(e) => warn!("notify: waiting for {name}: {e}"),
        });
    if let Err(e) = waiter {
        warn!("notify: cannot wait for {program}: {e}");
    }
}
