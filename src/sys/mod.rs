//! Operating-system services behind one surface per concern:
//!
//! - memory: `page_size()`, `guard_len()` (bytes of guard a guarded stack asks for),
//!   `map_stack(len, guard) -> io::Result<usize>` (a reservation whose
//!   lowest `guard` bytes are inaccessible), `unmap_stack(base, len)`,
//!   `discard(addr, len)` (give pages back, keep the reservation), `map_count_limit()`.
//! - overflow: `install_overflow_handler()` (process-wide, idempotent) and
//!   `prepare_thread()` (per thread: the alternate signal stack the handler runs on).

cfg_if::cfg_if! {
    if #[cfg(unix)] {
        mod unix;
        pub(crate) use unix::*;
    } else if #[cfg(windows)] {
        mod windows;
        pub(crate) use windows::*;
    } else {
        compile_error!("fibra supports Unix-like systems and Windows only");
    }
}
