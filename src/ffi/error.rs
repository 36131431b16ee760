//! Error codes, `fibra_strerror`, and the guard that keeps panics out of C.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// The result codes of fibra's C functions: `FIBRA_OK` (0) or a negative error. The
/// functions return them as `int`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum fibra_error {
    /// Success.
    FIBRA_OK = 0,
    /// An argument is invalid: a null pointer, a null / destroyed / wrong-type handle, or a
    /// value out of range.
    FIBRA_EINVAL = -1,
    /// The timeout passed before the operation could complete.
    FIBRA_ETIMEDOUT = -2,
    /// The channel is closed (and, for a receive, empty).
    FIBRA_ECLOSED = -3,
    /// Out of memory, threads or stacks: the object could not be created.
    FIBRA_ENOMEM = -4,
    /// Not allowed here: the call needs a fiber (or must not be made from one), or the caller
    /// does not own what it releases, or the object is in the wrong state.
    FIBRA_EPERM = -5,
    /// A `try` operation would have had to wait.
    FIBRA_EAGAIN = -6,
    /// Cancelled: the fiber's runtime (or the coroutine itself) is being destroyed. The
    /// caller should return from its fiber or coroutine function promptly; every further
    /// blocking call returns this code at once.
    FIBRA_ECANCELED = -7,
    /// An internal error: fibra panicked inside the call (the message went to stderr). The
    /// object involved may be unusable.
    FIBRA_EPANIC = -8,
}

pub(crate) const FIBRA_OK: c_int = fibra_error::FIBRA_OK as c_int;
pub(crate) const FIBRA_EINVAL: c_int = fibra_error::FIBRA_EINVAL as c_int;
pub(crate) const FIBRA_ETIMEDOUT: c_int = fibra_error::FIBRA_ETIMEDOUT as c_int;
pub(crate) const FIBRA_ECLOSED: c_int = fibra_error::FIBRA_ECLOSED as c_int;
pub(crate) const FIBRA_ENOMEM: c_int = fibra_error::FIBRA_ENOMEM as c_int;
pub(crate) const FIBRA_EPERM: c_int = fibra_error::FIBRA_EPERM as c_int;
pub(crate) const FIBRA_EAGAIN: c_int = fibra_error::FIBRA_EAGAIN as c_int;
pub(crate) const FIBRA_ECANCELED: c_int = fibra_error::FIBRA_ECANCELED as c_int;
pub(crate) const FIBRA_EPANIC: c_int = fibra_error::FIBRA_EPANIC as c_int;

/// A short English description of an error code (or of `FIBRA_OK`).
///
/// Returns a static, NUL-terminated string that is never freed; an unknown code gives
/// `"unknown fibra error code"`. Never fails; callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn fibra_strerror(code: c_int) -> *const c_char {
    // Nothing in `message` can panic; the catch keeps the rule that no extern "C" fn
    // can unwind.
    catch_unwind(|| message(code))
        .unwrap_or(c"unknown fibra error code")
        .as_ptr()
}

fn message(code: c_int) -> &'static std::ffi::CStr {
    match code {
        FIBRA_OK => c"success",
        FIBRA_EINVAL => {
            c"invalid argument (null, destroyed or wrong-type handle, or value out of range)"
        }
        FIBRA_ETIMEDOUT => c"timed out",
        FIBRA_ECLOSED => c"channel closed",
        FIBRA_ENOMEM => c"out of memory, threads or stacks",
        FIBRA_EPERM => c"operation not permitted in this context",
        FIBRA_EAGAIN => c"operation would block",
        FIBRA_ECANCELED => c"cancelled: the runtime or coroutine is being destroyed",
        FIBRA_EPANIC => c"internal error: fibra panicked (see stderr)",
        _ => c"unknown fibra error code",
    }
}

/// Runs the body of an `extern "C"` function: a panic becomes `FIBRA_EPANIC`, and a
/// forced unwind (a runtime or coroutine being destroyed under a suspended fiber or
/// coroutine) is stashed for the fiber's trampoline and becomes `FIBRA_ECANCELED`.
#[inline]
pub(super) fn guard(f: impl FnOnce() -> Result<c_int, c_int>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(code) | Err(code)) => code,
        Err(payload) => caught(payload),
    }
}

#[cold]
fn caught(payload: Box<dyn Any + Send>) -> c_int {
    if crate::coroutine::is_forced_unwind(&payload) {
        stash_cancel(payload);
        FIBRA_ECANCELED
    } else {
        // The panic hook already printed the message. Dropping a payload can itself
        // panic; leaking this one small box is the safe choice on a path that is a bug.
        std::mem::forget(payload);
        FIBRA_EPANIC
    }
}

thread_local! {
    /// Forced unwinds caught at the C boundary, each waiting for the trampoline of the
    /// fiber or coroutine being unwound to resume it once its C function has returned.
    /// Nested when a cancelled fiber's cleanup destroys a suspended raw coroutine: the
    /// coroutine's unwind is pushed above the fiber's, and its trampoline (which returns
    /// first) pops it first. While one is pending nothing on this thread switches
    /// fibers: the unwound fiber or coroutine runs until it finishes, and its blocking
    /// calls return `FIBRA_ECANCELED` at once.
    static PENDING_CANCEL: RefCell<Vec<Box<dyn Any + Send>>> = const { RefCell::new(Vec::new()) };
}

/// Keeps a caught forced unwind for the trampoline that will resume it.
fn stash_cancel(payload: Box<dyn Any + Send>) {
    PENDING_CANCEL.with(|p| p.borrow_mut().push(payload));
}

/// Whether a forced unwind is waiting: the calling fiber or coroutine is being destroyed.
#[inline]
pub(super) fn cancel_pending() -> bool {
    PENDING_CANCEL.with(|p| !p.borrow().is_empty())
}

/// After a C fiber or coroutine function returned: resumes the forced unwind caught
/// while it ran (the innermost pending one), if any, so its runtime (or coroutine)
/// finishes destroying it.
#[inline]
pub(super) fn resume_pending_cancel() {
    if let Some(payload) = PENDING_CANCEL.with(|p| p.borrow_mut().pop()) {
        resume_unwind(payload);
    }
}

/// `FIBRA_ECANCELED` if the caller is being unwound (it must not suspend again).
#[inline]
pub(super) fn check_not_cancelled() -> Result<(), c_int> {
    if cancel_pending() || crate::runtime::fiber::being_unwound() {
        Err(FIBRA_ECANCELED)
    } else {
        Ok(())
    }
}

/// `FIBRA_EINVAL` unless `p` is non-null.
#[inline]
pub(super) fn non_null<T>(p: *const T) -> Result<(), c_int> {
    if p.is_null() {
        Err(FIBRA_EINVAL)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_epanic() {
        assert_eq!(
            guard(|| panic!("inside an extern \"C\" body")),
            FIBRA_EPANIC
        );
        assert_eq!(guard(|| Err(FIBRA_EAGAIN)), FIBRA_EAGAIN);
        assert_eq!(guard(|| Ok(3)), 3);
        assert!(!cancel_pending());
    }

    #[test]
    fn every_code_has_its_own_message() {
        let codes = [
            FIBRA_OK,
            FIBRA_EINVAL,
            FIBRA_ETIMEDOUT,
            FIBRA_ECLOSED,
            FIBRA_ENOMEM,
            FIBRA_EPERM,
            FIBRA_EAGAIN,
            FIBRA_ECANCELED,
            FIBRA_EPANIC,
        ];
        let unknown = fibra_strerror(i32::MIN);
        let mut seen = std::collections::HashSet::new();
        for c in codes {
            let p = fibra_strerror(c);
            assert_ne!(p, unknown);
            assert!(seen.insert(p));
        }
    }
}
