//! How the process holds memory: the allocator's settings and when it hands freed memory
//! back to the system.
//!
//! The server runs with mimalloc (see `main.rs`), which asks the kernel for transparent huge
//! pages by default. A 2 MiB page is resident as soon as one byte of it is used, so a heap
//! of short-lived objects spread over many pages showed tens of megabytes more resident
//! memory than it used. Huge pages are turned off for the process instead.

/// Turns transparent huge pages off for this process (and what it starts). Linux only; a
/// no-op elsewhere. Call before the heap grows.
pub fn disable_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Returns the memory the allocator holds but no longer uses to the system (mimalloc keeps
/// freed pages for reuse). Takes milliseconds: for after rare, large, transient work such
/// as loading a grid, not per request.
pub fn release_free_memory() {
    // SAFETY: mi_collect has no preconditions; with the system allocator in use it only
    // tidies mimalloc's own (empty) heap.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
