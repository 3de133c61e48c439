//! The watcher's two parts in an upgrade in place (README: Upgrading in place):
//! before the exec, it hands in its record and stops ([`Watcher::quiesce`]);
//! after it, the new watcher takes over the record's child ([`Watcher::adopt`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::super::handover::{Adopted, ChildRecord, InstanceRecord, MachineRecord, QuiesceHold};
use super::super::handover_output::StreamRecord;
use super::super::instance::{ChildInput, InputTarget};
use super::super::leftover::LeftoverGroup;
use super::super::unpumped::UnpumpedOutput;
use super::{Running, Watcher};
use crate::hub::Event as HubEvent;
use crate::output::{start_pump, OutputFiles, PumpSource, Stream};

/// The identity of a pipe end: its descriptor number, st_dev and st_ino.
pub(super) fn pipe_id(fd: &OwnedFd) -> Option<(RawFd, u64, u64)> {
    let st = nix::sys::stat::fstat(fd.as_fd()).ok()?;
    Some((fd.as_raw_fd(), st.st_dev, st.st_ino))
}

/// The descriptor, if it is still open on the same pipe (a pump closes a pipe
/// that ended, and its number may have been reused since).
fn still_open(id: Option<(RawFd, u64, u64)>) -> Option<RawFd> {
    let (fd, dev, ino) = id?;
    // SAFETY: only fstat'ed: a closed or reused number gives an error or another
    // identity, never an effect.
    let st = nix::sys::stat::fstat(unsafe { BorrowedFd::borrow_raw(fd) }).ok()?;
    (st.st_dev == dev && st.st_ino == ino).then_some(fd)
}

impl Watcher {
    /// Hands in this instance's record and waits until the upgrade is over: the
    /// exec ends this thread here, or, if it failed, the watcher goes on as if
    /// nothing happened. Its child may exit meanwhile: its pidfd then wakes the
    /// next `ppoll` (this process's or the next one's), which reaps it.
    pub(super) fn quiesce(&mut self, hold: &QuiesceHold) {
        let clock = hold.clock;
        let status = self.instance.status();
        let child = self.child.as_ref().map(|c| {
            let input = self.instance.input().filter(|i| i.pid == c.pid);
            let (stdin, pty) = match input.map(|i| i.to) {
                Some(InputTarget::Pipe(p)) => (Some((p.dev, p.ino)), None),
                Some(InputTarget::Pty(master)) => (None, Some(master.as_raw_fd())),
                None => (None, None),
            };
            ChildRecord {
                pid: c.pid,
                pidfd: c.pidfd.as_raw_fd(),
                stdin,
                stdout: still_open(c.output_ids[0]),
                stderr: still_open(c.output_ids[1]),
                held_cr: pty.is_some() && self.instance.output.held_cr.load(Ordering::SeqCst),
                pty,
            }
        });
        let (started_at, stopped_at) =
            InstanceRecord::times(status.started_at, status.stopped_at, &clock);
        hold.park(InstanceRecord {
            program: self.instance.program.clone(),
            index: self.instance.index,
            machine: MachineRecord::of(&self.machine, &clock),
            started_at,
            stopped_at,
            note: status.note,
            child,
            output: (Stream::ALL.iter())
                .map(|&s| StreamRecord::of(&self.instance.output, s))
                .collect(),
            leftover_groups: (self.leftover_groups.iter())
                .map(|g| (g.pgid, clock.offset(g.deadline)))
                .collect(),
            run: self.run,
        });
    }

    /// Takes over the previous process's instance: its machine, what it
    /// published, and its live child with that child's descriptors, whose output
    /// is watched (pipes) or pumped (a pty) from here on as after a spawn.
    pub(super) fn adopt(&mut self, adopted: Adopted) {
        self.machine = adopted.machine;
        self.run = adopted.run;
        for (record, &stream) in adopted.output.iter().zip(Stream::ALL.iter()) {
            record.restore(&self.instance.output, stream);
        }
        // Their members are found again (new pidfds); a group gone meanwhile is not.
        self.leftover_groups = (adopted.leftover_groups.into_iter())
            .filter_map(|(pgid, deadline)| LeftoverGroup::after_leader_exit(pgid, deadline))
            .collect();
        if let Some(child) = adopted.child {
            let name = self.instance.name();
            let drained = Arc::new(AtomicBool::new(false));
            let files = self.output_files().unwrap_or_else(|e| {
                log::warn!("{name}: {e}: its output after the upgrade is not written");
                OutputFiles::default()
            });
            let output_ids = [
                child.stdout.as_ref().and_then(pipe_id),
                child.stderr.as_ref().and_then(pipe_id),
            ];
            let (unpumped, input) = match child.pty {
                Some(master) => {
                    let master = Arc::new(master);
                    self.instance
                        .output
                        .held_cr
                        .store(child.held_cr, Ordering::SeqCst);
                    let source = PumpSource::Pty {
                        master: master.clone(),
                    };
                    let buffers = self.instance.output.clone();
                    if let Err(e) = start_pump(&name, source, files, buffers, drained.clone()) {
                        self.hub.publish(&HubEvent::OutputLost {
                            name: &name,
                            pid: child.pid,
                            reason: &e.to_string(),
                        });
                    }
                    (None, Some(InputTarget::Pty(master)))
                }
                None => {
                    let pipes = [child.stdout, child.stderr];
                    let output = match pipes.iter().any(Option::is_some) {
                        true => Some(UnpumpedOutput::adopted(pipes, files, drained.clone())),
                        false => {
                            drained.store(true, Ordering::SeqCst);
                            None
                        }
                    };
                    (output, child.stdin.map(InputTarget::Pipe))
                }
            };
            // The journal knows it as this run's child from now on.
            self.hub.publish(&HubEvent::Spawned {
                name: &name,
                pid: child.pid,
                pidfd: child.pidfd.as_fd(),
            });
            if let Some(to) = input {
                self.instance.set_input(Some(ChildInput {
                    to,
                    pid: child.pid,
                    drained,
                }));
            }
            self.child = Some(Running {
                pid: child.pid,
                pidfd: child.pidfd,
                unpumped,
                output_ids,
            });
            self.went_deep = true;
        }
        self.instance.publish(|s| {
            s.started_at = adopted.started_at;
            s.stopped_at = adopted.stopped_at;
            s.note = adopted.note;
        });
    }
}
