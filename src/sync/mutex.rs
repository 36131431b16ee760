//! [`Mutex`]: mutual exclusion for fibers and threads.

use super::raw_mutex::RawMutex;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// A mutual-exclusion lock that suspends a waiting fiber (its worker runs other fibers) or
/// parks a waiting thread; fibers and threads may wait on the same lock.
///
/// There is no poisoning: a panic while the lock is held releases it. Waiters are woken
/// oldest first; a woken waiter competes with newcomers for the lock, until one has
/// waited over a millisecond, which then gets the lock handed over (so none starves).
///
/// ```
/// use fibra::sync::Mutex;
/// use std::sync::Arc;
///
/// let counter = Arc::new(Mutex::new(0));
/// fibra::run(|| {
///     let handles: Vec<_> = (0..4)
///         .map(|_| {
///             let counter = counter.clone();
///             fibra::spawn(move || *counter.lock() += 1)
///         })
///         .collect();
///     handles.into_iter().for_each(|h| h.join().unwrap());
/// });
/// // Plain threads may take the same lock.
/// std::thread::spawn({
///     let counter = counter.clone();
///     move || *counter.lock() += 1
/// })
/// .join()
/// .unwrap();
/// assert_eq!(*counter.lock(), 5);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands `&mut T` to one holder at a time, on any thread: T: Send.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// An unlocked mutex holding `value` (not `const` under loom, whose locks are not).
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Takes the lock, waiting as long as it takes.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        MutexGuard::new(self)
    }

    /// Takes the lock if it is free.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then(|| MutexGuard::new(self))
    }

    /// Takes the lock, or gives up after `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.raw
            .lock_deadline(super::signal::deadline_after(timeout))
            .then(|| MutexGuard::new(self))
    }

    /// Takes the lock, or gives up at `deadline`.
    pub fn lock_deadline(&self, deadline: std::time::Instant) -> Option<MutexGuard<'_, T>> {
        self.raw
            .lock_deadline(super::signal::deadline_at(deadline))
            .then(|| MutexGuard::new(self))
    }

    /// Whether the lock is held by someone (a hint: it may change at once).
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// The value, through a unique borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Holds a [`Mutex`] locked; unlocks it when dropped. Not `Send`, like std's guard.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard gives out `&T` only: T: Sync.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    #[inline]
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard {
            mutex,
            _not_send: PhantomData,
        }
    }

    /// The lock this guard holds (for [`Condvar`](super::Condvar)).
    pub(crate) fn raw(&self) -> &'a RawMutex {
        &self.mutex.raw
    }

    /// Unlocks the mutex, runs `f`, locks the mutex again and returns a new guard (for
    /// [`Condvar`](super::Condvar), which sleeps in `f`).
    ///
    /// If `f` unwinds (a fiber unwound out of its condvar wait because its runtime shut
    /// down), the mutex is left unlocked and no guard remains: it is neither locked again
    /// (which could block the unwinding, even hang a shutdown waiting for a holder that is
    /// itself a fiber waiting to be unwound) nor unlocked a second time.
    pub(crate) fn unlocked<R>(self, f: impl FnOnce() -> R) -> (Self, R) {
        let mutex = self.mutex;
        // The lock is released below, not by the guard.
        std::mem::forget(self);
        // SAFETY: the guard we consumed held the lock, and no guard is left to unlock it.
        unsafe { mutex.raw.unlock() };
        let r = f();
        mutex.raw.lock();
        (MutexGuard::new(mutex), r)
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this borrow unique.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock.
        unsafe { self.mutex.raw.unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// A guard cannot leave its thread (fibers never migrate once started, so a guard held
/// across a suspension stays put too):
///
/// ```compile_fail
/// let m = fibra::sync::Mutex::new(0);
/// let g = m.lock();
/// std::thread::scope(|s| { s.spawn(move || drop(g)); });
/// ```
#[allow(dead_code)]
fn guard_is_not_send() {}
