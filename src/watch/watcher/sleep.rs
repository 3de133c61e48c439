//! The watcher's one blocking call: a `ppoll` over everything it waits for.

use std::os::fd::AsFd;
use std::time::Instant;

use nix::poll::{PollFd, PollFlags};
use nix::sys::time::TimeSpec;

use super::Watcher;
use crate::sys;
use crate::watch::timeout::poll_timeout;

impl Watcher {
    /// Blocks until the child exits, a command arrives (the wake signal, let in for
    /// the `ppoll` only: `sys::wake`) or the next deadline passes.
    #[inline(never)]
    pub(super) fn sleep(&self) -> Woke {
        let deadline = self
            .leftover_groups
            .iter()
            .map(|g| g.deadline)
            .chain(self.machine.deadline)
            .chain(self.log_limit.due())
            .min();
        // The memory check needs no precision: its timeout is asked whole, and the
        // kernel's slack (≤ 1 ms a second) only makes it a little late. Asked short
        // and topped up like the deadlines above, it would cost two wake-ups a check.
        let memory_check = self.machine.memory_check_at;
        let mut fds = Vec::new();
        if let Some(child) = &self.child {
            fds.push(PollFd::new(child.pidfd.as_fd(), PollFlags::POLLIN));
        }
        let child_slot = 0;
        let unpumped = self.child.as_ref().and_then(|c| c.unpumped.as_ref());
        if let Some(output) = unpumped {
            fds.extend(output.fds().map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
        }
        let output_slots = usize::from(self.child.is_some())..fds.len();
        for group in &self.leftover_groups {
            fds.extend(group.fds().map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
        }
        // Woken early by a timeout shortened against the kernel's slack (see
        // `timeout`): poll again for what is left. EINTR is the wake signal (a
        // command); another error (ENOMEM) is a spurious wake-up: the checks that
        // follow are all non-blocking and idempotent. Commands queued before this
        // thread registered for wakes were never signalled: no sleep then.
        let mask = sys::wake::unblocked_mask();
        let commands_waiting = self.instance.has_commands();
        loop {
            let now = Instant::now();
            let left = match commands_waiting {
                true => Some(std::time::Duration::ZERO),
                false => deadline.map(|d| poll_timeout(d.saturating_duration_since(now))),
            };
            let memory_left = memory_check.map(|at| at.saturating_duration_since(now));
            let timeout = left.into_iter().chain(memory_left).min();
            let timeout = timeout.map(TimeSpec::from_duration);
            match nix::poll::ppoll(&mut fds, timeout, Some(mask)) {
                Ok(0)
                    if !commands_waiting
                        && deadline.is_some_and(|d| Instant::now() < d)
                        && memory_check.is_none_or(|at| Instant::now() < at) =>
                {
                    continue
                }
                _ => break,
            }
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let output = fds[output_slots.clone()].iter().any(ready).then(|| {
            fds[output_slots]
                .iter()
                .map(|fd| fd.revents().unwrap_or(PollFlags::empty()))
                .collect()
        });
        Woke {
            child_exited: self.child.is_some() && fds.get(child_slot).is_some_and(ready),
            output,
        }
    }
}

pub(super) struct Woke {
    pub child_exited: bool,
    /// `revents` of the unpumped output pipes, when one of them is ready.
    pub output: Option<Vec<PollFlags>>,
}
