//! The watcher thread: one per instance, the only owner of its child.
//!
//! It sleeps in a single `ppoll` over the child's pidfd, with the machine's next
//! deadline (or, under `max_memory`, its next memory check) as timeout and the wake signal let in (`sys::wake`: a command sent to
//! the instance signals this thread), so it wakes exactly for an exit, a command or
//! a deadline — never periodically. Each wake-up becomes
//! [`Event`]s for the pure [`Machine`]; the watcher carries out the resulting
//! [`Action`]s (spawn, signal, report) and publishes the new [`Status`].

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::handle::SignalOutcome;
use super::instance::{Command, Instance};
use super::leftover::LeftoverGroup;
use super::log_limit::LogLimit;
use super::state::{Action, Event, ExitStatus, Machine};
use super::unpumped::UnpumpedOutput;
use crate::config::ProgramConfig;
use crate::hub::{Event as HubEvent, Hub};
use crate::sys;

mod adopt;
mod adopted;
mod crash;
mod groups;
mod health;
mod pidfile;
mod reporting;
mod sleep;
mod spawning;

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
}
