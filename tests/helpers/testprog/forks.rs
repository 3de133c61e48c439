//! The modes that fork: `fork`/`fork-ignore` (grandchildren in the program's
//! process group, their pids in a file) and `alloc` (memory held levels below).

use nix::sys::signal::{self, SigHandler, Signal};
use nix::unistd::{self, ForkResult};

use super::{say, sleep_forever, write_atomically};

pub fn fork_children(n: usize, pidfile: &str, ignore_term: bool) -> Result<i32, String> {
    // For fork-ignore, set SIG_IGN before forking so the grandchildren ignore SIGTERM from
    // their first instant (no race with a test that signals as soon as PIDFILE appears),
    // then restore the default in the parent.
    let set_term = |h: SigHandler| {
        // SAFETY: SIG_IGN / SIG_DFL install no handler code.
        unsafe { signal::signal(Signal::SIGTERM, h) }.map_err(|e| format!("signal: {e}"))
    };
    if ignore_term {
        set_term(SigHandler::SigIgn)?;
    }
    let mut pids = vec![unistd::getpid()];
    for _ in 0..n {
        // SAFETY: this process is single-threaded, and the child only calls pause().
        match unsafe { unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => sleep_forever(),
            ForkResult::Parent { child } => pids.push(child),
        }
    }
    if ignore_term {
        set_term(SigHandler::SigDfl)?;
    }
    let text: String = pids.iter().map(|p| format!("{p}\n")).collect();
    write_atomically(pidfile, &text)?;
    say("ready");
    sleep_forever()
}

/// Holds `mib` MiB of resident memory in a process `depth` forks below this one.
pub fn alloc(mib: usize, depth: u32) -> Result<i32, String> {
    for _ in 0..depth {
        // SAFETY: this process is single-threaded; the parent only calls pause().
        match unsafe { unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
            ForkResult::Child => {}
            ForkResult::Parent { .. } => sleep_forever(),
        }
    }
    let bytes = mib.checked_mul(1 << 20).ok_or("MIB too large")?;
    // Filled with a non-zero byte: every page is written, so every page is resident.
    let block = std::hint::black_box(vec![1u8; bytes]);
    say("ready");
    let _keep = block;
    sleep_forever()
}
