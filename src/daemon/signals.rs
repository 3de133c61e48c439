//! The `signals` thread: handlers only notify (signal-hook's self-pipe); this
//! thread turns each signal into an event for the main thread.

use std::sync::mpsc::Sender;
use std::sync::Arc;

use log::{info, warn};
use signal_hook::consts::{SIGHUP, SIGINT, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;

use super::{spawn_thread, DaemonEvent};
use crate::control::{Hooks, Source};
use crate::headless::Headless;

/// The signal thread: handlers only notify (signal-hook's self-pipe); this thread
/// turns each signal into an event for the main thread.
pub(super) fn forward_signals(
    mut signals: Signals,
    events: Sender<DaemonEvent>,
    hooks: Arc<Hooks>,
    headless: Arc<Headless>,
) -> impl FnOnce() + Send {
    move || {
        for sig in signals.forever() {
            let event = match sig {
                // Our terminal hanging up is not a reload request (`headless`).
                SIGHUP if headless.sighup_is_hangup(&(hooks.socket_path)()) => {
                    info!("signal received: SIGHUP, from the terminal hanging up: not a reload");
                    continue;
                }
                SIGHUP => {
                    info!("signal received: SIGHUP");
                    DaemonEvent::Reload
                }
                // logrotate's convention: reopen the event log. In a thread of its
                // own, so a reload under way never holds up SIGTERM behind it.
                SIGUSR1 => {
                    info!("signal received: SIGUSR1: reopening the event log");
                    let hooks = hooks.clone();
                    if let Err(e) = spawn_thread("reopen", move || drop((hooks.reopen)())) {
                        warn!("{e}: the event log was not reopened");
                    }
                    continue;
                }
                SIGUSR2 => {
                    info!("signal received: SIGUSR2: upgrading in place");
                    crate::upgrade::on_signal(hooks.clone());
                    continue;
                }
                SIGINT => {
                    info!("signal received: SIGINT");
                    DaemonEvent::ShutdownRequested(Source::Signal("SIGINT"), "")
                }
                _ => {
                    info!("signal received: SIGTERM");
                    DaemonEvent::ShutdownRequested(Source::Signal("SIGTERM"), "")
                }
            };
            if events.send(event).is_err() {
                return;
            }
        }
    }
}
