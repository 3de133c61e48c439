//! The machine's spawn and kill-and-reap ceilings, for bench/run.
//!
//! `spawn-ceiling PROGRAM COUNT THREADS EXTRA_FDS [ARGS...]` first opens EXTRA_FDS
//! close-on-exec descriptors (pipes), as a daemon holds them for its instances,
//! then spawns COUNT children of `PROGRAM ARGS...` with `posix_spawn` (each in its
//! own session, like a supervised child) from THREADS threads released together,
//! then SIGKILLs them all and reaps each. It prints one JSON line:
//! `{"spawn_s": ..., "kill_reap_s": ..., "fds": ...}`.
//!
//! A Python loop holds the interpreter lock between calls and converts the
//! arguments and environment at every spawn, so it measures Python, not the
//! kernel: hence this program.

use std::ffi::CString;
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::Instant;

extern "C" {
    static environ: *const *mut libc::c_char;
}

fn main() -> ExitCode {
    match run() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spawn-ceiling: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<String, String> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err("usage: spawn-ceiling PROGRAM COUNT THREADS EXTRA_FDS [ARGS...]".into());
    }
    let count: usize = args[2].parse().map_err(|_| "bad COUNT")?;
    let threads: usize = args[3].parse().map_err(|_| "bad THREADS")?;
    let extra_fds: usize = args[4].parse().map_err(|_| "bad EXTRA_FDS")?;
    let threads = threads.clamp(1, count.max(1));
    let argv: Vec<CString> = std::iter::once(&args[1])
        .chain(&args[5..])
        .map(|a| CString::new(a.as_str()).map_err(|_| "NUL in an argument".to_string()))
        .collect::<Result<_, _>>()?;

    raise_fd_limit();
    let held = hold_cloexec_fds(extra_fds)?;
    let fds = count_open_fds();

    let argv = Arc::new(argv);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let mut workers = Vec::new();
    for t in 0..threads {
        let share = count / threads + usize::from(t < count % threads);
        let (argv, barrier) = (Arc::clone(&argv), Arc::clone(&barrier));
        workers.push(std::thread::spawn(move || {
            spawn_many(&argv, share, &barrier)
        }));
    }
    barrier.wait();
    let t0 = Instant::now();
    let mut pids = Vec::with_capacity(count);
    let mut first_error = None;
    for w in workers {
        match w.join() {
            Ok((mut got, err)) => {
                pids.append(&mut got);
                if first_error.is_none() {
                    first_error = err;
                }
            }
            Err(_) => first_error = Some("a spawning thread panicked".to_string()),
        }
    }
    let spawn_s = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    for &pid in &pids {
        // SAFETY: plain syscalls on pids this process spawned and has not reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for &pid in &pids {
        let mut status = 0;
        // SAFETY: as above; status is a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
    let kill_reap_s = t1.elapsed().as_secs_f64();
    drop(held);
    if let Some(e) = first_error {
        return Err(format!("{e} (after {} of {count} spawns)", pids.len()));
    }
    Ok(format!(
        "{{\"spawn_s\": {spawn_s:.6}, \"kill_reap_s\": {kill_reap_s:.6}, \"count\": {}, \
         \"threads\": {threads}, \"fds\": {}}}",
        pids.len(),
        fds
    ))
}

/// Spawns `n` children; returns their pids and the first error, if any.
fn spawn_many(argv: &[CString], n: usize, barrier: &Barrier) -> (Vec<i32>, Option<String>) {
    let mut ptrs: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr() as *mut _).collect();
    ptrs.push(std::ptr::null_mut());
    let mut pids = Vec::with_capacity(n);
    // SAFETY: attr is initialised before use and destroyed once; every pointer given to
    // posix_spawn (path, argv, environ) stays valid for the call.
    unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawnattr_init(&mut attr);
        libc::posix_spawnattr_setflags(&mut attr, libc::POSIX_SPAWN_SETSID);
        barrier.wait();
        for _ in 0..n {
            let mut pid = 0;
            let rc = libc::posix_spawn(
                &mut pid,
                argv[0].as_ptr(),
                std::ptr::null(),
                &attr,
                ptrs.as_ptr(),
                environ,
            );
            if rc != 0 {
                libc::posix_spawnattr_destroy(&mut attr);
                return (pids, Some(format!("posix_spawn: errno {rc}")));
            }
            pids.push(pid);
        }
        libc::posix_spawnattr_destroy(&mut attr);
    }
    (pids, None)
}

fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Opens `n` close-on-exec descriptors (pipe ends); they close when dropped.
fn hold_cloexec_fds(n: usize) -> Result<Vec<std::fs::File>, String> {
    use std::os::fd::FromRawFd;
    let mut held = Vec::with_capacity(n);
    while held.len() < n {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid 2-int array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!(
                "pipe2 after {} descriptors: {}",
                held.len(),
                std::io::Error::last_os_error()
            ));
        }
        for fd in fds {
            // SAFETY: fd was just returned by pipe2 and is owned by nothing else.
            let f = unsafe { std::fs::File::from_raw_fd(fd) };
            if held.len() < n {
                held.push(f);
            }
        }
    }
    Ok(held)
}

fn count_open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}
