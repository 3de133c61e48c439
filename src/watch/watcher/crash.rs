//! What is left to do when a watcher thread panics.
//!
//! No panic path is known in the watcher, but it owns things nothing else can
//! clean up: its child (which only it reaps) and the status that commands and
//! shutdown wait on. Without this, one bug would leave a child running with
//! nobody to stop or reap it and make `shutdown` wait forever. So the panic is
//! caught at the top of the thread and turned into an ordinary, visible failure
//! of that one instance; every other instance goes on as before.

use std::any::Any;
use std::time::Instant;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::Watcher;
use crate::hub::Event;
use crate::sys;
use crate::watch::state::State;

impl Watcher {
    /// Kills and reaps the child (nothing would supervise it any more), marks the
    /// instance FATAL with the reason and releases whoever waits on it. Each step
    /// is a plain syscall or a status update, so this cannot itself fail halfway.
    pub(super) fn after_panic(&mut self, payload: &(dyn Any + Send)) {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let name = self.instance.name();
        let pid = self.child.as_ref().map(|c| c.pid);
        self.write_log_summary();
        self.hub.publish(&Event::WatcherFailed {
            name: &name,
            pid,
            what: &what,
        });
        if let Some(child) = self.child.take() {
            // The group first (a pipeline's members), then the leader itself in
            // case it left its group; then reap it so no zombie stays behind.
            let _ = sys::process_group::signal_group(child.pid, Signal::SIGKILL);
            let _ = kill(Pid::from_raw(child.pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(child.pid), None);
            crate::orphans::released(child.pid);
            self.hub.publish(&Event::Reaped {
                name: &name,
                pid: child.pid,
            });
        }
        self.kill_leftover_groups(Instant::now(), true);
        self.instance.set_input(None);
        self.instance.output.close();
        let reason = format!("internal error: {what}");
        let mut before = State::Fatal;
        self.instance.publish(|s| {
            before = s.state;
            s.state = State::Fatal;
            s.pid = None;
            s.spawnerr = Some(reason);
            s.leftovers = false;
            s.crashed = true;
            s.finished = true;
        });
        self.instance.close_inbox();
        // Programs that wait for this one must learn it will not come up.
        self.hub.publish(&Event::StateChanged {
            name: &name,
            pid: None,
            from: before,
            to: State::Fatal,
        });
    }
}
