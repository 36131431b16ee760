//! The short internal lock that guards a primitive's wait lists and buffer.
//!
//! Critical sections under it are a few dozen instructions and never block, so a waiter
//! spins instead of sleeping in the kernel: a futex sleep here would stall a whole worker,
//! and every fiber queued on it, for microseconds, to save nanoseconds. Spinning backs off
//! exponentially and then yields the thread, in case the holder's thread was preempted
//! (there may be more threads than cores). Under loom it is loom's `Mutex`, whose
//! interleavings loom explores.

#[cfg(loom)]
pub(crate) use crate::loom::{Mutex as SpinLock, MutexGuard as SpinGuard};

#[cfg(not(loom))]
pub(crate) use imp::{SpinGuard, SpinLock};

/// Takes `lock` (the same call with and without loom).
#[cfg(not(loom))]
#[inline]
pub(crate) fn lock<T>(lock: &SpinLock<T>) -> SpinGuard<'_, T> {
    lock.lock()
}

/// Takes `lock` (the same call with and without loom).
#[cfg(loom)]
pub(crate) fn lock<T>(lock: &SpinLock<T>) -> SpinGuard<'_, T> {
    super::lock_list(lock)
}

#[cfg(not(loom))]
mod imp {
    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Test-and-test-and-set lock with backoff (see the module docs).
    pub(crate) struct SpinLock<T> {
        locked: AtomicBool,
        data: UnsafeCell<T>,
    }

    // SAFETY: the lock hands `&mut T` to one holder at a time, on any thread: T: Send.
    unsafe impl<T: Send> Sync for SpinLock<T> {}
    // SAFETY: as above.
    unsafe impl<T: Send> Send for SpinLock<T> {}

    /// Spins of `spin_loop` before a waiter yields its thread instead (doubling from 1).
    const SPIN_ROUNDS: u32 = 7;

    impl<T> SpinLock<T> {
        /// An unlocked lock around `data`.
        pub(crate) const fn new(data: T) -> Self {
            SpinLock {
                locked: AtomicBool::new(false),
                data: UnsafeCell::new(data),
            }
        }

        /// Takes the lock.
        #[inline]
        pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
            // Acquire: pairs with the release in `SpinGuard::drop` of the previous holder.
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                self.lock_contended();
            }
            SpinGuard { lock: self }
        }

        #[cold]
        fn lock_contended(&self) {
            let mut round = 0;
            loop {
                // Wait until it looks free before trying again, so waiters do not bounce
                // the cache line between cores while the holder works.
                while self.locked.load(Ordering::Relaxed) {
                    if round < SPIN_ROUNDS {
                        for _ in 0..1u32 << round {
                            std::hint::spin_loop();
                        }
                        round += 1;
                    } else {
                        std::thread::yield_now();
                    }
                }
                // Acquire: as in `lock`.
                if self
                    .locked
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }

    /// Holds a [`SpinLock`]; releases it when dropped.
    pub(crate) struct SpinGuard<'a, T> {
        lock: &'a SpinLock<T>,
    }

    impl<T> Deref for SpinGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            // SAFETY: the guard holds the lock.
            unsafe { &*self.lock.data.get() }
        }
    }

    impl<T> DerefMut for SpinGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: the guard holds the lock, and `&mut self` makes the borrow unique.
            unsafe { &mut *self.lock.data.get() }
        }
    }

    impl<T> Drop for SpinGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            // Release: pairs with the acquire of the next holder in `lock`.
            self.lock.locked.store(false, Ordering::Release);
        }
    }
}
