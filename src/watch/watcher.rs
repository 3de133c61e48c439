//! The watcher thread: one per instance, the only owner of its child.
//!
//! It sleeps in a single `ppoll` over the child's pidfd, with the machine's next
//! deadline (or, under `max_memory`, its next memory check) as timeout and the wake signal let in (`sys::wake`: a command sent to
//! the instance signals this thread), so it wakes exactly for an exit, a command or
//! a deadline — never periodically. Each wake-up becomes
//! [`Event`]s for the pure [`Machine`]; the watcher carries out the resulting
//! [`Action`]s (spawn, signal, report) and publishes the new [`Status`].

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::handle::SignalOutcome;
use super::instance::{ChildInput, Command, InputTarget, Instance};
use super::leftover::LeftoverGroup;
use super::log_limit::LogLimit;
use super::spawn;
use super::state::{Action, Event, ExitStatus, Machine};
use super::unpumped::{Handoff, UnpumpedOutput};
use crate::config::OutputTarget;
use crate::config::ProgramConfig;
use crate::hub::{Event as HubEvent, Hub};
use crate::output::{start_pump, OutputFiles, PumpSource, RotatingPath};
use crate::sys;

mod adopt;
mod adopted;
mod crash;
mod groups;
mod health;
mod pidfile;
mod reporting;
mod sleep;

/// The live child of an instance.
struct Running {
    pid: i32,
    pidfd: OwnedFd,
    /// Output pipes no pump reads yet: polled here until the first byte.
    unpumped: Option<UnpumpedOutput>,
    /// Which pipes stdout and stderr were at the spawn (descriptor, st_dev,
    /// st_ino), wherever they are read now: an upgrade keeps those still open.
    output_ids: [Option<(i32, u64, u64)>; 2],
}

pub struct Watcher {
    instance: Arc<Instance>,
    config: Arc<ProgramConfig>,
    machine: Machine,
    child: Option<Running>,
    /// Process groups whose leader exited while members lived on: they get
    /// SIGKILL at their `stoptime` deadline (README: Process states), unless they die out first.
    leftover_groups: Vec<LeftoverGroup>,
    removing: bool,
    /// How many children it spawned: the current one's run, which marks it and
    /// its descendants (`orphans::adopted`).
    run: u64,
    /// A spawn or a pump start happened since the stack was last trimmed.
    went_deep: bool,
    /// Counts a crash loop's repeated event-log lines instead of writing them.
    log_limit: LogLimit,
    /// Where this instance's events go (event log, journal, alerts, scheduler…).
    hub: Hub,
    /// The thread that runs its health checks, while checks are due.
    checker: Option<crate::watch::health::Checker>,
}

/// Starts the watcher thread of `instance`; `autostart` sends it a first `Start`.
pub fn start_watcher(
    instance: Arc<Instance>,
    config: Arc<ProgramConfig>,
    hub: Hub,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // Boxed: on the thread's stack its ~700 bytes pushed the idle loop's frames
    // onto a third page (4 KiB more per instance, measured with pagemap).
    let mut watcher = Box::new(Watcher {
        instance: instance.clone(),
        config,
        machine: Machine::new(),
        child: None,
        leftover_groups: Vec::new(),
        removing: false,
        run: 0,
        went_deep: false,
        log_limit: LogLimit::default(),
        hub,
        checker: None,
    });
    std::thread::Builder::new()
        .name(format!("watch:{}", instance.name()))
        .stack_size(crate::stack::THREAD_STACK)
        .spawn(move || {
            // Before the first look at the inbox: from here on a command sent
            // signals this thread, and the signal waits for the next `ppoll`.
            sys::wake::block_in_this_thread();
            watcher.instance.register_watcher(sys::wake::this_thread());
            // The watcher owns its child and the status others wait on: a bug must
            // not take them down with the thread (see `crash`).
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| watcher.run()));
            if let Err(payload) = run {
                watcher.after_panic(payload.as_ref());
            }
        })
}

impl Watcher {
    /// The handlers this loop calls are `#[inline(never)]`: their frames (a spawn's
    /// are large) then sit below this one, where `release_unused` drops them, rather
    /// than inside it, where they would stay resident while the watcher sleeps.
    fn run(&mut self) {
        loop {
            // A spawn (or starting a pump thread) touches a page deep down that the
            // wait needs no more. Only after those: dropping a page costs a TLB
            // flush on every CPU running a daemon thread, which a thousand stops at
            // once would pay for, while what a stop touches is no more than a spawn.
            if std::mem::take(&mut self.went_deep) {
                crate::stack::release_unused();
            }
            let woke = self.sleep();
            let now = Instant::now();
            if let Some(revents) = woke.output {
                self.output_ready(&revents);
            }
            if woke.child_exited {
                self.reap(now);
            }
            let mut last_seq = None;
            // Looked at after every wake-up: a signal says only "look".
            for (seq, cmd) in self.instance.take_commands() {
                self.command(cmd, now);
                last_seq = Some(seq);
            }
            self.apply(Event::Timer, Instant::now());
            self.kill_leftover_groups(Instant::now(), false);
            self.write_due_log_summary(Instant::now());
            self.sync_checker();
            self.publish(last_seq);
            if self.removing && !self.machine.state.has_process() && self.child.is_none() {
                self.kill_leftover_groups(Instant::now(), true);
                self.write_log_summary();
                self.instance.output.close();
                self.instance.publish(|s| s.finished = true);
                self.instance.close_inbox();
                return;
            }
        }
    }

    #[inline(never)]
    fn reap(&mut self, now: Instant) {
        let Some(child) = &self.child else { return };
        let pid = child.pid;
        let status = match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => ExitStatus::Code(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => ExitStatus::Signal(sig),
            // Not really gone yet (or a stop/continue report): keep watching.
            Ok(_) => return,
            // ECHILD: someone else reaped it — should never happen; treat as lost.
            Err(Errno::ECHILD) => ExitStatus::Signal(Signal::SIGKILL),
            Err(_) => return,
        };
        crate::orphans::released(pid);
        if let Some(output) = self.child.as_mut().and_then(|c| c.unpumped.take()) {
            let handoff = output.after_exit(&self.instance.name(), &self.instance.output);
            self.handoff(handoff, pid);
        }
        self.child = None;
        self.hub.publish(&HubEvent::Reaped {
            name: &self.instance.name(),
            pid,
        });
        self.instance
            .publish(|s| s.stopped_at = Some(SystemTime::now()));
        self.apply(Event::Exited(status), now);
        self.publish(None);
        // After the exit status is published: attached followers learn of the exit
        // from this wake-up and can report how it ended.
        if self.instance.input().is_some_and(|i| i.pid == pid) {
            self.instance.set_input(None);
        }
        self.instance.output.interrupt();
    }

    #[inline(never)]
    fn command(&mut self, cmd: Command, now: Instant) {
        // Debug builds only: lets tests/watcher_panic.rs prove a panicking watcher
        // is contained (there is no known way to make one panic otherwise).
        #[cfg(debug_assertions)]
        if matches!(cmd, Command::Stop)
            && std::env::var_os("TASKMASTER_TEST_PANIC_ON_STOP")
                .is_some_and(|v| v == self.instance.name().as_str())
        {
            panic!("test failpoint: panic on stop");
        }
        match cmd {
            Command::Note(note) => self.instance.publish(|s| s.note = Some(note)),
            Command::Start => {
                self.instance.publish(|s| s.note = None);
                self.write_log_summary();
                self.hub.publish(&HubEvent::StartRequested {
                    name: &self.instance.name(),
                });
                self.apply(Event::Start, now)
            }
            Command::Stop => self.apply(Event::Stop, now),
            Command::Shutdown => self.apply(Event::Shutdown, now),
            Command::KillNow => {
                self.apply(Event::KillNow, now);
                self.kill_leftover_groups(now, true);
            }
            Command::Signal(sig, reply) => {
                let result = match &self.child {
                    Some(child) => match sys::process_group::signal_group(child.pid, sig) {
                        Ok(()) => SignalOutcome::Sent,
                        Err(e) => SignalOutcome::Failed(e.desc().to_string()),
                    },
                    None => SignalOutcome::NotRunning,
                };
                let _ = reply.send(result);
            }
            Command::Update(config) => {
                self.config = config;
                self.update_checker();
            }
            Command::HealthResult { pid, result } => {
                self.apply(Event::HealthChecked { pid, result }, now)
            }
            Command::Remove => {
                self.removing = true;
                self.apply(Event::Shutdown, now);
            }
            Command::Quiesce(hold) => self.quiesce(&hold),
            Command::Adopt(adopted) => self.adopt(*adopted),
        }
    }

    /// Feeds one event to the machine and carries out its actions; a spawn's result
    /// is fed back in turn.
    #[inline(never)]
    fn apply(&mut self, event: Event, mut now: Instant) {
        let mut pending = vec![event];
        while let Some(event) = pending.pop() {
            for action in self.machine.step(event, &self.config.policy, now) {
                match action {
                    Action::Spawn => {
                        pending.push(self.spawn());
                        // A spawn takes milliseconds: the child's starttime counts
                        // from when it exists, not from when this wake-up began.
                        now = Instant::now();
                    }
                    Action::SignalGroup(sig) => {
                        if let Some(child) = &self.child {
                            if let Err(errno) = sys::process_group::signal_group(child.pid, sig) {
                                self.hub.publish(&HubEvent::SignalFailed {
                                    name: &self.instance.name(),
                                    signal: sig,
                                    errno,
                                });
                            }
                            self.signal_outside_group(child.pid, sig);
                        }
                    }
                    Action::CleanUpGroup {
                        pgid,
                        signal,
                        kill_at,
                    } => self.clean_up_group(pgid, signal, kill_at),
                    Action::Report(report) => self.report(&report),
                    Action::ReadPidFile => pending.push(self.read_pid_file()),
                    // Only ever asked while RUNNING under `max_memory`.
                    Action::CheckMemory => {
                        if let Some(child) = &self.child {
                            let rss_bytes = sys::group_memory::group_rss(child.pid);
                            pending.push(Event::MemorySampled { rss_bytes });
                        }
                    }
                }
            }
        }
    }

    fn spawn(&mut self) -> Event {
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
    fn output_files(&self) -> std::io::Result<OutputFiles> {
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
    fn output_ready(&mut self, revents: &[PollFlags]) {
        let Some(child) = &mut self.child else { return };
        let Some(output) = child.unpumped.take() else {
            return;
        };
        let pid = child.pid;
        let handoff =
            output.after_poll(revents, false, &self.instance.name(), &self.instance.output);
        self.handoff(handoff, pid);
    }

    fn handoff(&mut self, handoff: Handoff, pid: i32) {
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
