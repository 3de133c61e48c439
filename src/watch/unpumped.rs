//! A child's output pipes while little or nothing comes out of them.
//!
//! Many supervised programs never write to stdout or stderr (they log elsewhere or
//! not at all), or print a line or two at start and go quiet. A pump thread for
//! each of them would cost a thread creation at every spawn, a thread exit at every
//! stop, and two stack pages for as long as the child lives; with a thousand
//! instances that is a third of the daemon's memory and most of the time `stop all`
//! takes. So the watcher keeps the read ends in its own `ppoll` and takes what
//! trickles out itself (`output::QuietOutput`: one small read, or one splice to the
//! file, per wake-up); only a child that fills a whole small buffer at once gets a
//! pump thread, which drains the pipes from then on. A pipe that ends is simply
//! closed: no thread ever existed for it.
//!
//! Pty children skip this (their pump starts at spawn): the pty master's end of
//! stream is an `EIO` that only a read reveals, and ptys are for the few programs
//! someone attaches to.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::output::{
    start_pump, OutputBuffers, OutputFiles, PumpSource, QuietOutput, Stream, Taken,
};

/// The read ends of a child's stdout and stderr pipes that no pump reads yet, with
/// what the pump will need once it does.
pub struct UnpumpedOutput {
    /// stdout, stderr; `None` once that pipe ended.
    pipes: [Option<OwnedFd>; 2],
    /// Until the first output; then `quiet` holds them.
    files: Option<OutputFiles>,
    /// Boxed: this struct lives in the watcher's frame, which must stay small
    /// (every byte there is resident for every silent instance).
    quiet: Option<Box<QuietOutput>>,
    /// The first output was taken since the watcher last asked.
    first_taken: bool,
    /// The child's "every byte is in the buffers" flag (see `ChildInput`).
    drained: Arc<AtomicBool>,
}

/// What became of the pipes after a look at them.
pub enum Handoff {
    /// Still open and quiet (what came out was taken): keep watching them.
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
            files: Some(files),
            quiet: None,
            first_taken: false,
            drained,
        }
    }

    /// The pipes of a child adopted after an upgrade in place (either may have
    /// ended before it): watched like a new child's until their first output.
    pub fn adopted(
        pipes: [Option<OwnedFd>; 2],
        files: OutputFiles,
        drained: Arc<AtomicBool>,
    ) -> Self {
        UnpumpedOutput {
            pipes,
            files: Some(files),
            quiet: None,
            first_taken: false,
            drained,
        }
    }

    /// True once after the first output was taken: that went deeper into the
    /// watcher's stack (choosing the files, the first read) than its loop needs,
    /// so the watcher gives those pages back. Later takes touch no more than one
    /// page, which stays while the child trickles.
    pub fn first_output_taken(&mut self) -> bool {
        std::mem::take(&mut self.first_taken)
    }

    /// The pipes still open, in a fixed order (the order of `revents` in
    /// [`UnpumpedOutput::after_poll`]).
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.pipes.iter().flatten().map(|fd| fd.as_fd())
    }

    /// Acts on what `poll` reported for [`UnpumpedOutput::fds`]: what a readable
    /// pipe holds is taken (a small read or a splice); a pipe that ended is closed;
    /// a take that filled a whole small buffer starts the pump. With `child_gone`,
    /// pipes still open are handed to a pump too (grandchildren hold them), so the
    /// watcher never keeps the pipes of a reaped child.
    pub fn after_poll(
        mut self,
        revents: &[PollFlags],
        child_gone: bool,
        name: &str,
        buffers: &Arc<OutputBuffers>,
    ) -> Handoff {
        let mut chatty = false;
        let mut slots = Stream::ALL
            .into_iter()
            .zip(self.pipes.iter_mut())
            .filter(|(_, p)| p.is_some());
        for flags in revents {
            let Some((stream, slot)) = slots.next() else {
                break;
            };
            if flags.contains(PollFlags::POLLIN) {
                if self.quiet.is_none()
                    && !self.files.as_ref().is_some_and(|f| f.writes_never_wait())
                {
                    // A file a write may wait on (a terminal, a FIFO): a pump
                    // thread writes it, never this watcher.
                    chatty = true;
                    continue;
                }
                let first_taken = &mut self.first_taken;
                let quiet = self.quiet.get_or_insert_with(|| {
                    *first_taken = true;
                    let files = self.files.take().unwrap_or_default();
                    Box::new(QuietOutput::new(name, files, &Stream::ALL, buffers))
                });
                let Some(pipe) = slot.as_ref() else { continue };
                match quiet.take(stream, pipe, buffers) {
                    Taken::Bytes { chatty: full } => chatty |= full,
                    Taken::End => *slot = None,
                }
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
        if !chatty && !child_gone {
            return Handoff::Waiting(self);
        }
        let [stdout, stderr] = self.pipes;
        let started = match (self.quiet, self.files) {
            (Some(quiet), _) => {
                quiet.into_pump(stdout, stderr, buffers.clone(), self.drained.clone())
            }
            (None, files) => start_pump(
                name,
                PumpSource::Pipes { stdout, stderr },
                files.unwrap_or_default(),
                buffers.clone(),
                self.drained.clone(),
            ),
        };
        match started {
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
