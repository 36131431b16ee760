//! The record a fiber waits on while the kernel (io_uring) or the worker's epoll loop
//! works for it. It lives on the waiting fiber's stack; its address is the SQE's
//! user_data (io_uring) or sits in a registration's waiter list (epoll).

use crate::runtime::fiber::{self, Fiber};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI64, Ordering};

/// Not completed yet (results are i32, so this never collides).
const PENDING: i64 = i64::MIN;

/// One operation's result slot and the fiber to wake.
pub(crate) struct Completion {
    result: AtomicI64,
    fiber: NonNull<Fiber>,
}

impl Completion {
    /// A record for the calling fiber, or None outside a fiber (or while it is unwound).
    #[inline]
    pub(crate) fn for_current_fiber() -> Option<Completion> {
        Some(Completion {
            result: AtomicI64::new(PENDING),
            fiber: fiber::current_fiber_ptr_unless_unwinding()?,
        })
    }

    /// The result, once completed.
    #[inline]
    pub(crate) fn result(&self) -> Option<i32> {
        // Acquire: pairs with the release store in `complete`: whatever the completer (or
        // the kernel, whose CQE the completer read) wrote for us is visible.
        let r = self.result.load(Ordering::Acquire);
        (r != PENDING).then_some(r as i32)
    }

    /// The address used as user_data / waiter key.
    #[inline]
    pub(crate) fn addr(&self) -> u64 {
        core::ptr::from_ref(self) as u64
    }

    /// Publishes `res` and wakes the fiber.
    ///
    /// # Safety
    /// `this` points at a live, pending `Completion` whose fiber waits for it (so the
    /// record, on that fiber's stack, stays alive until the release store below), and
    /// this is its only completion.
    #[inline]
    pub(crate) unsafe fn complete(this: *const Completion, res: i32) {
        // SAFETY: the caller's contract: the record is alive until we publish the result.
        let me = unsafe { &*this };
        // Marked woken first, while the fiber surely exists (it cannot return before it
        // sees the result; the same order as `Signal::complete`).
        // SAFETY: the fiber waits for this record, so it is alive (started, unfinished).
        let parked = unsafe { me.fiber.as_ref() }.notify();
        // Release: pairs with the acquire in `result`. After this store the record (and
        // the fiber's stack) may be gone: touch neither again.
        me.result.store(i64::from(res), Ordering::Release);
        if let Some(f) = parked {
            crate::runtime::schedule_woken(f);
        }
    }

    /// Parks the calling fiber (the record's own) until the record completes.
    #[inline]
    pub(crate) fn wait(&self) -> i32 {
        loop {
            if let Some(r) = self.result() {
                return r;
            }
            // SAFETY: the record belongs to the calling fiber (made by
            // `for_current_fiber` and only waited on by its maker), which runs this.
            unsafe { fiber::park_self(self.fiber.as_ref()) };
        }
    }

    /// Parks the calling fiber until the record completes or `deadline` passes; returns
    /// the result, or None on timeout (the record may still complete later: the caller
    /// must withdraw it).
    pub(crate) fn wait_until(&self, deadline: Option<std::time::Instant>) -> Option<i32> {
        let Some(deadline) = deadline else {
            return Some(self.wait());
        };
        loop {
            if let Some(r) = self.result() {
                return Some(r);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            fiber::park_until(deadline);
        }
    }
}
