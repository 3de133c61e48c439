//! Signals caught: the flag the handler sets, and a wait for one signal that
//! cannot miss it (`trap`, `quiet-until`; `pour` stops on it).

use nix::libc;
use nix::sys::signal::{self, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use std::sync::atomic::{AtomicBool, Ordering};

use super::say;

/// Set by the `trap` mode's signal handler.
pub static GOT_SIGNAL: AtomicBool = AtomicBool::new(false);

pub extern "C" fn on_signal(_: libc::c_int) {
    GOT_SIGNAL.store(true, Ordering::SeqCst);
}

/// Waits for `sig` (after printing `ready` when `announce`).
pub fn wait_for_signal(sig: Signal, announce: bool) -> Result<(), String> {
    // Block the signal while installing the handler, then wait for it with sigsuspend, so
    // a signal arriving between "check the flag" and "sleep" cannot be missed.
    let mut only = SigSet::empty();
    only.add(sig);
    let old_mask = only
        .thread_swap_mask(SigmaskHow::SIG_BLOCK)
        .map_err(|e| format!("sigprocmask: {e}"))?;
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        signal::SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { signal::sigaction(sig, &action) }
        .map_err(|e| format!("cannot trap {}: {e}", sig.as_str()))?;
    if announce {
        say("ready");
    }
    let mut wait_mask = old_mask;
    wait_mask.remove(sig);
    while !GOT_SIGNAL.load(Ordering::SeqCst) {
        wait_mask
            .suspend()
            .map_err(|e| format!("sigsuspend: {e}"))?;
    }
    Ok(())
}
