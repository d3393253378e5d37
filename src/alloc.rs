//! Settings of the process allocator. The binary and the benches allocate through
//! mimalloc (`src/main.rs`); this module holds the options they run it with, so a
//! bench measures what `lockstep` itself does.
//!
//! Purge delay: mimalloc hands freed memory back to the kernel (`madvise`) once it
//! has been unused for a while — 1 s by default. A backfill lands a window every
//! second or two, and each window allocates and frees hundreds of MiB of Arrow
//! builders, Parquet pages and JSONL chunks; with the default, most of that memory
//! went back to the kernel between windows and was faulted in zeroed again for the
//! next one (a fifth of the bulk backfill's CPU time went to page faults, zeroing
//! and `madvise`). Five seconds spans a window and its successor, so the memory is
//! reused; an idle process still returns it.

use std::os::raw::c_long;

/// `mi_option_purge_delay` in the mimalloc (v3) bundled with libmimalloc-sys 0.1.49,
/// which exports no constant for it (Cargo.toml pins that version; a test checks
/// the option's default, 1000 ms, is what this index reads).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with the process before it is returned.
pub const PURGE_DELAY_MS: i64 = 5_000;

/// The environment variable that overrides [`PURGE_DELAY_MS`] (mimalloc's own).
const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// Apply lockstep's allocator options; an operator's `MIMALLOC_PURGE_DELAY` wins.
/// Call once, first thing in `main`.
pub fn tune() {
    set_purge_delay(PURGE_DELAY_MS as c_long);
}

/// Hand freed memory back to the kernel at once (purge delay 0) from now on, for a
/// process whose own peak is close to the machine's memory. The model bench's
/// 10M-order preparation holds the sandbox's whole store (~20 GB) beside the
/// landing: with the 5 s delay the landing's freed buffers took it past 24 GiB and
/// the kernel killed it; purged at once, it peaked at ~23 GB. An operator's
/// `MIMALLOC_PURGE_DELAY` still wins.
pub fn purge_at_once() {
    set_purge_delay(0);
}

/// Set mimalloc's purge delay unless the operator set `MIMALLOC_PURGE_DELAY`.
fn set_purge_delay(ms: c_long) {
    if std::env::var_os(PURGE_DELAY_ENV).is_some() {
        return;
    }
    // SAFETY: mi_option_set stores an integer in mimalloc's option table; it takes
    // no pointers and may be called at any time from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_index_names_mimallocs_purge_delay() {
        // Read before any test sets it: mimalloc's documented default is 1000 ms,
        // and no neighbouring option defaults to that.
        let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert!(
            before == 1000 || before == PURGE_DELAY_MS as c_long,
            "option {MI_OPTION_PURGE_DELAY} reads {before}: not mimalloc's purge delay \
             (did libmimalloc-sys change its bundled mimalloc?)"
        );
        if std::env::var_os(PURGE_DELAY_ENV).is_none() {
            tune();
            let after = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
            assert_eq!(after, PURGE_DELAY_MS as c_long);
            purge_at_once();
            let now = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
            assert_eq!(now, 0);
            tune();
        }
    }
}
