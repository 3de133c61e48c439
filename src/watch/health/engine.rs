//! The `health-net` thread: every `http` and `tcp` check of the daemon on one
//! thread, with non-blocking sockets and one `poll` (README: Health checks).
//!
//! A thread per instance woke twice or more a check (its timer, then the
//! answer); with a hundred instances checked every second that was most of the
//! daemon's CPU. Here each instance still keeps its own schedule, but checks due
//! within their slack start in the same wake-up and answers that come together
//! are read together (`schedule.rs`).
//!
//! The thread exists only while some instance has such a check: the first
//! [`Registration`] starts it (with its wake-up pipe), and it ends, closing the
//! pipe, when it finds it has none left. A registration dropped (its checker
//! dropped) is marked closed and the thread woken: it closes that check's
//! socket at once, and the mark, set under the lock the thread sends results
//! under, means no result of it is sent afterwards.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use parking_lot::Mutex;

use super::flight::{Flight, Progress, Verdict};
use super::schedule::{self, Waiting};
use crate::config::ProgramConfig;
use crate::watch::instance::{Command, Instance};

/// What the thread and the registering watchers share.
struct Registry {
    /// Checks registered and not yet taken by the thread.
    added: Vec<Arc<Check>>,
    /// The thread's wake-up pipe (write end) while the thread runs.
    wake: Option<Arc<OwnedFd>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    added: Vec::new(),
    wake: None,
});

/// One child's checks, shared by its checker and the thread.
pub(super) struct Check {
    instance: Arc<Instance>,
    pid: i32,
    config: Arc<Mutex<Arc<ProgramConfig>>>,
    /// Dropped: no further check, and no result is sent once this is set (the
    /// thread sends holding it).
    closed: Mutex<bool>,
}

/// The checker's hold on its checks: dropping it ends them.
pub(super) struct Registration(Arc<Check>);

impl Registration {
    /// Registers the checks of child `pid`, the first due at once, starting the
    /// thread when it is not running.
    pub(super) fn start(
        instance: &Arc<Instance>,
        pid: i32,
        config: Arc<Mutex<Arc<ProgramConfig>>>,
    ) -> std::io::Result<Registration> {
        let check = Arc::new(Check {
            instance: instance.clone(),
            pid,
            config,
            closed: Mutex::new(false),
        });
        let mut registry = REGISTRY.lock();
        match &registry.wake {
            Some(wake) => ring(wake),
            None => {
                let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
                std::thread::Builder::new()
                    .name("health-net".to_string())
                    .stack_size(crate::stack::THREAD_STACK)
                    .spawn(move || serve(&read))?;
                registry.wake = Some(Arc::new(write));
            }
        }
        registry.added.push(check.clone());
        Ok(Registration(check))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        *self.0.closed.lock() = true;
        if let Some(wake) = &REGISTRY.lock().wake {
            ring(wake);
        }
    }
}

/// Wakes the thread (a full pipe has woken it already).
fn ring(wake: &OwnedFd) {
    let _ = nix::unistd::write(wake, &[1]);
}

/// A check as the thread keeps it.
struct Job {
    check: Arc<Check>,
    /// When the next check is due (while none is in flight).
    due: Instant,
    interval: std::time::Duration,
    flight: Option<Flight>,
    /// The last result sent was a pass.
    passing: bool,
}

/// The thread: start what is due, look at the sockets, wait; until no check
/// is left.
fn serve(wake: &OwnedFd) {
    let mut jobs: Vec<Job> = Vec::new();
    // No look at the sockets before this (answers gathered), unless woken.
    let mut next_look = Instant::now();
    loop {
        // A dropped check's socket is closed here, with its flight.
        jobs.retain(|job| !*job.check.closed.lock());
        {
            let mut registry = REGISTRY.lock();
            if jobs.is_empty() && registry.added.is_empty() {
                // Under the lock: a registration from now on starts a thread.
                registry.wake = None;
                return;
            }
            let now = Instant::now();
            jobs.extend(registry.added.drain(..).map(|check| Job {
                check,
                due: now,
                interval: std::time::Duration::ZERO,
                flight: None,
                passing: false,
            }));
        }
        let now = Instant::now();
        start_due(&mut jobs, now, &mut next_look);
        let expired = jobs
            .iter()
            .any(|j| j.flight.as_ref().is_some_and(|f| f.deadline <= now));
        if (now >= next_look || expired) && look(&mut jobs, now) {
            next_look = now + gather(&jobs);
        }
        wait(wake, &jobs, next_look);
    }
}

/// Starts every idle check due within its slack.
fn start_due(jobs: &mut [Job], now: Instant, next_look: &mut Instant) {
    let idle: Vec<usize> = (0..jobs.len())
        .filter(|&i| jobs[i].flight.is_none())
        .collect();
    let waiting: Vec<Waiting> = idle
        .iter()
        .map(|&i| Waiting {
            due: jobs[i].due,
            interval: jobs[i].interval,
        })
        .collect();
    let (start, _) = schedule::plan(&waiting, now);
    let mut started = false;
    for k in start {
        let job = &mut jobs[idle[k]];
        let config = job.check.config.lock().clone();
        let Some(check) = &config.policy.healthcheck else {
            // A reload removed it: the watcher drops this soon.
            job.due = now + std::time::Duration::from_secs(1);
            continue;
        };
        job.interval = check.interval;
        match Flight::start(check, now) {
            Ok(flight) => {
                job.flight = Some(flight);
                started = true;
            }
            Err(verdict) => finish(job, verdict),
        }
    }
    if started {
        // The connects just begun: look again once they had time to be made.
        *next_look = now + gather(jobs);
    }
}

/// The shortest gather of the checks in flight.
fn gather(jobs: &[Job]) -> std::time::Duration {
    jobs.iter()
        .filter(|j| j.flight.is_some())
        .filter_map(|j| {
            let config = j.check.config.lock();
            let check = config.policy.healthcheck.as_ref()?;
            Some(schedule::gather(check.interval, check.timeout))
        })
        .min()
        .unwrap_or_default()
}

/// Looks at every socket in flight (a poll that does not wait) and moves each
/// ready one on; a check past its deadline fails after that last look. Whether
/// anything was ready.
fn look(jobs: &mut [Job], now: Instant) -> bool {
    let ready: Vec<(usize, PollFlags)> = {
        let mut which = Vec::new();
        let mut fds = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            if let Some((stream, events)) = job.flight.as_ref().and_then(Flight::interest) {
                which.push(i);
                fds.push(PollFd::new(stream.as_fd(), events));
            }
        }
        if fds.is_empty() || poll(&mut fds, PollTimeout::ZERO).is_err() {
            Vec::new()
        } else {
            fds.iter()
                .zip(which)
                .filter_map(|(fd, i)| fd.revents().filter(|r| !r.is_empty()).map(|r| (i, r)))
                .collect()
        }
    };
    let any = !ready.is_empty();
    for (i, revents) in ready {
        let job = &mut jobs[i];
        if let Some(flight) = &mut job.flight {
            if let Progress::Done(verdict) = flight.advance(revents) {
                job.flight = None;
                finish(job, verdict);
            }
        }
    }
    for job in jobs.iter_mut() {
        if job.flight.as_ref().is_some_and(|f| f.deadline <= now) {
            if let Some(flight) = job.flight.take() {
                finish(job, flight.expire());
            }
        }
    }
    any
}

/// A check ended: the next is due `interval` from now, and its result goes to
/// the instance unless it is a pass after a pass (which changes nothing).
fn finish(job: &mut Job, result: Verdict) {
    job.due = Instant::now() + job.interval;
    let repeat_pass = job.passing && result.is_ok();
    job.passing = result.is_ok();
    if repeat_pass {
        return;
    }
    let closed = job.check.closed.lock();
    if !*closed {
        let pid = job.check.pid;
        job.check
            .instance
            .send(Command::HealthResult { pid, result });
    }
}

/// Waits for the wake-up pipe, the sockets in flight (unless answers are being
/// gathered until `next_look`), the next due check or the next deadline.
fn wait(wake: &OwnedFd, jobs: &[Job], next_look: Instant) {
    let now = Instant::now();
    let gathering = now < next_look;
    let mut until: Option<Instant> = None;
    let mut earliest = |t: Instant| until = Some(until.map_or(t, |u| u.min(t)));
    let mut fds = vec![PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
    let mut in_flight = false;
    for job in jobs {
        match &job.flight {
            None => earliest(job.due),
            Some(flight) => {
                earliest(flight.deadline);
                in_flight = true;
                if !gathering {
                    if let Some((stream, events)) = flight.interest() {
                        fds.push(PollFd::new(stream.as_fd(), events));
                    }
                }
            }
        }
    }
    if gathering && in_flight {
        earliest(next_look);
    }
    let timeout = match until {
        None => PollTimeout::NONE,
        Some(t) => super::nonblocking::poll_timeout(t.saturating_duration_since(now)),
    };
    if poll(&mut fds, timeout).is_ok_and(|n| n > 0)
        && fds[0].revents().is_some_and(|r| !r.is_empty())
    {
        let mut buf = [0u8; 64];
        while nix::unistd::read(wake, &mut buf).is_ok_and(|n| n > 0) {}
    }
}
