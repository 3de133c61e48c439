//! Spawning the child and setting up its output: the run's files opened with the
//! program's settings, the pty handed to a pump at once, the pipes kept in the
//! watcher's `ppoll` until they say something, then handed on (`watch/unpumped.rs`).

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use nix::poll::PollFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::{adopt, Running, Watcher};
use crate::config::OutputTarget;
use crate::hub::Event as HubEvent;
use crate::output::{start_pump, OutputFiles, PumpSource, RotatingPath};
use crate::sys;
use crate::watch::instance::{ChildInput, InputTarget};
use crate::watch::spawn;
use crate::watch::state::Event;
use crate::watch::unpumped::{Handoff, UnpumpedOutput};

impl Watcher {
    pub(super) fn spawn(&mut self) -> Event {
        self.went_deep = true;
        let files = match self.output_files() {
            Ok(files) => files,
            Err(e) => {
                return Event::SpawnFailed {
                    reason: e.to_string(),
                }
            }
        };
        self.run += 1;
        let marker = crate::orphans::Marker {
            name: &self.instance.name(),
            run: self.run,
        };
        let child = match spawn::spawn(&self.config.launch, marker) {
            Ok(child) => child,
            Err(e) => {
                return Event::SpawnFailed {
                    reason: e.to_string(),
                }
            }
        };
        let drained = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut output_ids = [None, None];
        let (unpumped, input) = match child.io {
            spawn::ChildIo::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                output_ids = [adopt::pipe_id(&stdout), adopt::pipe_id(&stderr)];
                let output = UnpumpedOutput::new(stdout, stderr, files, drained.clone());
                (Some(output), InputTarget::Pipe(stdin))
            }
            spawn::ChildIo::Pty { master } => {
                if let Err(e) = start_pump(
                    &self.instance.name(),
                    PumpSource::Pty {
                        master: master.clone(),
                    },
                    files,
                    self.instance.output.clone(),
                    drained.clone(),
                ) {
                    // Without a reader the child would block on a full pty: do not
                    // keep it.
                    let _ = sys::process_group::signal_group(child.pid, Signal::SIGKILL);
                    let _ = waitpid(Pid::from_raw(child.pid), None);
                    crate::orphans::released(child.pid);
                    return Event::SpawnFailed {
                        reason: e.to_string(),
                    };
                }
                (None, InputTarget::Pty(master))
            }
        };
        let pid = child.pid;
        // Journaled before the spawn is published: a crash right after leaves it known.
        self.hub.publish(&HubEvent::Spawned {
            name: &self.instance.name(),
            pid,
            pidfd: child.pidfd.as_fd(),
        });
        self.child = Some(Running {
            pid,
            pidfd: child.pidfd,
            unpumped,
            output_ids,
        });
        self.instance.set_input(Some(ChildInput {
            to: input,
            pid,
            drained,
        }));
        self.instance
            .publish(|s| s.started_at = Some((Instant::now(), SystemTime::now())));
        Event::Spawned { pid }
    }

    /// The run's output files, opened (appending) with the program's settings.
    pub(super) fn output_files(&self) -> std::io::Result<OutputFiles> {
        let launch = &self.config.launch;
        let path = |t: &OutputTarget| match t {
            OutputTarget::File(p) => Some(p.clone()),
            OutputTarget::Discard => None,
        };
        let mut files = OutputFiles::open(
            path(&launch.stdout).as_deref(),
            path(&launch.stderr).as_deref(),
        )?;
        let rotating = |t: &OutputTarget, r: crate::config::Rotation| {
            path(t).filter(|_| r.maxbytes > 0).map(|path| RotatingPath {
                path,
                maxbytes: r.maxbytes,
                backups: r.backups,
            })
        };
        files.timestamps = launch.timestamps;
        files.rotate = [
            rotating(&launch.stdout, launch.stdout_rotation),
            rotating(&launch.stderr, launch.stderr_rotation),
        ];
        files.rotate_only_regular_files();
        Ok(files)
    }

    /// The child's silent pipes became readable or hung up.
    #[inline(never)]
    pub(super) fn output_ready(&mut self, revents: &[PollFlags]) {
        let Some(child) = &mut self.child else { return };
        let Some(output) = child.unpumped.take() else {
            return;
        };
        let pid = child.pid;
        let handoff =
            output.after_poll(revents, false, &self.instance.name(), &self.instance.output);
        self.handoff(handoff, pid);
    }

    pub(super) fn handoff(&mut self, handoff: Handoff, pid: i32) {
        match handoff {
            Handoff::Waiting(mut output) => {
                self.went_deep |= output.first_output_taken();
                if let Some(child) = &mut self.child {
                    child.unpumped = Some(output);
                }
            }
            // Starting a thread is deep; closing two pipes is not (and every child
            // of a `stop all` ends this way, where a needless stack trim would cost
            // a TLB-flush IPI per instance).
            Handoff::Pumped => self.went_deep = true,
            Handoff::Ended => {}
            Handoff::NoPump(reason) => {
                // Its output can no longer be read: rather than let it die of EPIPE
                // at some later write, end it now; its exit is handled as any other.
                self.hub.publish(&HubEvent::OutputLost {
                    name: &self.instance.name(),
                    pid,
                    reason: &reason,
                });
                let _ = sys::process_group::signal_group(pid, Signal::SIGKILL);
            }
        }
    }
}
