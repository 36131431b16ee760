//! Spawn, join, detach, yield, sleep, current fiber id.

use super::error::{
    FIBRA_ECANCELED, FIBRA_EINVAL, FIBRA_EPANIC, FIBRA_EPERM, FIBRA_OK, check_not_cancelled, guard,
    non_null, resume_pending_cancel,
};
use super::handle::{self, Slot, handle_impl};
use super::runtime::fibra_runtime;
use crate::JoinHandle;
use crate::runtime::fiber::{current_fiber, in_fiber};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::time::Duration;

/// A fiber's function: called once with the `arg` given to `fibra_spawn`.
pub type fibra_fn = Option<unsafe extern "C" fn(arg: *mut c_void)>;

/// A C function and its argument, run once on a fiber.
pub(super) struct CFn {
    pub(super) f: unsafe extern "C" fn(*mut c_void),
    pub(super) arg: *mut c_void,
}

// SAFETY: the C caller of spawn / block_on promises that `f(arg)` may run on a worker
// thread (the header's contract).
unsafe impl Send for CFn {}

impl CFn {
    /// Calls the function, then resumes the runtime's forced unwind if a fibra call inside
    /// it was cancelled (see the `ffi` module docs).
    ///
    /// # Safety
    /// `f(arg)` may be called here, once.
    pub(super) unsafe fn run(self) {
        // SAFETY: the caller's contract.
        unsafe { (self.f)(self.arg) };
        resume_pending_cancel();
    }
}

/// A spawned fiber's join handle. Consumed by `fibra_join` or `fibra_detach` (exactly
/// one of them must be called, or the handle's memory is leaked).
pub struct fibra_fiber {
    slot: Slot<JoinHandle<()>>,
}

handle_impl!(fibra_fiber, JoinHandle<()>, 0x0f1b_7a00_0000_0002);

/// Options for `fibra_spawn_ex`. Zero-initialise it (`= {0}`) for the defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct fibra_spawn_options {
    /// The fiber's stack size in bytes; 0 means the runtime's default.
    pub stack_size: usize,
    /// The fiber's name (shown in stack-overflow reports), NUL-terminated UTF-8 (invalid
    /// bytes are replaced); NULL for none. Copied during the call.
    pub name: *const c_char,
}

/// Spawns `func(arg)` as a fiber on `rt`, with default options (see `fibra_spawn_ex`).
///
/// # Safety
/// As for `fibra_spawn_ex`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_spawn(
    rt: *const fibra_runtime,
    func: fibra_fn,
    arg: *mut c_void,
    out: *mut *mut fibra_fiber,
) -> c_int {
    // SAFETY: the same contract.
    unsafe { fibra_spawn_ex(rt, func, arg, std::ptr::null(), out) }
}

/// Spawns `func(arg)` as a fiber on `rt`, from any thread or fiber.
///
/// If `out` is not NULL, the fiber's join handle is stored in `*out` (to be passed to
/// `fibra_join` or `fibra_detach`); if `out` is NULL the fiber is detached at once.
/// `opts` may be NULL for the defaults. A fiber that has started runs on one worker
/// thread until it ends: it may keep a fibra mutex locked across `fibra_yield` or any
/// other suspension.
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL / destroyed runtime or a NULL `func`
/// (`*out` is then untouched).
///
/// # Safety
/// `rt` is NULL or a handle from `fibra_runtime_create` whose destroy does not race
/// with the start of this call;
/// `func` may be called with `arg` on any worker thread of `rt`; `opts` is NULL or points
/// to an initialised `fibra_spawn_options` whose `name` is NULL or NUL-terminated; `out`
/// is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_spawn_ex(
    rt: *const fibra_runtime,
    func: fibra_fn,
    arg: *mut c_void,
    opts: *const fibra_spawn_options,
    out: *mut *mut fibra_fiber,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let rt = unsafe { handle::get(rt) }?;
        let f = func.ok_or(FIBRA_EINVAL)?;
        let mut builder = crate::fiber::Builder::new();
        if !opts.is_null() {
            // SAFETY: non-null, and the caller promises an initialised struct.
            let o = unsafe { *opts };
            if o.stack_size > 0 {
                builder = builder.stack_size(o.stack_size);
            }
            if !o.name.is_null() {
                // SAFETY: the caller promises a NUL-terminated string.
                let name = unsafe { CStr::from_ptr(o.name) };
                builder = builder.name(name.to_string_lossy().into_owned());
            }
        }
        let job = CFn { f, arg };
        // SAFETY: the caller promises `func(arg)` may run on a worker thread.
        let handle = builder.spawn_on(&rt, move || unsafe { job.run() });
        if !out.is_null() {
            let h = handle::create::<fibra_fiber>(handle);
            // SAFETY: non-null; the caller promises it is writable.
            unsafe { out.write(h) };
        }
        Ok(FIBRA_OK)
    })
}

/// Waits until the fiber has finished and frees its handle (whatever the result: the
/// handle is invalid afterwards). From a fiber, suspends only the calling fiber; from a
/// plain thread, blocks it.
///
/// Returns `FIBRA_OK` when the fiber's function returned; `FIBRA_ECANCELED` if the fiber
/// was cancelled (its runtime was destroyed first), or if the calling fiber itself is
/// being cancelled; `FIBRA_EINVAL` for a NULL / destroyed handle.
///
/// # Safety
/// `fiber` is NULL or a handle from `fibra_spawn` / `fibra_spawn_ex`, not used by another
/// call at the same time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_join(fiber: *mut fibra_fiber) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `destroy`'s.
        let handle = unsafe { handle::destroy_owned(fiber) }?;
        check_not_cancelled()?;
        match handle.join() {
            Ok(()) => Ok(FIBRA_OK),
            Err(e) if e.is_cancelled() => Err(FIBRA_ECANCELED),
            Err(_) => Err(FIBRA_EPANIC),
        }
    })
}

/// Lets the fiber run on without anyone joining it, and frees its handle.
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL / destroyed handle.
///
/// # Safety
/// As for `fibra_join`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_detach(fiber: *mut fibra_fiber) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `destroy`'s.
        unsafe { handle::destroy_owned(fiber) }?;
        Ok(FIBRA_OK)
    })
}

/// Stores in `*out` whether the fiber has finished (1) or not (0): a join would not wait.
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL / destroyed handle or NULL `out`.
///
/// # Safety
/// `fiber` is NULL or a handle from `fibra_spawn` not being joined or detached meanwhile;
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_fiber_is_finished(
    fiber: *const fibra_fiber,
    out: *mut c_int,
) -> c_int {
    guard(|| {
        non_null(out)?;
        // SAFETY: the caller's contract is `get`'s.
        let handle = unsafe { handle::get(fiber) }?;
        // SAFETY: checked non-null; the caller promises it is writable.
        unsafe { out.write(c_int::from(handle.is_finished())) };
        Ok(FIBRA_OK)
    })
}

/// Stores the fiber's id in `*out` (the value `fibra_current_id` returns inside it;
/// unique within its runtime).
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL / destroyed handle or NULL `out`.
///
/// # Safety
/// As for `fibra_fiber_is_finished`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_fiber_id(fiber: *const fibra_fiber, out: *mut u64) -> c_int {
    guard(|| {
        non_null(out)?;
        // SAFETY: the caller's contract is `get`'s.
        let handle = unsafe { handle::get(fiber) }?;
        let id = handle.id().ok_or(FIBRA_EINVAL)?;
        // SAFETY: checked non-null; the caller promises it is writable.
        unsafe { out.write(id.as_u64()) };
        Ok(FIBRA_OK)
    })
}

/// Lets the other ready fibers of this worker run, then continues.
///
/// Returns `FIBRA_OK`; `FIBRA_EPERM` outside a fiber; `FIBRA_ECANCELED` if the calling
/// fiber is being cancelled.
#[unsafe(no_mangle)]
pub extern "C" fn fibra_yield() -> c_int {
    guard(|| {
        if !in_fiber() {
            return Err(FIBRA_EPERM);
        }
        check_not_cancelled()?;
        crate::yield_now();
        Ok(FIBRA_OK)
    })
}

/// Suspends the calling fiber for at least `ns` nanoseconds (its worker runs others).
///
/// Returns `FIBRA_OK`; `FIBRA_EPERM` outside a fiber (use the OS's sleep there);
/// `FIBRA_ECANCELED` if the calling fiber is being cancelled.
#[unsafe(no_mangle)]
pub extern "C" fn fibra_sleep(ns: u64) -> c_int {
    guard(|| {
        if !in_fiber() {
            return Err(FIBRA_EPERM);
        }
        check_not_cancelled()?;
        match super::deadline_after(ns) {
            Some(deadline) => crate::sleep_until(deadline),
            // Beyond what a deadline can hold: forever, in day-long naps.
            None => loop {
                crate::sleep(Duration::from_secs(86_400));
            },
        }
        Ok(FIBRA_OK)
    })
}

/// Stores the calling fiber's id in `*out`.
///
/// Returns `FIBRA_OK`; `FIBRA_EPERM` outside a fiber; `FIBRA_EINVAL` if `out` is NULL.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_current_id(out: *mut u64) -> c_int {
    guard(|| {
        non_null(out)?;
        let f = current_fiber().ok_or(FIBRA_EPERM)?;
        // SAFETY: checked non-null; the caller promises it is writable.
        unsafe { out.write(f.id.as_u64()) };
        Ok(FIBRA_OK)
    })
}

/// 1 if the caller runs in a fiber, 0 if on a plain thread. Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn fibra_in_fiber() -> c_int {
    guard(|| Ok(c_int::from(in_fiber())))
}
