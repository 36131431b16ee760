//! Leaving a wait by unwinding.
//!
//! A fiber whose runtime shuts down is unwound from inside its suspension point: out of
//! [`Signal::wait`] or [`Signal::wait_deadline`], with its wait node, on the stack about to
//! be freed, possibly still linked in a primitive's wait list, and possibly already granted
//! what it waited for (a lock handed over, permits taken for it). An [`UnwindGuard`] armed
//! around the wait settles both before the frame ends:
//!
//! 1. it races for the waiter's own claim ([`Signal::try_cancel`]), exactly as a timeout
//!    does. If it wins, no notifier will touch the node again, but the node may still be
//!    linked: the cleanup unlinks it under the primitive's lock (the timeout path's code);
//! 2. if a notifier won the claim, the guard waits (spinning: an unwinding fiber must not
//!    suspend) until that notifier published DONE, its last touch of the node, which it
//!    had already unlinked; some notifiers publish it only after dropping the list lock
//!    (`wake_all::Released`), so taking the lock would not be enough. The cleanup then
//!    gives back what the claim's tag granted (unlocks a lock handed over, returns
//!    permits, sets an auto-reset event again, ...), so nobody else waits for it forever.
//!
//! The guard lives on the slow path only, and the normal end of a wait disarms it.

use super::signal::Signal;
use std::mem;

/// Runs a wait's cleanup if the wait is left by unwinding (see the module docs): the
/// cleanup gets `None` if the guard cancelled the waiter's claim itself (the node may still
/// be linked), or `Some(tag)` if a notifier had won it with `tag` (the node is unlinked,
/// and nobody touches it any more).
#[must_use = "the guard must live across the wait, and be disarmed after it"]
pub(crate) struct UnwindGuard<'a, F: FnOnce(Option<usize>)> {
    signal: &'a Signal,
    cleanup: Option<F>,
}

impl<'a, F: FnOnce(Option<usize>)> UnwindGuard<'a, F> {
    /// Arms a guard for a wait on `signal`, whose node is linked by now.
    #[inline]
    pub(crate) fn new(signal: &'a Signal, cleanup: F) -> Self {
        UnwindGuard {
            signal,
            cleanup: Some(cleanup),
        }
    }

    /// The wait ended normally: the caller deals with the outcome itself.
    #[inline]
    pub(crate) fn disarm(self) {
        // The cleanup only borrows: forgetting it leaks nothing.
        mem::forget(self);
    }
}

impl<F: FnOnce(Option<usize>)> Drop for UnwindGuard<'_, F> {
    #[cold]
    fn drop(&mut self) {
        let claimed = if self.signal.try_cancel() {
            None
        } else {
            Some(self.signal.wait_done_spinning())
        };
        if let Some(cleanup) = self.cleanup.take() {
            cleanup(claimed);
        }
    }
}
