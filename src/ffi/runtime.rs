//! Runtime create / destroy / shutdown, and block_on from a host thread.

use super::error::{
    FIBRA_ECANCELED, FIBRA_EINVAL, FIBRA_ENOMEM, FIBRA_EPANIC, FIBRA_EPERM, FIBRA_ETIMEDOUT,
    FIBRA_OK, guard, non_null,
};
use super::fiber::{CFn, fibra_fn};
use super::handle::{self, Slot, handle_impl};
use crate::runtime::fiber::in_fiber;
use crate::{IdlePolicy, Runtime, RuntimeBuilder};
use std::ffi::{c_int, c_void};
use std::time::Duration;

/// Idle policy: an idle worker sleeps in the OS at once (the default; no CPU burnt).
pub const FIBRA_IDLE_PARK: c_int = 0;
/// Idle policy: an idle worker spins for `idle_ns` nanoseconds before sleeping (lowest
/// wake-up latency, burns a core meanwhile).
pub const FIBRA_IDLE_SPIN: c_int = 1;
/// Idle policy: an idle worker yields its thread to the OS for `idle_ns` nanoseconds
/// before sleeping.
pub const FIBRA_IDLE_YIELD: c_int = 2;

/// Runtime settings for `fibra_runtime_create`. Fill it with `fibra_runtime_config_init`
/// first, then change the fields you care about: new fields may be added at the end in
/// later versions, and `init` gives them their defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct fibra_runtime_config {
    /// Worker threads; 0 means one per CPU. Too many (more than 65535) gives
    /// `FIBRA_EINVAL`.
    pub workers: usize,
    /// Default stack size of each fiber in bytes; 0 means fibra's default (128 KiB).
    pub stack_size: usize,
    /// What an idle worker does: `FIBRA_IDLE_PARK`, `FIBRA_IDLE_SPIN` or `FIBRA_IDLE_YIELD`.
    pub idle_policy: c_int,
    /// For `FIBRA_IDLE_SPIN` and `FIBRA_IDLE_YIELD`: how long, in nanoseconds.
    pub idle_ns: u64,
    /// Worker `i` is pinned to CPU `pin_cpus[i % pin_cpus_len]` (Linux; ignored
    /// elsewhere). NULL (or `pin_cpus_len == 0`) pins nothing. Read only during create.
    pub pin_cpus: *const usize,
    /// Number of entries in `pin_cpus`.
    pub pin_cpus_len: usize,
}

/// A fiber runtime: worker threads running fibers. Created by `fibra_runtime_create`,
/// destroyed by `fibra_runtime_destroy` or `fibra_runtime_shutdown`.
pub struct fibra_runtime {
    slot: Slot<Runtime>,
}

handle_impl!(fibra_runtime, Runtime, 0x0f1b_7a00_0000_0001);

/// Fills `*config` with the defaults: one worker per CPU, 128 KiB stacks,
/// `FIBRA_IDLE_PARK`, no pinning.
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` if `config` is NULL.
///
/// # Safety
/// `config` is NULL or points to writable memory for a `fibra_runtime_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_runtime_config_init(config: *mut fibra_runtime_config) -> c_int {
    guard(|| {
        non_null(config)?;
        // SAFETY: non-null, and the caller promises it is writable.
        unsafe {
            config.write(fibra_runtime_config {
                workers: 0,
                stack_size: 0,
                idle_policy: FIBRA_IDLE_PARK,
                idle_ns: 0,
                pin_cpus: std::ptr::null(),
                pin_cpus_len: 0,
            })
        };
        Ok(FIBRA_OK)
    })
}

/// Starts a runtime and stores its handle in `*out`.
///
/// `config` may be NULL for the defaults. Returns `FIBRA_OK`; `FIBRA_EINVAL` if `out` is
/// NULL or a setting is out of range (too many workers, an unknown idle policy);
/// `FIBRA_ENOMEM` if the worker threads cannot be started. On error `*out` is untouched.
/// Callable from any thread, including from a fiber (of another runtime).
///
/// # Safety
/// `config` is NULL or points to an initialised `fibra_runtime_config` whose `pin_cpus`
/// (if not NULL) points to `pin_cpus_len` readable `size_t`s; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_runtime_create(
    config: *const fibra_runtime_config,
    out: *mut *mut fibra_runtime,
) -> c_int {
    guard(|| {
        non_null(out)?;
        let mut builder = RuntimeBuilder::new();
        if !config.is_null() {
            // SAFETY: non-null, and the caller promises an initialised config.
            let c = unsafe { *config };
            if c.workers > 0 {
                builder = builder.workers(c.workers);
            }
            if c.stack_size > 0 {
                builder = builder.stack_size(c.stack_size);
            }
            let idle = Duration::from_nanos(c.idle_ns);
            builder = builder.idle_policy(match c.idle_policy {
                FIBRA_IDLE_PARK => IdlePolicy::Park,
                FIBRA_IDLE_SPIN => IdlePolicy::Spin(idle),
                FIBRA_IDLE_YIELD => IdlePolicy::Yield(idle),
                _ => return Err(FIBRA_EINVAL),
            });
            if !c.pin_cpus.is_null() && c.pin_cpus_len > 0 {
                // SAFETY: the caller promises `pin_cpus_len` readable entries.
                let cpus = unsafe { std::slice::from_raw_parts(c.pin_cpus, c.pin_cpus_len) };
                builder = builder.pin_workers(cpus.iter().copied());
            }
        }
        let rt = builder.build().map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => FIBRA_EINVAL,
            _ => FIBRA_ENOMEM,
        })?;
        let h = handle::create::<fibra_runtime>(rt);
        // SAFETY: checked non-null; the caller promises it is writable.
        unsafe { out.write(h) };
        Ok(FIBRA_OK)
    })
}

/// Stops a runtime and frees it, waiting as long as it takes.
///
/// Workers finish the fiber each is running; fibers that have not started are dropped
/// (their joins return `FIBRA_ECANCELED`); started fibers that are suspended are
/// cancelled: the fibra call each is suspended in returns `FIBRA_ECANCELED`, as does
/// every later blocking call, and the runtime waits for their functions to return.
/// The handle is invalid afterwards (whatever the result).
///
/// Returns `FIBRA_OK`; `FIBRA_EINVAL` for a NULL or destroyed handle; `FIBRA_EPERM` if
/// called from inside a fiber (of any runtime: the wait would block a worker thread),
/// in which case the runtime is left running.
///
/// # Safety
/// `rt` is NULL or a handle from `fibra_runtime_create` (possibly destroyed); no call on
/// it starts during or after this one. Calls already under way on other threads (a
/// spawn, a `fibra_block_on`) are waited for before the runtime stops.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_runtime_destroy(rt: *mut fibra_runtime) -> c_int {
    guard(|| {
        if in_fiber() {
            return Err(FIBRA_EPERM);
        }
        // SAFETY: the caller's contract is `destroy`'s.
        let rt = unsafe { handle::destroy_owned(rt) }?;
        drop(rt);
        Ok(FIBRA_OK)
    })
}

/// Stops a runtime like `fibra_runtime_destroy`, but waits at most `timeout_ns`
/// nanoseconds for the workers to stop.
///
/// Returns `FIBRA_OK` if they stopped in time (the runtime is freed), `FIBRA_ETIMEDOUT`
/// if not: the workers are then left to stop on their own (detached) and the handle is
/// invalid all the same. `FIBRA_EINVAL` for a NULL or destroyed handle, `FIBRA_EPERM`
/// from inside a fiber (the runtime is left running).
///
/// # Safety
/// As for `fibra_runtime_destroy`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_runtime_shutdown(rt: *mut fibra_runtime, timeout_ns: u64) -> c_int {
    guard(|| {
        if in_fiber() {
            return Err(FIBRA_EPERM);
        }
        // SAFETY: the caller's contract is `destroy`'s.
        let rt = unsafe { handle::destroy_owned(rt) }?;
        if rt.shutdown_timeout(Duration::from_nanos(timeout_ns)) {
            Ok(FIBRA_OK)
        } else {
            Err(FIBRA_ETIMEDOUT)
        }
    })
}

/// Stores the runtime's number of worker threads in `*out`.
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL / destroyed handle or a NULL `out`.
///
/// # Safety
/// `rt` is NULL or a handle from `fibra_runtime_create` whose destroy does not race
/// with the start of this call;
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_runtime_workers(rt: *const fibra_runtime, out: *mut usize) -> c_int {
    guard(|| {
        non_null(out)?;
        // SAFETY: the caller's contract is `get`'s.
        let rt = unsafe { handle::get(rt) }?;
        // SAFETY: checked non-null; the caller promises it is writable.
        unsafe { out.write(rt.workers()) };
        Ok(FIBRA_OK)
    })
}

/// Runs `fn(arg)` as a fiber on `rt` and blocks the calling thread until it returns.
///
/// For host threads: the fiber may use every fibra call. Returns `FIBRA_OK` once `fn`
/// has returned; `FIBRA_EINVAL` for a NULL / destroyed runtime or a NULL `fn`;
/// `FIBRA_EPERM` if called from inside a fiber (spawn and join there instead);
/// `FIBRA_ECANCELED` if the runtime was destroyed before the fiber finished.
///
/// # Safety
/// `rt` is NULL or a handle from `fibra_runtime_create`, not destroyed before this call
/// returns; `fn` is NULL or a function that may be called with `arg` on a worker thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_block_on(
    rt: *const fibra_runtime,
    func: fibra_fn,
    arg: *mut c_void,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let rt = unsafe { handle::get(rt) }?;
        let f = func.ok_or(FIBRA_EINVAL)?;
        if in_fiber() {
            return Err(FIBRA_EPERM);
        }
        let job = CFn { f, arg };
        // SAFETY: the caller promises `fn(arg)` may run on a worker thread.
        match rt.try_block_on(move || unsafe { job.run() }) {
            Ok(()) => Ok(FIBRA_OK),
            Err(e) if e.is_cancelled() => Err(FIBRA_ECANCELED),
            Err(_) => Err(FIBRA_EPANIC),
        }
    })
}
