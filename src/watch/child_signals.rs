//! A child starts with every signal at its default disposition and none blocked,
//! whatever the daemon itself ignores, handles or blocks.
//!
//! glibc reserves signals 32 and 33 for itself and hides them from `sigfillset`,
//! `sigaddset` and `sigaction`; its `posix_spawn` sets every such signal that the
//! caller did not name in the "set to default" list to *ignored* in the child, and an
//! ignored signal stays ignored across exec. So the list is built bit by bit here,
//! and the exec helper resets dispositions with the raw system calls (neither nix,
//! which goes through glibc, nor rustix's public API offers them; see
//! docs/ARCHITECTURE.md, "Hand-written system calls").

use nix::libc;

/// The highest signal number (64 on Linux; glibc's SIGRTMAX).
fn last_signal() -> i32 {
    libc::SIGRTMAX()
}

/// Every signal 1..=SIGRTMAX except SIGKILL and SIGSTOP (which cannot be changed),
/// the reserved 32 and 33 included: for `posix_spawnattr_setsigdefault`.
pub fn every_signal() -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is the empty set.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    let word_bits = libc::c_ulong::BITS as usize;
    let words = std::mem::size_of::<libc::sigset_t>() / std::mem::size_of::<libc::c_ulong>();
    let base = std::ptr::addr_of_mut!(set).cast::<libc::c_ulong>();
    for sig in 1..=last_signal() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let bit = (sig - 1) as usize;
        if bit / word_bits < words {
            // SAFETY: `sigset_t` is an array of `c_ulong` words, bit n-1 for signal n
            // (the layout glibc's own `sigaddset` writes); the index is in bounds.
            unsafe { *base.add(bit / word_bits) |= 1 << (bit % word_bits) };
        }
    }
    set
}

/// The kernel's signal set size, which its signal system calls insist on.
fn kernel_sigset_bytes() -> usize {
    (last_signal() as usize).div_ceil(64) * 8
}

/// In the single-threaded exec helper, just before exec: every signal to SIG_DFL and
/// an empty mask. Errors are ignored: SIGKILL and SIGSTOP refuse, and nothing else can
/// fail for a valid number.
pub fn reset_before_exec() {
    // SIG_DFL is 0 and no flags, no restorer, an empty mask are zeros too: a zeroed
    // buffer larger than the kernel's `struct sigaction` says "default" on every
    // architecture, whatever the order of its fields.
    let default = [0u64; 8];
    let bytes = kernel_sigset_bytes();
    for sig in 1..=last_signal() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a valid pointer to a default action and no old
        // action to write; glibc's wrapper would refuse the reserved signals.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                default.as_ptr(),
                std::ptr::null_mut::<u64>(),
                bytes,
            )
        };
    }
    let empty = [0u64; 2];
    // SAFETY: rt_sigprocmask(SIG_SETMASK) with a valid empty set and no old set.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            empty.as_ptr(),
            std::ptr::null_mut::<u64>(),
            bytes,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_holds_the_reserved_ones_but_not_kill_and_stop() {
        let set = every_signal();
        // SAFETY: sigismember reads a valid set (glibc answers for 32/33 too).
        let has = |sig| unsafe { libc::sigismember(&set, sig) } == 1;
        for sig in 1..=libc::SIGRTMAX() {
            let expected = sig != libc::SIGKILL && sig != libc::SIGSTOP;
            assert_eq!(has(sig), expected, "signal {sig}");
        }
    }
}
