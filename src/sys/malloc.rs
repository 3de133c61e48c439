//! How the allocator serves a daemon of a thousand threads.
//!
//! glibc gives threads that allocate at the same moment separate arenas (up to 8
//! per CPU), and an arena keeps the pages it touched. In taskmaster nearly every
//! thread (a watcher, a control connection) allocates briefly and rarely — at a
//! spawn, a reap, a command — so extra arenas only spread small, short-lived
//! allocations over many heaps: with 1 000 instances, a `start all` while a few
//! `status` requests ran left the daemon at 41–55 MiB resident instead of 24 MiB.
//! One arena keeps that memory in one heap, and a lock taken briefly and rarely
//! costs nothing measurable here (see README: Performance).
//!
//! glibc also keeps, in each thread, a cache of the small blocks that thread
//! freed (up to seven of each size, below 1 KiB), for it to take again without a
//! lock. A watcher allocates and frees a few dozen blocks of many sizes at each
//! spawn, then sleeps: its cache holds them for as long as it lives, ~4.5 KiB of
//! freed memory resident per instance (1 000 instances started: heap 8.6 MiB with
//! the caches, 4.1 MiB without; the daemon 23.2 → 18.6 MiB). Only the
//! environment glibc reads at exec turns the caches off, so the daemon execs itself
//! once more at its start with `glibc.malloc.tcache_count=0` added to
//! `GLIBC_TUNABLES` ([`without_thread_caches`]), then gives its environment back
//! as it was, for the children. The lock the caches spare is taken briefly and
//! rarely here: `start all`, `stop all` and `status` of 1 000 showed no change.

/// Limits glibc's malloc to one arena. Called with one thread still, before any
/// other exists; harmless where it fails (another libc: nothing changes).
pub fn use_one_arena() {
    // SAFETY: mallopt only sets an allocator parameter; no pointer is involved,
    // and the process has one thread at this point.
    let _ = unsafe { nix::libc::mallopt(nix::libc::M_ARENA_MAX, 1) };
}

/// Replies larger than this are followed by [`give_back_free_memory`].
pub const LARGE_REPLY: usize = 64 * 1024;

/// Returns the heap's free pages to the kernel. A large reply (`status` of a
/// thousand instances: its rows, its JSON, its /proc figures) is built and freed
/// in pieces scattered over the heap, which glibc keeps resident; the daemon then
/// holds megabytes it will not use until the next such reply. Called only after
/// one, so its cost (a walk over the heap's free lists, well under a millisecond
/// here) is paid where a large reply was already paid for.
pub fn give_back_free_memory() {
    // SAFETY: malloc_trim only returns free heap memory to the kernel; no pointer
    // is involved and it is thread-safe.
    let _ = unsafe { nix::libc::malloc_trim(0) };
}

/// The tunable that turns off glibc's per-thread caches of freed blocks.
const NO_THREAD_CACHE: &str = "glibc.malloc.tcache_count=0";
/// Set for the re-exec: `GLIBC_TUNABLES` as it was before (`-` when unset), to
/// be given back once the allocator has read it.
const TUNED: &str = "TASKMASTER_MALLOC_TUNED";
const TUNABLES: &str = "GLIBC_TUNABLES";

/// Called first thing in `main`, with one thread: unless the allocator already
/// runs without per-thread caches (or the user set that tunable), execs the
/// running binary again with them turned off — same arguments, descriptors and
/// pid. After that exec, puts `GLIBC_TUNABLES` back as it was. When the exec
/// fails, nothing changed: the daemon runs with the caches.
pub fn without_thread_caches() {
    use std::ffi::{CString, OsString};
    use std::os::unix::ffi::OsStrExt;
    // SAFETY (for the environment changes): the process has one thread, so
    // nothing reads the environment meanwhile.
    if let Some(before) = std::env::var_os(TUNED) {
        unsafe {
            std::env::remove_var(TUNED);
            match before.to_str() {
                Some("-") => std::env::remove_var(TUNABLES),
                _ => std::env::set_var(TUNABLES, before),
            }
        }
        // An exec names the process after the file it was given (`exe`, here):
        // back to the binary's own name, which `ps` and `pgrep` know it by.
        let name = std::env::current_exe().ok().and_then(|exe| {
            let name = exe.file_name()?.as_bytes().to_vec();
            CString::new(name.get(..15).unwrap_or(&name)).ok()
        });
        if let Some(name) = name {
            let _ = nix::sys::prctl::set_name(&name);
        }
        return;
    }
    let current = std::env::var_os(TUNABLES);
    let text = current.as_ref().map(|v| v.to_string_lossy().into_owned());
    if text
        .as_deref()
        .is_some_and(|t| t.contains("glibc.malloc.tcache_count"))
    {
        return;
    }
    let tuned = match text.as_deref() {
        Some(t) if !t.is_empty() => format!("{t}:{NO_THREAD_CACHE}"),
        _ => NO_THREAD_CACHE.to_string(),
    };
    let before = current.unwrap_or_else(|| OsString::from("-"));
    let cstring = |bytes: &[u8]| CString::new(bytes).ok();
    let argv: Option<Vec<CString>> = std::env::args_os().map(|a| cstring(a.as_bytes())).collect();
    let pair = |key: &[u8], value: &[u8]| cstring(&[key, b"=", value].concat());
    let env: Option<Vec<CString>> = std::env::vars_os()
        .filter(|(key, _)| key != TUNABLES && key != TUNED)
        .map(|(key, value)| pair(key.as_bytes(), value.as_bytes()))
        .chain([
            pair(TUNABLES.as_bytes(), tuned.as_bytes()),
            pair(TUNED.as_bytes(), before.as_bytes()),
        ])
        .collect();
    let (Some(argv), Some(env)) = (argv, env) else {
        return;
    };
    // A raw execve: the signal mask and dispositions carry over as they came
    // (an upgrade's blocked signals stay blocked, their pending ones pending).
    // When it fails, nothing changed: the daemon runs with the caches.
    let _ = nix::unistd::execve(c"/proc/self/exe", &argv, &env);
}
