//! Giving back the stack pages a thread touched once and no longer uses.
//!
//! A thread's stack pages stay resident once touched: a watcher that spawned a
//! child and logged the event keeps the deepest page of that work for as long as
//! it lives, though it then only sleeps in `ppoll` a couple of frames deep. With a
//! thread per instance that is 4 KiB of RSS per instance for nothing — an eighth
//! of the daemon's memory at a thousand instances. So a watcher that went deep (a
//! spawn, starting a pump thread) drops (`MADV_DONTNEED`), before it blocks again,
//! the pages of its stack below the current frame: they are unused by definition
//! (nothing lives below the stack pointer) and come back as zero pages if a later
//! wake-up goes deep again. Only then: each drop costs a TLB flush on every CPU
//! running a daemon thread.

use std::cell::Cell;

use std::ffi::c_void;
use std::ptr::NonNull;

use nix::libc;
use nix::sys::mman::{madvise, MmapAdvise::MADV_DONTNEED};

/// Stack size for every thread the daemon starts (watchers, pumps, connections,
/// the reload and shutdown workers): they do little but block, and thousands of
/// them must fit in a small RSS (docs/ARCHITECTURE.md, Threads). Only the pages a
/// thread touches are resident, and [`release_unused`] gives back the deep ones.
pub const THREAD_STACK: usize = 128 * 1024;

const PAGE: usize = 4096;
/// Room kept below the current frame for the `madvise` call itself (and the
/// 128-byte red zone), so the call never runs on a page it is dropping.
const MARGIN: usize = 1024;

thread_local! {
    /// Lowest usable address of this thread's stack; 0 until looked up, 1 when it
    /// cannot be (then nothing is ever released).
    static STACK_LOW: Cell<usize> = const { Cell::new(0) };
}

/// Releases the calling thread's stack pages below the caller's frame. Cheap
/// when there is nothing to release (one `madvise` over unmapped pages); never
/// fails: on any error the pages simply stay.
pub fn release_unused() {
    let low = STACK_LOW.with(|cell| {
        if cell.get() == 0 {
            cell.set(stack_low().unwrap_or(1));
        }
        cell.get()
    });
    if low <= 1 {
        return;
    }
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let end = here.saturating_sub(MARGIN) & !(PAGE - 1);
    let Some(start) = NonNull::new(low as *mut c_void) else {
        return;
    };
    if end <= low {
        return;
    }
    // SAFETY: [low, end) lies below the current frame and the margin, inside this
    // thread's own stack mapping: no live value is stored there, and a dropped
    // anonymous page reads back as zeros if the stack grows into it again.
    let _ = unsafe { madvise(start, end - low, MADV_DONTNEED) };
}

/// The lowest address of the calling thread's stack (above its guard page).
/// Hand-written: neither nix nor rustix reads a thread's stack bounds.
fn stack_low() -> Option<usize> {
    // SAFETY: attr is initialised by pthread_getattr_np before it is read and
    // destroyed once; the out-pointers point to live locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        // Round up: the first whole page of the stack.
        (ok && !addr.is_null()).then(|| (addr as usize + PAGE - 1) & !(PAGE - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn go_deep(depth: usize) -> u8 {
        let buf = std::hint::black_box([depth as u8; 1024]);
        if depth == 0 {
            buf[7]
        } else {
            go_deep(depth - 1).wrapping_add(buf[3])
        }
    }

    /// Resident pages of the range, through mincore(2).
    fn resident(low: usize, high: usize) -> usize {
        let pages = (high - low) / PAGE;
        let mut vec = vec![0u8; pages];
        // SAFETY: the range is page-aligned and mapped (this thread's stack); vec has
        // one byte per page.
        let r = unsafe { libc::mincore(low as *mut libc::c_void, high - low, vec.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore");
        vec.iter().filter(|&&b| b & 1 == 1).count()
    }

    #[test]
    fn pages_touched_deep_down_are_released_and_the_thread_goes_on() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let low = stack_low().expect("stack bounds");
                let marker = 0u8;
                let here = std::hint::black_box(&marker) as *const u8 as usize & !(PAGE - 1);
                go_deep(40);
                let before = resident(low, here);
                assert!(before >= 8, "40 KiB of frames should be resident: {before}");
                release_unused();
                let after = resident(low, here);
                assert!(
                    after <= 2,
                    "pages left below the frame: {after} (were {before})"
                );
                // The released pages come back as needed.
                assert_eq!(go_deep(40), go_deep(40));
            })
            .expect("spawn")
            .join()
            .expect("the thread ran");
    }
}
