//! Fiber-aware synchronisation: each primitive suspends a waiting fiber (its worker runs
//! other fibers meanwhile) and parks a waiting plain thread, with both kinds of waiter
//! mixed on one object.
//!
//! How waiting works, in every primitive: a waiter puts a `signal::Signal` and a
//! `wait_list::Node` on its own stack, links the node into the primitive's wait list
//! under the primitive's lock, and sleeps. Whoever ends the wait (a notifier, or the
//! waiter's own deadline) wins the signal with one CAS; the loser backs out. A waiter
//! unwound out of its wait (its runtime shut down) backs out the same way, and gives back
//! whatever a notifier had already granted it (`unwind_guard`).

// Parts of the wait machinery are used only by primitives still being written.
#[allow(dead_code)]
pub(crate) mod signal;
pub(crate) mod spin_lock;
mod unwind_guard;
#[allow(dead_code)]
pub(crate) mod wait_list;

mod condvar;
mod mutex;
pub(crate) mod raw_mutex;
mod raw_rwlock;
mod rwlock;
mod semaphore;
mod wake_batch;

mod barrier;
mod event;
mod once_cell;
mod wait_group;
mod wake_all;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use event::Event;
pub use mutex::{Mutex, MutexGuard};
pub use once_cell::OnceCell;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use wait_group::WaitGroup;

/// Locks a primitive's internal wait-list lock. Nothing panics while it is held, so
/// poisoning cannot happen; if it somehow did, the state is still consistent.
#[inline]
pub(crate) fn lock_list<T>(lock: &crate::loom::Mutex<T>) -> crate::loom::MutexGuard<'_, T> {
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs a loom model of a sync primitive with at most `preemptions` forced preemptions
/// per execution (the parking protocols' bugs show within two or three; unbounded runs
/// of three-thread models take hours). `LOOM_MAX_PREEMPTIONS` overrides it.
#[cfg(all(test, loom))]
pub(crate) fn loom_model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    builder.check(f);
}
