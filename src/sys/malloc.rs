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
