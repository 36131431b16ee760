//! The C ABI (`include/fibra.h`, generated from this module by cbindgen).
//!
//! One file per concern: `error` (codes, `fibra_strerror`, the panic guard), `handle`
//! (how opaque handles are checked), `runtime`, `fiber`, `sync`, `channel`, `coroutine`.
//!
//! Rules every function here follows:
//! - it runs its body inside `error::guard`, so a Rust panic becomes `FIBRA_EPANIC` and
//!   never unwinds into C;
//! - it returns an `int` code (`FIBRA_OK` or a negative `FIBRA_E*`), results go through
//!   out-pointers;
//! - handles are checked with `handle::Slot`: null, destroyed, or of another type gives
//!   `FIBRA_EINVAL`.
//!
//! How a runtime's shutdown reaches C code: a fiber still suspended when its runtime is
//! destroyed is unwound (fibra's forced unwind), which must not cross C frames. The
//! suspending call catches it, stashes it (`error::stash_cancel`), and returns
//! `FIBRA_ECANCELED`; every later blocking call of that fiber returns `FIBRA_ECANCELED`
//! at once; when the fiber's C function returns, its Rust trampoline resumes the unwind.
//! Raw coroutines destroyed while suspended do the same with their own unwind.

// The C names are the ABI: `fibra_mutex`, not `FibraMutex`.
#![allow(non_camel_case_types)]

mod channel;
mod coroutine;
mod error;
mod fiber;
mod handle;
mod runtime;
mod sync;

pub use channel::*;
pub use coroutine::*;
pub use error::*;
pub use fiber::*;
pub use runtime::*;
pub use sync::*;

use error::non_null;
use std::ffi::c_int;
use std::time::{Duration, Instant};

/// A timeout in nanoseconds as a deadline; `None` when it lies beyond what `Instant`
/// can hold, which callers treat as "wait forever".
#[inline]
fn deadline_after(timeout_ns: u64) -> Option<Instant> {
    Instant::now().checked_add(Duration::from_nanos(timeout_ns))
}

/// Creates a handle and stores it in `*out`.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn create_into<H: handle::Handle>(
    out: *mut *mut H,
    value: H::Value,
) -> Result<c_int, c_int> {
    non_null(out)?;
    let h = handle::create::<H>(value);
    // SAFETY: checked non-null; the caller promises it is writable.
    unsafe { out.write(h) };
    Ok(FIBRA_OK)
}

/// Writes `value` to a checked out-pointer.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn write_out<T>(out: *mut T, value: T) -> Result<c_int, c_int> {
    non_null(out)?;
    // SAFETY: checked non-null; the caller promises it is writable.
    unsafe { out.write(value) };
    Ok(FIBRA_OK)
}

thread_local! {
    /// Its address identifies the calling thread (`thread_token`).
    static THREAD_TOKEN: u8 = const { 0 };
}

/// An identity of the calling thread: distinct for any two live threads.
fn thread_token() -> usize {
    THREAD_TOKEN.with(|t| std::ptr::from_ref(t) as usize)
}
