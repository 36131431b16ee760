//! The one place fibra takes its atomics and locks from, so that `RUSTFLAGS="--cfg loom"`
//! swaps in loom's model-checked versions everywhere at once.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicUsize, Ordering, fence},
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicUsize, Ordering, fence},
};

// Thread parking for waiters that are plain threads (`sync::signal`).
#[cfg(loom)]
pub(crate) mod thread {
    pub(crate) use loom::thread::{Thread, current, park, yield_now};
}
#[cfg(not(loom))]
pub(crate) mod thread {
    pub(crate) use std::thread::{Thread, current, park, park_timeout, yield_now};
}

// Wider atomics, `Arc` and a checked cell for the run queue (`runtime::queue`).
#[cfg(loom)]
pub(crate) use loom::{
    cell::UnsafeCell,
    sync::{
        Arc,
        atomic::{AtomicU32, AtomicU64},
    },
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    Arc,
    atomic::{AtomicU32, AtomicU64},
};

// The condition variable the park driver sleeps on where it has no futex (`runtime::park`):
// non-Linux systems, loom, and the unit tests that exercise that fallback on Linux too.
#[cfg(loom)]
pub(crate) use loom::sync::Condvar;
#[cfg(all(
    not(loom),
    any(test, not(any(target_os = "linux", target_os = "android")))
))]
pub(crate) use std::sync::Condvar;

/// `std::cell::UnsafeCell` behind the closure API of `loom::cell::UnsafeCell`, so that code
/// written against it is checked for unsynchronised accesses under loom and costs nothing
/// otherwise.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// A cell holding `data`.
    pub(crate) const fn new(data: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(data))
    }

    /// Runs `f` with a pointer for reading the contents (loom records a read access).
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a pointer for writing the contents (loom records a write access).
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
