//! Raw coroutines of `void *` values, for hosts that schedule themselves.

use super::error::{
    FIBRA_EINVAL, FIBRA_ENOMEM, FIBRA_EPERM, FIBRA_OK, check_not_cancelled, guard,
    resume_pending_cancel,
};
use super::handle::{self, Slot, handle_impl};
use super::{create_into, thread_token};
use crate::{Coroutine, CoroutineResult, Stack, Yielder};
use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_int, c_void};

/// `fibra_coroutine_resume`: the coroutine suspended in `fibra_coroutine_yield`.
pub const FIBRA_COROUTINE_YIELDED: c_int = 1;
/// `fibra_coroutine_resume`: the coroutine's function returned; it is finished.
pub const FIBRA_COROUTINE_RETURNED: c_int = 2;

/// A coroutine's function. It is called on the coroutine's own stack by the first
/// `fibra_coroutine_resume`, with that resume's `input` as `arg` and the coroutine's
/// yielder; its return value is the last resume's `*output`.
pub type fibra_coroutine_fn =
    Option<unsafe extern "C" fn(arg: *mut c_void, yielder: *mut fibra_yielder) -> *mut c_void>;

/// The coroutine's side: passed to its function, valid until that function returns, and
/// only usable on the coroutine's own stack.
pub struct fibra_yielder {
    magic: u64,
    y: *const Yielder<usize, usize>,
    /// The coroutine stack's bounds, to refuse a yield from any other stack.
    bottom: usize,
    top: usize,
}

const YIELDER_MAGIC: u64 = 0x0f1b_7a00_0000_0031;

/// What the first resume hands the coroutine: the C argument and the stack bounds.
#[derive(Clone, Copy)]
struct FirstResume {
    arg: *mut c_void,
    bottom: usize,
    top: usize,
}

/// The C coroutine: a fibra coroutine tied to the thread that created it.
pub(super) struct CCoroutine {
    /// Only touched on `owner`'s thread, while `running` is false (see the Send impl).
    co: UnsafeCell<Coroutine<usize, usize, usize>>,
    /// Set while a resume runs it: a resume from inside itself is refused.
    running: Cell<bool>,
    /// Whether it has been resumed once (the first resume passes `FirstResume`).
    started: Cell<bool>,
    /// `thread_token()` of the creating thread.
    owner: usize,
}

// SAFETY: a CCoroutine may be reached from any thread (C handles are plain pointers),
// but every function that touches `co`, `running` or `started` first checks that the
// caller runs on the `owner` thread, so those non-thread-safe parts are only ever used
// there, as `Coroutine`'s own !Send requires.
unsafe impl Send for CCoroutine {}
// SAFETY: as above.
unsafe impl Sync for CCoroutine {}

impl CCoroutine {
    fn check_owner(&self) -> Result<(), c_int> {
        if self.owner != thread_token() || self.running.get() {
            Err(FIBRA_EPERM)
        } else {
            Ok(())
        }
    }
}

/// A raw stackful coroutine of `void *` values. It belongs to the thread that created
/// it: only that thread may resume or destroy it.
pub struct fibra_coroutine {
    slot: Slot<CCoroutine>,
}

handle_impl!(fibra_coroutine, CCoroutine, 0x0f1b_7a00_0000_0030);

/// Creates a coroutine that will run `func` on a stack of its own of `stack_size` bytes
/// (0 means fibra's default, 256 KiB; sizes are rounded up to whole pages), and stores
/// its handle in `*out`. The function does not run until the first resume.
///
/// Returns `FIBRA_OK`; `FIBRA_EINVAL` if `func` or `out` is NULL; `FIBRA_ENOMEM` if no
/// stack can be had.
///
/// # Safety
/// `out` is NULL or writable; `func` is NULL or a function that may be called with the
/// first resume's `input` (on the creating thread).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_coroutine_create(
    func: fibra_coroutine_fn,
    stack_size: usize,
    out: *mut *mut fibra_coroutine,
) -> c_int {
    guard(|| {
        let f = func.ok_or(FIBRA_EINVAL)?;
        super::error::non_null(out)?;
        let mut builder = crate::Builder::new();
        if stack_size > 0 {
            builder = builder.stack_size(stack_size);
        }
        let co = builder
            .build(move |y: &Yielder<usize, usize>, first: usize| -> usize {
                // SAFETY: the first resume passes the address of a FirstResume it keeps
                // alive until we have read it (now).
                let first = unsafe { *(first as *const FirstResume) };
                let mut yielder = fibra_yielder {
                    magic: YIELDER_MAGIC,
                    y,
                    bottom: first.bottom,
                    top: first.top,
                };
                // SAFETY: the creator promised `f` may be called with the first `input`.
                let r = unsafe { f(first.arg, &mut yielder) };
                // A destroy that caught this coroutine suspended: finish its unwind.
                resume_pending_cancel();
                r as usize
            })
            .map_err(|_| FIBRA_ENOMEM)?;
        let c = CCoroutine {
            co: UnsafeCell::new(co),
            running: Cell::new(false),
            started: Cell::new(false),
            owner: thread_token(),
        };
        // SAFETY: the caller's contract.
        unsafe { create_into(out, c) }
    })
}

/// Runs the coroutine until it yields or returns.
///
/// `input` becomes the function's `arg` on the first resume, and the value the pending
/// `fibra_coroutine_yield` stores in its `*input` after. The value yielded or returned is
/// stored in `*output` (if `output` is not NULL).
///
/// Returns `FIBRA_COROUTINE_YIELDED` or `FIBRA_COROUTINE_RETURNED`; `FIBRA_EINVAL` for a
/// NULL / destroyed handle; `FIBRA_EPERM` if the coroutine has returned already, is
/// running (a resume from inside itself), or was created by another thread.
///
/// # Safety
/// `co` is NULL or a handle from `fibra_coroutine_create` whose destroy does not race with
/// the start of this call;
/// `output` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_coroutine_resume(
    co: *const fibra_coroutine,
    input: *mut c_void,
    output: *mut *mut c_void,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let c = unsafe { handle::get(co) }?;
        c.check_owner()?;
        // SAFETY: on the owner thread and not running (check_owner): no other reference
        // to the coroutine exists.
        let co = unsafe { &mut *c.co.get() };
        if co.done() {
            return Err(FIBRA_EPERM);
        }
        let stack = co.stack();
        let first = FirstResume {
            arg: input,
            bottom: stack.bottom().get(),
            top: stack.top().get(),
        };
        let input = if c.started.replace(true) {
            input as usize
        } else {
            &raw const first as usize
        };
        c.running.set(true);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| co.resume(input)));
        c.running.set(false);
        let (code, value) = match result {
            Ok(CoroutineResult::Yield(v)) => (FIBRA_COROUTINE_YIELDED, v),
            Ok(CoroutineResult::Return(v)) => (FIBRA_COROUTINE_RETURNED, v),
            // A forced unwind of the fiber around us went through the coroutine: let the
            // guard stash it.
            Err(payload) => std::panic::resume_unwind(payload),
        };
        if !output.is_null() {
            // SAFETY: non-null; the caller promises it is writable.
            unsafe { output.write(value as *mut c_void) };
        }
        Ok(code)
    })
}

/// Suspends the running coroutine: `output` goes to the `*output` of the resume that ran it,
/// and the `input` of the next resume is stored in `*input` (if `input` is not NULL).
///
/// Returns `FIBRA_OK` once resumed; `FIBRA_EINVAL` if `yielder` is NULL or not a live
/// yielder; `FIBRA_EPERM` if the caller is not running on this yielder's coroutine (from
/// another stack); `FIBRA_ECANCELED` if the coroutine is being destroyed (or the fiber
/// around it cancelled): its function must then return (any further yield returns
/// `FIBRA_ECANCELED` at once), and its return value is discarded.
///
/// # Safety
/// `yielder` is NULL or the yielder passed to a coroutine function that has not returned
/// yet; `input` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_coroutine_yield(
    yielder: *mut fibra_yielder,
    output: *mut c_void,
    input: *mut *mut c_void,
) -> c_int {
    guard(|| {
        super::error::non_null(yielder)?;
        // SAFETY: the caller promises a yielder of a function that has not returned, which
        // lives on that coroutine's stack until then.
        let cy = unsafe { &*yielder };
        if cy.magic != YIELDER_MAGIC {
            return Err(FIBRA_EINVAL);
        }
        let here = 0u8;
        let sp = std::ptr::from_ref(&here) as usize;
        if sp <= cy.bottom || sp >= cy.top {
            return Err(FIBRA_EPERM);
        }
        check_not_cancelled()?;
        // SAFETY: the Yielder lives on this coroutine's stack, which we run on (checked
        // just above), until its function returns.
        let y = unsafe { &*cy.y };
        let v = y.suspend(output as usize);
        if !input.is_null() {
            // SAFETY: non-null; the caller promises it is writable.
            unsafe { input.write(v as *mut c_void) };
        }
        Ok(FIBRA_OK)
    })
}

/// Stores 1 in `*out` if the coroutine has returned, 0 if not.
///
/// Returns `FIBRA_OK`; `FIBRA_EINVAL` for a NULL / destroyed handle or NULL `out`;
/// `FIBRA_EPERM` from another thread than the creator's, or from inside the coroutine.
///
/// # Safety
/// `co` is NULL or a handle from `fibra_coroutine_create` whose destroy does not race with
/// the start of this call;
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_coroutine_is_done(
    co: *const fibra_coroutine,
    out: *mut c_int,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let c = unsafe { handle::get(co) }?;
        c.check_owner()?;
        // SAFETY: on the owner thread and not running: no `&mut` to it exists.
        let done = unsafe { &*c.co.get() }.done();
        // SAFETY: the caller's contract.
        unsafe { super::write_out(out, c_int::from(done)) }
    })
}

/// Frees a coroutine. If it is suspended in `fibra_coroutine_yield`, it is resumed one
/// last time first: that yield returns `FIBRA_ECANCELED`, and the function must return
/// (see `fibra_coroutine_yield`), so cleanup code in it runs.
///
/// Returns `FIBRA_OK`; `FIBRA_EINVAL` for a NULL / destroyed handle; `FIBRA_EPERM` (the
/// coroutine is left alive) from another thread than the creator's, or from inside the
/// coroutine itself.
///
/// # Safety
/// `co` is NULL or a handle from `fibra_coroutine_create`; no other call uses it during
/// or after this one.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_coroutine_destroy(co: *mut fibra_coroutine) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        unsafe { handle::get(co) }?.check_owner()?;
        // SAFETY: the caller's contract is `destroy`'s.
        let c = unsafe { handle::destroy_owned(co) }?;
        drop(c);
        Ok(FIBRA_OK)
    })
}
