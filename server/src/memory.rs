//! How the process holds memory: the allocator's settings and when it hands freed memory
//! back to the system.
//!
//! The server runs with mimalloc (see `main.rs`), which asks the kernel for transparent huge
//! pages by default. A 2 MiB page is resident as soon as one byte of it is used, so a heap
//! of short-lived objects spread over many pages showed tens of megabytes more resident
//! memory than it used. Huge pages are turned off for the process instead.
//!
//! mimalloc (v3) also keeps freed memory for a second before it hands it back, and on Linux
//! it commits its arenas up front, so that a purge only marks pages as reusable
//! (`MADV_FREE`): the kernel takes them back only under memory pressure, and until then they
//! count as resident. [`configure_allocator`] purges at once and commits on demand, so a
//! purge gives the pages back (`MADV_DONTNEED`). Measured on the bench (ACTIVSg70k, 200
//! sessions under load): about 8 MB less resident memory, at the same requests per second
//! (docs/benchmarks.md).

/// Turns transparent huge pages off for this process (and what it starts). Linux only; a
/// no-op elsewhere. Call before the heap grows.
pub fn disable_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// mimalloc v3 option numbers (`mi_option_t` in `mimalloc.h`; `libmimalloc-sys` names only
/// some of them).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Allocator settings for a long-running server (see the module): freed memory goes back to
/// the system at once, and arena memory is committed when first used. A `MIMALLOC_…`
/// variable set by the operator wins. Call before the first allocation (the binary runs it
/// before `main`, since the runtime allocates before `main` and mimalloc reads the eager
/// commit option when it makes its first arena): it allocates nothing itself.
pub fn configure_allocator() {
    for (option, variable, value) in [
        (MI_OPTION_PURGE_DELAY, c"MIMALLOC_PURGE_DELAY", 0),
        (MI_OPTION_ARENA_EAGER_COMMIT, c"MIMALLOC_ARENA_EAGER_COMMIT", 0),
    ] {
        // SAFETY: getenv reads a NUL-terminated name; nothing sets variables concurrently
        // this early.
        if unsafe { libc::getenv(variable.as_ptr()) }.is_null() {
            // SAFETY: mi_option_set takes two integers; an option read later sees the value.
            unsafe { libmimalloc_sys::mi_option_set(option, value) }
        }
    }
}

/// The allocator's current value of the purge delay and arena eager commit options (for
/// tests of [`configure_allocator`]).
pub fn allocator_settings() -> (i64, i64) {
    // SAFETY: mi_option_get takes an option number and reads it.
    unsafe {
        (
            libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) as i64,
            libmimalloc_sys::mi_option_get(MI_OPTION_ARENA_EAGER_COMMIT) as i64,
        )
    }
}

/// Returns the memory the allocators hold but no longer use to the system (mimalloc and the
/// C library's malloc keep freed pages for reuse). Takes milliseconds: for after rare, large, transient work such
/// as loading a grid, not per request.
pub fn release_free_memory() {
    // SAFETY: mi_collect has no preconditions; with the system allocator in use it only
    // tidies mimalloc's own (empty) heap.
    unsafe { libmimalloc_sys::mi_collect(true) }
    // SQLite (C) allocates with the C library's malloc, whose per-thread arenas keep freed
    // memory: give their free pages back too.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes a size and no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How often at most a worker thread going idle tidies its allocator heap.
const IDLE_COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Gives back the pages the calling thread's allocator heap holds empty (mimalloc keeps a
/// thread's emptied pages for its next allocations, and a worker thread that goes idle
/// after a burst of requests would keep them until it allocates again). Meant for a worker
/// thread about to park (tokio's `on_thread_park`); does the work at most once per
/// [`IDLE_COLLECT_EVERY`] per thread, so a thread parking between requests under load
/// pays only a clock read.
pub fn collect_idle_thread() {
    use std::cell::Cell;
    use std::time::Instant;
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    if LAST.get().is_some_and(|last| now.duration_since(last) < IDLE_COLLECT_EVERY) {
        return;
    }
    LAST.set(Some(now));
    // SAFETY: mi_collect has no preconditions; without `force` it only frees the calling
    // thread's empty pages.
    unsafe { libmimalloc_sys::mi_collect(false) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allocator_purges_at_once_and_commits_on_demand() {
        // The option numbers are mimalloc v3's: before, the options hold v3's defaults (purge
        // after 1000 ms; eager arena commit on overcommit systems). A wrong number would read
        // another option's value.
        assert_eq!(allocator_settings(), (1000, 2));
        configure_allocator();
        assert_eq!(allocator_settings(), (0, 0));
    }
}
