//! The spawn helper's one unsafe act: `clone` a child that shares its memory until
//! it execs, and is the daemon's child rather than the helper's.
//!
//! `CLONE_VM|CLONE_VFORK` is what glibc's `posix_spawn` does (no page tables
//! copied; this thread waits until the child has exec'd or exited), `CLONE_PARENT`
//! makes the daemon the child's parent (its watcher reaps it, as before), and
//! `CLONE_PIDFD` hands back the child's pidfd, which the helper passes on to the
//! daemon. The child runs on its own stack and makes only raw system calls: no
//! allocation, no lock, no libc state (it shares the helper's memory), in the order
//! `posix_spawn` applies them: new session, descriptors onto 0–3 (close-on-exec
//! cleared), working directory, an empty signal mask, exec. Every signal is at its
//! default already (the helper reset them all at its start, and the child inherits
//! a copy), so only the mask, blocked in the helper, needs setting. A failing step
//! writes its errno where the waiting thread reads it, as `posix_spawn` does.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::libc;

use super::wire::{Request, MAX_FDS};

/// The stack a child runs on until it execs: its frames are a few hundred bytes.
pub struct ChildStack(Vec<u128>);

impl ChildStack {
    pub fn new() -> Self {
        ChildStack(vec![0; 64 * 1024 / 16])
    }
}

/// What the child reads; it writes `errno` only, and only when a step fails.
#[repr(C)]
struct ChildArgs {
    exe: *const libc::c_char,
    cwd: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    fds: [RawFd; MAX_FDS],
    nfds: usize,
    errno: i32,
}

/// What became of one clone.
pub enum Outcome {
    Spawned {
        pid: i32,
        pidfd: OwnedFd,
    },
    ExecFailed {
        pid: i32,
        pidfd: OwnedFd,
        errno: i32,
    },
    NotSpawned {
        errno: i32,
    },
}

/// Makes the child of `req` with `fds` on its 0, 1, 2 (and 3).
pub fn clone_and_exec(stack: &mut ChildStack, req: &Request, fds: &[OwnedFd]) -> Outcome {
    if fds.len() > MAX_FDS {
        return Outcome::NotSpawned {
            errno: libc::EINVAL,
        };
    }
    let mut args = ChildArgs {
        exe: req.exe,
        cwd: req.cwd,
        argv: req.argv.as_ptr(),
        envp: req.envp.as_ptr(),
        fds: [-1; MAX_FDS],
        nfds: fds.len(),
        errno: 0,
    };
    for (slot, fd) in args.fds.iter_mut().zip(fds) {
        *slot = fd.as_raw_fd();
    }
    let mut pidfd: libc::c_int = -1;
    let flags =
        libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PARENT | libc::CLONE_PIDFD | libc::SIGCHLD;
    // The top of the stack, 16-byte aligned (the element type is 16 bytes).
    let top = stack.0.as_mut_ptr_range().end.cast::<libc::c_void>();
    // SAFETY: `child_main` runs on its own stack, `top`, which this thread does not
    // use while it waits (CLONE_VFORK suspends it until the child execs or exits),
    // and reads `args`, which lives on this frame past that point. With CLONE_PIDFD
    // the kernel writes the pidfd to the parent_tid argument, `pidfd`.
    let pid = unsafe {
        libc::clone(
            child_main,
            top,
            flags,
            std::ptr::addr_of_mut!(args).cast::<libc::c_void>(),
            std::ptr::addr_of_mut!(pidfd),
        )
    };
    if pid <= 0 || pidfd < 0 {
        let errno = match Errno::last_raw() {
            0 => libc::EAGAIN,
            e => e,
        };
        return Outcome::NotSpawned { errno };
    }
    // SAFETY: the kernel just made this descriptor for us; nothing else owns it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // The child has exec'd or exited by now (CLONE_VFORK); it wrote `errno` if the
    // latter. Read it through a volatile load: the write came from the child.
    // SAFETY: `args.errno` is a valid, aligned i32 on this frame.
    match unsafe { std::ptr::addr_of!(args.errno).read_volatile() } {
        0 => Outcome::Spawned { pid, pidfd },
        errno => Outcome::ExecFailed { pid, pidfd, errno },
    }
}

/// The raw system call, its result or `-errno` — no libc `errno` involved.
///
/// # Safety
/// The arguments must be valid for system call `nr`.
unsafe fn raw(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    // SAFETY: forwarded to the caller.
    let ret = unsafe { libc::syscall(nr, a, b, c, d) } as isize;
    if ret == -1 {
        -(Errno::last_raw() as isize)
    } else {
        ret
    }
}

/// The child, between clone and exec. It never returns: it execs or exits 127.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    let args = arg.cast::<ChildArgs>();
    // SAFETY: `arg` is the ChildArgs of the suspended parent frame (clone_and_exec);
    // the fields read are plain values and pointers it filled in; every call below
    // is a raw system call on those values.
    unsafe {
        let fail = |ret: isize| -> ! {
            std::ptr::addr_of_mut!((*args).errno).write_volatile((-ret) as i32);
            libc::syscall(libc::SYS_exit_group, 127);
            unreachable_exit()
        };
        let ret = raw(libc::SYS_setsid, 0, 0, 0, 0);
        if ret < 0 {
            fail(ret);
        }
        let nfds = (*args).nfds.min(MAX_FDS);
        for target in 0..nfds {
            let from = (*args).fds[target];
            // Every source is above 2 (the helper's 0–2 are /dev/null) and the
            // targets go up from 0, so no source is overwritten before it is read;
            // one already in place only needs close-on-exec cleared.
            let ret = if from as usize == target {
                raw(libc::SYS_fcntl, target, libc::F_SETFD as usize, 0, 0)
            } else {
                raw(libc::SYS_dup3, from as usize, target, 0, 0)
            };
            if ret < 0 {
                fail(ret);
            }
        }
        let ret = raw(libc::SYS_chdir, (*args).cwd as usize, 0, 0, 0);
        if ret < 0 {
            fail(ret);
        }
        let empty = [0u64; 1];
        raw(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            empty.as_ptr() as usize,
            0,
            8,
        );
        let ret = raw(
            libc::SYS_execve,
            (*args).exe as usize,
            (*args).argv as usize,
            (*args).envp as usize,
            0,
        );
        fail(ret)
    }
}

/// After `exit_group`, which does not return.
fn unreachable_exit() -> ! {
    loop {
        std::hint::spin_loop();
    }
}
