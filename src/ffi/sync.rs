//! Mutex, event, wait group, barrier, semaphore.
//!
//! Each waits the fibra way: a fiber caller is suspended (its worker runs other fibers),
//! a plain-thread caller is blocked. Timeouts are in nanoseconds.

use super::error::{
    FIBRA_EAGAIN, FIBRA_EINVAL, FIBRA_EPERM, FIBRA_ETIMEDOUT, FIBRA_OK, check_not_cancelled, guard,
};
use super::handle::{self, Slot, handle_impl};
use super::{create_into, write_out};
use crate::runtime::fiber::current_fiber_addr;
use crate::sync::raw_mutex::RawMutex;
use crate::sync::{Barrier, Event, Semaphore, WaitGroup};
use std::ffi::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long until `deadline` (zero if past).
fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

// ------------------------------------------------------------------------------- mutex

/// The C mutex: a fibra raw mutex and who holds it.
pub(super) struct CMutex {
    raw: RawMutex,
    /// The holder's identity (see `caller_token`), 0 when unlocked. Written only by the
    /// holder while it holds the lock; read by `unlock` callers to refuse non-holders.
    owner: AtomicUsize,
}

/// Who is calling: the running fiber's address, or (outside fibers) the calling
/// thread's token. Two live callers never share one. A started fiber never changes
/// threads, so a fiber that locks and unlocks always presents the same token.
fn caller_token() -> usize {
    current_fiber_addr().unwrap_or_else(super::thread_token)
}

impl CMutex {
    fn locked_by_me(&self) -> c_int {
        // Relaxed: only the holder writes `owner`, and only while it holds the lock, which
        // our lock acquisition (Acquire in RawMutex) ordered before this write.
        self.owner.store(caller_token(), Ordering::Relaxed);
        FIBRA_OK
    }
}

/// A fiber-aware mutex (not recursive). Whoever locks it must unlock it, from the same
/// fiber (or, outside fibers, the same thread); a fiber may hold it across `fibra_yield`,
/// `fibra_sleep` and any other suspension, since started fibers never change threads.
pub struct fibra_mutex {
    slot: Slot<CMutex>,
}

handle_impl!(fibra_mutex, CMutex, 0x0f1b_7a00_0000_0010);

/// Creates an unlocked mutex and stores its handle in `*out`.
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` if `out` is NULL.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_mutex_create(out: *mut *mut fibra_mutex) -> c_int {
    guard(|| {
        let m = CMutex {
            raw: RawMutex::new(),
            owner: AtomicUsize::new(0),
        };
        // SAFETY: the caller's contract.
        unsafe { create_into(out, m) }
    })
}

/// Frees a mutex. Returns `FIBRA_OK`; `FIBRA_EINVAL` for a NULL / destroyed handle;
/// `FIBRA_EPERM` if it is locked (it is then left alive).
///
/// # Safety
/// `m` is NULL or a handle from `fibra_mutex_create`; no call on it starts during or after
/// this one (calls under way keep the object alive until they return).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_mutex_destroy(m: *mut fibra_mutex) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        if unsafe { handle::get(m) }?.raw.is_locked() {
            return Err(FIBRA_EPERM);
        }
        // SAFETY: the caller's contract is `destroy`'s.
        unsafe { handle::destroy(m) }?;
        Ok(FIBRA_OK)
    })
}

/// Locks the mutex, waiting as long as it takes.
///
/// Returns `FIBRA_OK`; `FIBRA_EINVAL` for a NULL / destroyed handle; `FIBRA_ECANCELED`
/// if the calling fiber is being cancelled (the mutex is then not locked). Locking a
/// mutex the caller already holds deadlocks (it is not recursive).
///
/// # Safety
/// `m` is NULL or a handle from `fibra_mutex_create` whose destroy does not race with
/// the start of this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_mutex_lock(m: *const fibra_mutex) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let m = unsafe { handle::get(m) }?;
        if !m.raw.try_lock() {
            check_not_cancelled()?;
            m.raw.lock();
        }
        Ok(m.locked_by_me())
    })
}

/// Locks the mutex if it is free. Returns `FIBRA_OK` if it locked it, `FIBRA_EAGAIN` if
/// the mutex is held, `FIBRA_EINVAL` for a NULL / destroyed handle.
///
/// # Safety
/// As for `fibra_mutex_lock`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_mutex_trylock(m: *const fibra_mutex) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let m = unsafe { handle::get(m) }?;
        if m.raw.try_lock() {
            Ok(m.locked_by_me())
        } else {
            Err(FIBRA_EAGAIN)
        }
    })
}

/// Locks the mutex, waiting at most `timeout_ns` nanoseconds.
///
/// Returns `FIBRA_OK` if it locked it, `FIBRA_ETIMEDOUT` if the time ran out first,
/// `FIBRA_EINVAL` for a NULL / destroyed handle, `FIBRA_ECANCELED` if the calling fiber
/// is being cancelled.
///
/// # Safety
/// As for `fibra_mutex_lock`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_mutex_lock_timeout(m: *const fibra_mutex, timeout_ns: u64) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let m = unsafe { handle::get(m) }?;
        if m.raw.try_lock() {
            return Ok(m.locked_by_me());
        }
        check_not_cancelled()?;
        match super::deadline_after(timeout_ns) {
            Some(d) if !m.raw.lock_deadline(Some(d)) => Err(FIBRA_ETIMEDOUT),
            Some(_) => Ok(m.locked_by_me()),
            None => {
                m.raw.lock();
                Ok(m.locked_by_me())
            }
        }
    })
}

/// Unlocks the mutex.
///
/// Returns `FIBRA_OK`; `FIBRA_EPERM` if the caller (this fiber, or this thread outside
/// fibers) does not hold it, the mutex then being left as it was; `FIBRA_EINVAL` for a
/// NULL / destroyed handle. Works in a fiber being cancelled too (so cleanup code can run).
///
/// # Safety
/// As for `fibra_mutex_lock`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_mutex_unlock(m: *const fibra_mutex) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let m = unsafe { handle::get(m) }?;
        // Relaxed: if we hold the lock we wrote `owner` ourselves (program order); if we
        // don't, no value we can read equals our token (only a holder writes its own).
        if !m.raw.is_locked() || m.owner.load(Ordering::Relaxed) != caller_token() {
            return Err(FIBRA_EPERM);
        }
        m.owner.store(0, Ordering::Relaxed);
        // SAFETY: the owner check above: the caller holds the lock.
        unsafe { m.raw.unlock() };
        Ok(FIBRA_OK)
    })
}

// ------------------------------------------------------------------------------- event

/// An event: waiters wait until it is set. Auto-reset events let one waiter through
/// per `set` (and clear themselves); manual-reset events stay set, letting every
/// waiter through, until `fibra_event_reset`.
pub struct fibra_event {
    slot: Slot<Event>,
}

handle_impl!(fibra_event, Event, 0x0f1b_7a00_0000_0011);

/// Creates an unset event: manual-reset if `manual_reset` is non-zero, auto-reset
/// otherwise; stores its handle in `*out`.
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` if `out` is NULL.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_event_create(
    manual_reset: c_int,
    out: *mut *mut fibra_event,
) -> c_int {
    guard(|| {
        let e = if manual_reset != 0 {
            Event::new_manual_reset()
        } else {
            Event::new_auto_reset()
        };
        // SAFETY: the caller's contract.
        unsafe { create_into(out, e) }
    })
}

/// Frees an event. Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL / destroyed handle.
///
/// # Safety
/// `e` is NULL or a handle from `fibra_event_create`; no call on it starts during or after
/// this one (calls under way keep the object alive until they return).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_event_destroy(e: *mut fibra_event) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `destroy`'s.
        unsafe { handle::destroy(e) }?;
        Ok(FIBRA_OK)
    })
}

/// Sets the event (see `fibra_event` for who gets through). Returns `FIBRA_OK`, or
/// `FIBRA_EINVAL` for a NULL / destroyed handle.
///
/// # Safety
/// `e` is NULL or a handle from `fibra_event_create` whose destroy does not race with
/// the start of this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_event_set(e: *const fibra_event) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        unsafe { handle::get(e) }?.set();
        Ok(FIBRA_OK)
    })
}

/// Clears the event. Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL / destroyed handle.
///
/// # Safety
/// As for `fibra_event_set`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_event_reset(e: *const fibra_event) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        unsafe { handle::get(e) }?.reset();
        Ok(FIBRA_OK)
    })
}

/// Stores 1 in `*out` if the event is set, 0 if not. Returns `FIBRA_OK`, or
/// `FIBRA_EINVAL` for a NULL / destroyed handle or NULL `out`.
///
/// # Safety
/// As for `fibra_event_set`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_event_is_set(e: *const fibra_event, out: *mut c_int) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let set = unsafe { handle::get(e) }?.is_set();
        // SAFETY: the caller's contract.
        unsafe { write_out(out, c_int::from(set)) }
    })
}

/// Waits until the event is set (an auto-reset event is cleared again on the way out).
///
/// Returns `FIBRA_OK`; `FIBRA_EINVAL` for a NULL / destroyed handle; `FIBRA_ECANCELED`
/// if the calling fiber is being cancelled.
///
/// # Safety
/// As for `fibra_event_set`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_event_wait(e: *const fibra_event) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let e = unsafe { handle::get(e) }?;
        check_not_cancelled()?;
        e.wait();
        Ok(FIBRA_OK)
    })
}

/// As `fibra_event_wait`, waiting at most `timeout_ns` nanoseconds: `FIBRA_ETIMEDOUT` if
/// the event was not set in time.
///
/// # Safety
/// As for `fibra_event_set`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_event_wait_timeout(e: *const fibra_event, timeout_ns: u64) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let e = unsafe { handle::get(e) }?;
        check_not_cancelled()?;
        match super::deadline_after(timeout_ns) {
            Some(d) if !e.wait_timeout(remaining(d)) => Err(FIBRA_ETIMEDOUT),
            Some(_) => Ok(FIBRA_OK),
            None => {
                e.wait();
                Ok(FIBRA_OK)
            }
        }
    })
}

// -------------------------------------------------------------------------- wait group

/// A wait group: a counter of unfinished jobs; waiters wait until it is zero.
pub struct fibra_waitgroup {
    slot: Slot<WaitGroup>,
}

handle_impl!(fibra_waitgroup, WaitGroup, 0x0f1b_7a00_0000_0012);

/// Creates a wait group with a count of zero and stores its handle in `*out`.
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` if `out` is NULL.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_waitgroup_create(out: *mut *mut fibra_waitgroup) -> c_int {
    // SAFETY: the caller's contract.
    guard(|| unsafe { create_into(out, WaitGroup::new()) })
}

/// Frees a wait group. Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL / destroyed
/// handle.
///
/// # Safety
/// `wg` is NULL or a handle from `fibra_waitgroup_create`; no call on it starts during or after
/// this one (calls under way keep the object alive until they return).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_waitgroup_destroy(wg: *mut fibra_waitgroup) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `destroy`'s.
        unsafe { handle::destroy(wg) }?;
        Ok(FIBRA_OK)
    })
}

/// Adds `n` to the count (before starting `n` jobs). Returns `FIBRA_OK`, or
/// `FIBRA_EINVAL` for a NULL / destroyed handle.
///
/// # Safety
/// `wg` is NULL or a handle from `fibra_waitgroup_create` whose destroy does not race with
/// the start of this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_waitgroup_add(wg: *const fibra_waitgroup, n: usize) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        unsafe { handle::get(wg) }?.add(n);
        Ok(FIBRA_OK)
    })
}

/// Subtracts one from the count (a job finished); at zero, the waiters go on.
///
/// Returns `FIBRA_OK`; `FIBRA_EPERM` if the count is already zero (more `done`s than
/// `add`s; detected when the count is zero at the call); `FIBRA_EINVAL` for a NULL /
/// destroyed handle. Works in a fiber being cancelled too.
///
/// # Safety
/// As for `fibra_waitgroup_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_waitgroup_done(wg: *const fibra_waitgroup) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let wg = unsafe { handle::get(wg) }?;
        if wg.count() == 0 {
            return Err(FIBRA_EPERM);
        }
        wg.done();
        Ok(FIBRA_OK)
    })
}

/// Stores the current count in `*out`. Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL
/// / destroyed handle or NULL `out`.
///
/// # Safety
/// As for `fibra_waitgroup_add`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_waitgroup_count(
    wg: *const fibra_waitgroup,
    out: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let n = unsafe { handle::get(wg) }?.count();
        // SAFETY: the caller's contract.
        unsafe { write_out(out, n) }
    })
}

/// Waits until the count is zero.
///
/// Returns `FIBRA_OK`; `FIBRA_EINVAL` for a NULL / destroyed handle; `FIBRA_ECANCELED`
/// if the calling fiber is being cancelled.
///
/// # Safety
/// As for `fibra_waitgroup_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_waitgroup_wait(wg: *const fibra_waitgroup) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let wg = unsafe { handle::get(wg) }?;
        check_not_cancelled()?;
        wg.wait();
        Ok(FIBRA_OK)
    })
}

/// As `fibra_waitgroup_wait`, waiting at most `timeout_ns` nanoseconds:
/// `FIBRA_ETIMEDOUT` if the count was not zero in time.
///
/// # Safety
/// As for `fibra_waitgroup_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_waitgroup_wait_timeout(
    wg: *const fibra_waitgroup,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let wg = unsafe { handle::get(wg) }?;
        check_not_cancelled()?;
        match super::deadline_after(timeout_ns) {
            Some(d) if !wg.wait_timeout(remaining(d)) => Err(FIBRA_ETIMEDOUT),
            Some(_) => Ok(FIBRA_OK),
            None => {
                wg.wait();
                Ok(FIBRA_OK)
            }
        }
    })
}

// ----------------------------------------------------------------------------- barrier

/// Returned by `fibra_barrier_wait` to exactly one party of each round.
pub const FIBRA_BARRIER_LEADER: c_int = 1;

/// A reusable barrier for a fixed number of parties: each round, every party waits
/// until all have arrived.
pub struct fibra_barrier {
    slot: Slot<Barrier>,
}

handle_impl!(fibra_barrier, Barrier, 0x0f1b_7a00_0000_0013);

/// Creates a barrier for `parties` parties (at least 1) and stores its handle in `*out`.
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` if `out` is NULL or `parties` is 0.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_barrier_create(
    parties: usize,
    out: *mut *mut fibra_barrier,
) -> c_int {
    guard(|| {
        if parties == 0 {
            return Err(FIBRA_EINVAL);
        }
        // SAFETY: the caller's contract.
        unsafe { create_into(out, Barrier::new(parties)) }
    })
}

/// Frees a barrier. Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL / destroyed handle.
///
/// # Safety
/// `b` is NULL or a handle from `fibra_barrier_create`; no call on it starts during or after
/// this one (calls under way keep the object alive until they return).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_barrier_destroy(b: *mut fibra_barrier) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `destroy`'s.
        unsafe { handle::destroy(b) }?;
        Ok(FIBRA_OK)
    })
}

/// Waits until all parties of this round have arrived (there is no timed variant: a
/// party that gave up would leave the round short for good).
///
/// Returns `FIBRA_BARRIER_LEADER` (1) to one party of the round and `FIBRA_OK` (0) to
/// the others; `FIBRA_EINVAL` for a NULL / destroyed handle; `FIBRA_ECANCELED` if the
/// calling fiber is being cancelled.
///
/// # Safety
/// `b` is NULL or a handle from `fibra_barrier_create` whose destroy does not race with
/// the start of this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_barrier_wait(b: *const fibra_barrier) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let b = unsafe { handle::get(b) }?;
        check_not_cancelled()?;
        Ok(if b.wait().is_leader() {
            FIBRA_BARRIER_LEADER
        } else {
            FIBRA_OK
        })
    })
}

// --------------------------------------------------------------------------- semaphore

/// A counting semaphore.
pub struct fibra_semaphore {
    slot: Slot<Semaphore>,
}

handle_impl!(fibra_semaphore, Semaphore, 0x0f1b_7a00_0000_0014);

// The header defines FIBRA_SEMAPHORE_MAX_PERMITS as `SIZE_MAX >> 3` (cbindgen.toml's
// `after_includes`): the most permits a semaphore holds, or one call takes or adds.
const _: () = assert!(Semaphore::MAX_PERMITS == usize::MAX >> 3);

/// Creates a semaphore holding `permits` permits and stores its handle in `*out`.
///
/// Returns `FIBRA_OK`, or `FIBRA_EINVAL` if `out` is NULL or `permits` exceeds
/// `FIBRA_SEMAPHORE_MAX_PERMITS`.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_semaphore_create(
    permits: usize,
    out: *mut *mut fibra_semaphore,
) -> c_int {
    guard(|| {
        if permits > Semaphore::MAX_PERMITS {
            return Err(FIBRA_EINVAL);
        }
        // SAFETY: the caller's contract.
        unsafe { create_into(out, Semaphore::new(permits)) }
    })
}

/// Frees a semaphore. Returns `FIBRA_OK`, or `FIBRA_EINVAL` for a NULL / destroyed
/// handle.
///
/// # Safety
/// `s` is NULL or a handle from `fibra_semaphore_create`; no call on it starts during or after
/// this one (calls under way keep the object alive until they return).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_semaphore_destroy(s: *mut fibra_semaphore) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `destroy`'s.
        unsafe { handle::destroy(s) }?;
        Ok(FIBRA_OK)
    })
}

/// Takes `n` permits at once, waiting until that many are available.
///
/// Returns `FIBRA_OK`; `FIBRA_EINVAL` for a NULL / destroyed handle or `n` above
/// `FIBRA_SEMAPHORE_MAX_PERMITS`; `FIBRA_ECANCELED` if the calling fiber is being
/// cancelled (no permits are then taken).
///
/// # Safety
/// `s` is NULL or a handle from `fibra_semaphore_create` whose destroy does not race with
/// the start of this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_semaphore_acquire(s: *const fibra_semaphore, n: usize) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let s = unsafe { handle::get(s) }?;
        if n > Semaphore::MAX_PERMITS {
            return Err(FIBRA_EINVAL);
        }
        if let Some(p) = s.try_acquire_many(n) {
            p.forget();
            return Ok(FIBRA_OK);
        }
        check_not_cancelled()?;
        s.acquire_many(n).forget();
        Ok(FIBRA_OK)
    })
}

/// Takes `n` permits if that many are available now: `FIBRA_OK`, else `FIBRA_EAGAIN`
/// (nothing taken). `FIBRA_EINVAL` as for `fibra_semaphore_acquire`.
///
/// # Safety
/// As for `fibra_semaphore_acquire`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_semaphore_try_acquire(s: *const fibra_semaphore, n: usize) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let s = unsafe { handle::get(s) }?;
        if n > Semaphore::MAX_PERMITS {
            return Err(FIBRA_EINVAL);
        }
        match s.try_acquire_many(n) {
            Some(p) => {
                p.forget();
                Ok(FIBRA_OK)
            }
            None => Err(FIBRA_EAGAIN),
        }
    })
}

/// As `fibra_semaphore_acquire`, waiting at most `timeout_ns` nanoseconds:
/// `FIBRA_ETIMEDOUT` (nothing taken) if `n` permits were not available in time.
///
/// # Safety
/// As for `fibra_semaphore_acquire`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_semaphore_acquire_timeout(
    s: *const fibra_semaphore,
    n: usize,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let s = unsafe { handle::get(s) }?;
        if n > Semaphore::MAX_PERMITS {
            return Err(FIBRA_EINVAL);
        }
        if let Some(p) = s.try_acquire_many(n) {
            p.forget();
            return Ok(FIBRA_OK);
        }
        check_not_cancelled()?;
        let permit = match super::deadline_after(timeout_ns) {
            Some(d) => s.acquire_many_timeout(n, remaining(d)),
            None => Some(s.acquire_many(n)),
        };
        match permit {
            Some(p) => {
                p.forget();
                Ok(FIBRA_OK)
            }
            None => Err(FIBRA_ETIMEDOUT),
        }
    })
}

/// Adds `n` permits (waking waiters they satisfy). Returns `FIBRA_OK`; `FIBRA_EINVAL`
/// for a NULL / destroyed handle, or if the semaphore would hold more than
/// `FIBRA_SEMAPHORE_MAX_PERMITS` (nothing is added then; detected against the count
/// at the call).
///
/// # Safety
/// As for `fibra_semaphore_acquire`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_semaphore_release(s: *const fibra_semaphore, n: usize) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let s = unsafe { handle::get(s) }?;
        if n > Semaphore::MAX_PERMITS - s.available_permits().min(Semaphore::MAX_PERMITS) {
            return Err(FIBRA_EINVAL);
        }
        s.add_permits(n);
        Ok(FIBRA_OK)
    })
}

/// Stores the number of available permits in `*out`. Returns `FIBRA_OK`, or
/// `FIBRA_EINVAL` for a NULL / destroyed handle or NULL `out`.
///
/// # Safety
/// As for `fibra_semaphore_acquire`; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fibra_semaphore_available(
    s: *const fibra_semaphore,
    out: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract is `get`'s.
        let n = unsafe { handle::get(s) }?.available_permits();
        // SAFETY: the caller's contract.
        unsafe { write_out(out, n) }
    })
}
