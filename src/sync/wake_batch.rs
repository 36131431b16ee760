//! A few wakers collected under a primitive's lock, to be woken after it is dropped.
//!
//! A notifier that ends several waits at once (`notify_all`, a batch of readers, many
//! permits) completes each signal under the lock but should not wake anyone while holding
//! it: woken threads would only block on that lock. The batch is a fixed array on the
//! notifier's stack (no allocation); when it fills up, the notifier drops its lock, wakes
//! the batch, and takes the lock again to carry on.

use super::signal::Waker;

/// How many wakers one batch holds before the notifier has to drop its lock.
const CAPACITY: usize = 16;

/// Wakers waiting to be woken; dropping the batch wakes whatever it still holds.
pub(crate) struct WakeBatch {
    wakers: [Option<Waker>; CAPACITY],
    len: usize,
    /// Whether the woken now hold what others wait for ([`Waker::wake_holder`]).
    holders: bool,
}

impl WakeBatch {
    /// An empty batch.
    #[inline]
    pub(crate) fn new() -> Self {
        WakeBatch {
            wakers: [const { None }; CAPACITY],
            len: 0,
            holders: false,
        }
    }

    /// An empty batch for waiters granted what others wait for (a lock, permits): they
    /// are woken with [`Waker::wake_holder`].
    #[inline]
    pub(crate) fn for_holders() -> Self {
        let mut batch = Self::new();
        batch.holders = true;
        batch
    }

    /// Whether another waker would not fit.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == CAPACITY
    }

    /// Adds a waker.
    ///
    /// # Panics
    /// If the batch is full (callers check [`WakeBatch::is_full`] first).
    #[inline]
    pub(crate) fn push(&mut self, waker: Waker) {
        assert!(
            !self.is_full(),
            "fibra: internal error: wake batch overflow"
        );
        self.wakers[self.len] = Some(waker);
        self.len += 1;
    }

    /// Wakes every waker in the batch and empties it.
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        for slot in &mut self.wakers[..self.len] {
            if let Some(waker) = slot.take() {
                if self.holders {
                    waker.wake_holder();
                } else {
                    waker.wake();
                }
            }
        }
        self.len = 0;
    }
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        // A waker must never be lost, even if the notifier unwinds.
        self.wake_all();
    }
}
