//! One alert command's run, once the notifier (`notify.rs`) has admitted it: the
//! command started in a process group of its own with the event's facts in its
//! environment, then waited for by a `notify` thread of its own, for its pid
//! alone, and killed with its group at its `timeout`. Kept apart from the
//! subscriber, which only decides whether a command runs and counts what did not.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::warn;
use nix::sys::signal::Signal;
use parking_lot::Mutex;

use super::{Launch, Shared};

/// How often a group its command left behind is checked until the timeout.
const LEFTOVER_POLL: Duration = Duration::from_millis(100);

/// Runs `launch` for an event of `kind` about `instance` (and `pid`, the process
/// the event is about), with a `notify` thread that bounds it; its place among
/// the running is freed when it has been reaped, or at once when it cannot start.
pub(super) fn run(
    shared: &Arc<Shared>,
    launch: &Launch,
    kind: &str,
    instance: &str,
    pid: Option<i32>,
    message: &str,
) {
    let suppressed = launch.over_rate + launch.over_cap;
    let Some((program, args)) = launch.argv.split_first() else {
        return shared.release(None);
    };
    // Reaped by its own pid here, never by the orphan reaper.
    let spawning = crate::orphans::spawning();
    let spawned = crate::sys::sd_notify::without_service_manager(Command::new(program))
        .args(args)
        .current_dir(&launch.dir)
        // Its own group: the timeout and the shutdown reach whatever it starts.
        .process_group(0)
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
    let child = match spawned {
        Ok(child) => {
            spawning.owns(child.id() as i32);
            child
        }
        Err(e) => {
            warn!("notify: cannot run {program}: {e}");
            return shared.release(None);
        }
    };
    let group = child.id() as i32;
    let closed = {
        let mut n = shared.state.lock();
        n.groups.push(group);
        n.closed
    };
    if closed {
        // The shutdown began while it started: it is not waited for.
        let _ = crate::sys::process_group::signal_group(group, Signal::SIGKILL);
    }
    let (name, timeout) = (program.clone(), launch.timeout);
    let slot = Arc::new(Mutex::new(Some(child)));
    let theirs = slot.clone();
    let notifier = shared.clone();
    let waiter = std::thread::Builder::new()
        .name("notify".into())
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(move || {
            if let Some(child) = theirs.lock().take() {
                notifier.watch(child, &name, timeout);
            }
        });
    if let Err(e) = waiter {
        // Nobody could bound it: it does not run unbounded.
        warn!("notify: cannot wait for {program} ({e}): killed");
        let _ = crate::sys::process_group::signal_group(group, Signal::SIGKILL);
        if let Some(mut child) = slot.lock().take() {
            let _ = child.wait();
            crate::orphans::released(group);
        }
        shared.release(Some(group));
    }
}

impl Shared {
    /// Waits for an alert command until its timeout, kills its group if it has not
    /// ended by then (or left something behind that has not), reaps it, frees its place.
    fn watch(&self, mut child: Child, name: &str, timeout: Duration) {
        let group = child.id() as i32;
        let deadline = Instant::now() + timeout;
        let mut killed = false;
        if !wait_until(&mut child, deadline) {
            let _ = crate::sys::process_group::signal_group(group, Signal::SIGKILL);
            killed = true;
        }
        let status = child.wait();
        crate::orphans::released(group);
        // What it started in its group and left running has the same deadline.
        while !killed && crate::sys::process_group::group_alive(group) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = crate::sys::process_group::signal_group(group, Signal::SIGKILL);
                killed = true;
            } else {
                std::thread::sleep(left.min(LEFTOVER_POLL));
            }
        }
        if killed {
            self.state.lock().killed += 1;
            warn!(
                "notify: {name} still running after its timeout ({} s): its process group was killed",
                timeout.as_secs_f64()
            );
        }
        match status {
            Ok(status) if status.success() || killed => {}
            Ok(status) => warn!("notify: {name} failed ({status})"),
            Err(e) => warn!("notify: waiting for {name}: {e}"),
        }
        self.release(Some(group));
    }
}

/// Whether `child` exits before `deadline` (its pidfd readable; without one,
/// polled).
fn wait_until(child: &mut Child, deadline: Instant) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let pidfd = crate::sys::pidfd::pidfd_open(child.id() as i32).ok();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match &pidfd {
            Some(fd) => {
                let ms = left.as_millis().min(i32::MAX as u128) as i32;
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                match poll(
                    &mut fds,
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::ZERO),
                ) {
                    Ok(n) if n > 0 => return true,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Ok(_) if !left.is_zero() => continue,
                    _ => return matches!(child.try_wait(), Ok(Some(_))),
                }
            }
            None => {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return true;
                }
                if left.is_zero() {
                    return false;
                }
                std::thread::sleep(left.min(LEFTOVER_POLL));
            }
        }
    }
}
