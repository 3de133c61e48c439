//! A child's output pipes before anything came out of them.
//!
//! Many supervised programs never write to stdout or stderr (they log elsewhere or
//! not at all). A pump thread for each of them would cost a thread creation at every
//! spawn, a thread exit at every stop, and ~12 KiB of stack and buffer for nothing;
//! with a thousand instances that is a third of the daemon's memory and most of the
//! time `stop all` takes. So the watcher keeps the read ends in its own `ppoll` until
//! the first byte arrives, and only then hands them to a pump thread, which drains
//! them as usual from then on. A pipe that ends without a byte (the child exited or
//! closed it) is simply closed: no thread ever existed for it.
//!
//! Pty children skip this (their pump starts at spawn): the pty master's end of
//! stream is an `EIO` that only a read reveals, and ptys are for the few programs
//! someone attaches to.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::output::{start_pump, OutputBuffers, OutputFiles, PumpSource};

/// The read ends of a child's stdout and stderr pipes that no pump reads yet, with
/// what the pump will need once it does.
pub struct UnpumpedOutput {
    /// stdout, stderr; `None` once that pipe ended without output.
    pipes: [Option<OwnedFd>; 2],
    files: OutputFiles,
    /// The child's "every byte is in the buffers" flag (see `ChildInput`).
    drained: Arc<AtomicBool>,
}

/// What became of the pipes after a look at them.
pub enum Handoff {
    /// Nothing came out yet and they are still open: keep watching them.
    Waiting(UnpumpedOutput),
    /// A pump thread now reads them.
    Pumped,
    /// Both ended without output and are closed.
    Ended,
    /// Output arrived but no pump thread could be started (the thread limit).
    NoPump(String),
}

impl UnpumpedOutput {
    pub fn new(
        stdout: OwnedFd,
        stderr: OwnedFd,
        files: OutputFiles,
        drained: Arc<AtomicBool>,
    ) -> Self {
        UnpumpedOutput {
            pipes: [Some(stdout), Some(stderr)],
            files,
            drained,
        }
    }

    /// The pipes still open, in a fixed order (the order of `revents` in
    /// [`UnpumpedOutput::after_poll`]).
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.pipes.iter().flatten().map(|fd| fd.as_fd())
    }

    /// Acts on what `poll` reported for [`UnpumpedOutput::fds`]: a pipe that hung up
    /// with nothing to read is closed; the first readable byte starts the pump.
    /// With `child_gone`, pipes still open are handed to a pump too (grandchildren
    /// hold them), so the watcher never keeps the pipes of a reaped child.
    pub fn after_poll(
        mut self,
        revents: &[PollFlags],
        child_gone: bool,
        name: &str,
        buffers: &Arc<OutputBuffers>,
    ) -> Handoff {
        let mut data = false;
        let mut slots = self.pipes.iter_mut().filter(|p| p.is_some());
        for flags in revents {
            let Some(slot) = slots.next() else { break };
            if flags.contains(PollFlags::POLLIN) {
                data = true;
            } else if flags
                .intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL)
            {
                // Hung up with an empty pipe: end of stream, nothing to pump.
                *slot = None;
            }
        }
        let open = self.pipes.iter().any(Option::is_some);
        if !open {
            self.drained.store(true, Ordering::SeqCst);
            buffers.interrupt();
            return Handoff::Ended;
        }
        if !data && !child_gone {
            return Handoff::Waiting(self);
        }
        let [stdout, stderr] = self.pipes;
        let source = PumpSource::Pipes { stdout, stderr };
        match start_pump(
            name,
            source,
            self.files,
            buffers.clone(),
            self.drained.clone(),
        ) {
            Ok(_) => Handoff::Pumped,
            Err(e) => {
                // The descriptors went down with the failed start: whatever the
                // child writes now fails (EPIPE), and its output counts as drained.
                self.drained.store(true, Ordering::SeqCst);
                buffers.interrupt();
                Handoff::NoPump(e.to_string())
            }
        }
    }

    /// [`UnpumpedOutput::after_poll`] with a fresh non-blocking look at the pipes:
    /// for the moment the child is reaped.
    pub fn after_exit(self, name: &str, buffers: &Arc<OutputBuffers>) -> Handoff {
        let mut fds: Vec<PollFd> = self
            .fds()
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
            .collect();
        // On error every pipe looks silent and still open: a pump takes them over.
        let _ = nix::poll::poll(&mut fds, PollTimeout::ZERO);
        let revents: Vec<PollFlags> = fds
            .iter()
            .map(|fd| fd.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        self.after_poll(&revents, true, name, buffers)
    }
}
