//! [`WaitGroup`]: waiting for a counter of outstanding jobs to drop to zero (Go's
//! `sync.WaitGroup`).
//!
//! State word: `count << 1 | WAITERS`. WAITERS is set only with the list's lock held,
//! by a waiter about to queue while the count is non-zero.
//!
//! The count reaching zero (a lock-free `fetch_sub`) may leave `WAITERS` with a zero
//! count: a release is pending, which the zero-reacher carries out under the lock. Raising
//! the count from that state is done only under the lock too, releasing the queued waiters
//! first (`add_slow`). So while the lock is held, a word of exactly `WAITERS` means every
//! queued waiter saw the count at zero since it queued, and releasing them all is right;
//! a waiter that queues after the group was reused is never released by an old zero.

use super::signal::{Deadline, Signal, TIMED_OUT};
use super::unwind_guard::UnwindGuard;
use super::wait_list::{Node, WaitList};
use super::wake_all::{Chained, Released};
use crate::loom::{Arc, AtomicUsize, Mutex as ListLock, Ordering, fence};
use std::fmt;
use std::time::Duration;

const WAITERS: usize = 1;
const ONE: usize = 2;
/// The largest count (and `add` argument) the word holds.
const MAX_COUNT: usize = usize::MAX / ONE;

/// A counter of outstanding jobs that fibers and threads wait on until it drops to zero,
/// with Go's semantics: [`add`](WaitGroup::add) before starting jobs,
/// [`done`](WaitGroup::done) as each finishes, [`wait`](WaitGroup::wait) for all of them.
///
/// Clones share the counter. Waiting does not consume the group, and a group may be
/// reused once its count is back at zero (add again). A wait is released once the count
/// is zero: a wait that starts at zero returns at once. Calling `done` more times than
/// `add` panics.
///
/// Everything a job did before its `done` is visible to the waiters that the count's
/// drop to zero releases. `done` costs one atomic operation, also when it brings the
/// count to zero with nobody waiting; only a waiter makes the last `done` take a lock.
///
/// ```
/// use fibra::sync::WaitGroup;
///
/// let wg = WaitGroup::new();
/// fibra::run(|| {
///     for _ in 0..100 {
///         wg.add(1);
///         let wg = wg.clone();
///         fibra::spawn(move || {
///             // ... the job ...
///             wg.done();
///         });
///     }
///     wg.wait();
/// });
/// assert_eq!(wg.count(), 0);
/// ```
#[derive(Clone)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

struct Inner {
    state: AtomicUsize,
    waiters: ListLock<WaitList<Chained>>,
}

impl Default for WaitGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitGroup {
    /// A group with a count of zero.
    pub fn new() -> Self {
        WaitGroup {
            inner: Arc::new(Inner {
                state: AtomicUsize::new(0),
                waiters: ListLock::new(WaitList::new()),
            }),
        }
    }

    /// Adds `n` outstanding jobs.
    ///
    /// # Panics
    /// If the count would overflow.
    #[inline]
    pub fn add(&self, n: usize) {
        if n == 0 {
            return;
        }
        if n > MAX_COUNT {
            count_overflow();
        }
        let delta = n * ONE;
        let state = &self.inner.state;
        let mut s = state.load(Ordering::Relaxed);
        loop {
            if s == WAITERS {
                // Zero with a release pending: only under the lock (see the module docs).
                return self.add_slow(delta);
            }
            let new = s.checked_add(delta).unwrap_or_else(|| count_overflow());
            // Relaxed: adding publishes nothing; jobs publish through `done`.
            match state.compare_exchange_weak(s, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    /// Marks one job as finished; releases the waiters if it was the last.
    ///
    /// # Panics
    /// If the count is already zero (`done` called more times than `add`).
    #[inline]
    pub fn done(&self) {
        // Release: pairs with the acquire of whoever sees the count at zero (a waiter's
        // load, or the fence of whoever releases the queued waiters); the later `done`s'
        // read-modify-writes carry it on (release sequence).
        let prev = self.inner.state.fetch_sub(ONE, Ordering::Release);
        // Still counting, or down to zero with nobody waiting: done.
        if prev >= 2 * ONE || prev == ONE {
            return;
        }
        self.done_slow(prev);
    }

    /// The number of outstanding jobs (a hint: it may change at once).
    #[inline]
    pub fn count(&self) -> usize {
        // Acquire: as in `is_zero`, so a zero count read here also publishes the jobs.
        self.inner.state.load(Ordering::Acquire) / ONE
    }

    /// Waits until the count is zero.
    #[inline]
    pub fn wait(&self) {
        if !self.is_zero() {
            self.wait_slow(None);
        }
    }

    /// Waits until the count is zero, or until `timeout` passes. Returns whether the
    /// count reached zero.
    #[inline]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.is_zero() || self.wait_slow(super::signal::deadline_after(timeout))
    }

    #[inline]
    fn is_zero(&self) -> bool {
        // Acquire: pairs with the release of every `done` (see `done`).
        self.inner.state.load(Ordering::Acquire) < ONE
    }

    #[cold]
    fn done_slow(&self, prev: usize) {
        let state = &self.inner.state;
        if prev < ONE {
            // Undo, so the group stays usable by whoever catches the panic.
            state.fetch_add(ONE, Ordering::Relaxed);
            panic!("fibra: WaitGroup::done called more times than add (the count is zero)");
        }
        debug_assert_eq!(prev, ONE | WAITERS);
        // Acquire: pairs with the release of every earlier `done`, whose jobs the waiters
        // we release must see (through their signals).
        fence(Ordering::Acquire);
        let mut list = super::lock_list(&self.inner.waiters);
        // Someone else (`add_slow`, or a timed-out last waiter) may have handled it.
        if state.load(Ordering::Relaxed) != WAITERS {
            return;
        }
        let released = Released::claim_all(&mut list);
        // A read-modify-write, not a store: outside the lock, a misused `done` may still
        // take the word below zero and put it back meanwhile (`add` waits for the lock).
        state.fetch_and(!WAITERS, Ordering::Relaxed);
        drop(list);
        released.wake_all();
    }

    /// `add` of `delta` (already scaled) to a zero count with a release pending.
    #[cold]
    fn add_slow(&self, delta: usize) {
        let state = &self.inner.state;
        let mut list = super::lock_list(&self.inner.waiters);
        // Acquire: as the fence in `done_slow`, should we be the one to release.
        let released =
            (state.load(Ordering::Acquire) == WAITERS).then(|| Released::claim_all(&mut list));
        let mut s = state.load(Ordering::Relaxed);
        let overflowed = loop {
            let base = if list.is_empty() { s & !WAITERS } else { s };
            let Some(new) = base.checked_add(delta) else {
                break true;
            };
            // Relaxed: as in `add`.
            match state.compare_exchange_weak(s, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break false,
                Err(now) => s = now,
            }
        };
        drop(list);
        if let Some(released) = released {
            released.wake_all();
        }
        if overflowed {
            count_overflow();
        }
    }

    #[cold]
    fn wait_slow(&self, deadline: Deadline) -> bool {
        let signal = Signal::new();
        let node = Node::new(&signal, 0, Chained::END);
        if !self.enqueue(&node) {
            return true; // reached zero meanwhile
        }
        // A release granted nothing to give back; a cancelled wait backs out.
        let guard = UnwindGuard::new(&signal, |claimed| {
            if claimed.is_none() {
                self.remove_timed_out(&node);
            }
        });
        let tag = signal.wait_deadline(deadline);
        guard.disarm();
        if tag != TIMED_OUT {
            return true; // released at zero
        }
        self.remove_timed_out(&node);
        self.is_zero()
    }

    /// Links `node` and sets WAITERS, unless the count is zero (returns false then).
    fn enqueue(&self, node: &Node<Chained>) -> bool {
        let state = &self.inner.state;
        let mut list = super::lock_list(&self.inner.waiters);
        // Acquire: as in `is_zero`, for the early return.
        let mut s = state.load(Ordering::Acquire);
        loop {
            if s < ONE {
                return false;
            }
            if s & WAITERS != 0 {
                break;
            }
            // Acquire on failure: as above. Relaxed success: WAITERS only tells the last
            // `done` to take the lock, which orders the rest.
            match state.compare_exchange_weak(s, s | WAITERS, Ordering::Relaxed, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        // SAFETY: the node stays on our stack until it is popped, or removed by
        // `remove_timed_out` (on timeout, or from the `UnwindGuard` if the wait unwinds)
        // before the frame ends.
        unsafe { list.push_back(node) };
        true
    }

    /// After winning our own signal on timeout: unlink our node, and clear WAITERS if we
    /// were the last waiter (a pending release then has nobody left to release).
    #[cold]
    fn remove_timed_out(&self, node: &Node<Chained>) {
        let mut list = super::lock_list(&self.inner.waiters);
        // SAFETY: our node, alive; it is in this list if linked.
        unsafe { list.remove(node) };
        if list.is_empty() {
            self.inner.state.fetch_and(!WAITERS, Ordering::Relaxed);
        }
    }
}

#[cold]
fn count_overflow() -> ! {
    panic!("fibra: WaitGroup::add overflowed the count");
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    fn state(wg: &WaitGroup) -> usize {
        wg.inner.state.load(Ordering::Relaxed)
    }

    /// The last `done` races an untimed waiter arriving (no lost wake-up) and a timed one
    /// backing out; the word ends clean.
    #[test]
    fn loom_wait_group_done_to_zero_vs_new_waiter() {
        crate::sync::loom_model(3, || {
            let wg = WaitGroup::new();
            wg.add(1);
            let job = {
                let wg = wg.clone();
                thread::spawn(move || wg.done())
            };
            let timed = {
                let wg = wg.clone();
                thread::spawn(move || wg.wait_timeout(Duration::ZERO))
            };
            wg.wait();
            job.join().unwrap();
            timed.join().unwrap();
            assert_eq!(state(&wg), 0, "word left dirty");
        });
    }

    /// A waiter queues, the count drops to zero, and the group is reused (add again)
    /// while the release may still be pending: the old waiter is released, and a wait
    /// that starts after the reuse is not released by the old zero.
    #[test]
    fn loom_wait_group_reuse_does_not_release_new_waiters() {
        crate::sync::loom_model(3, || {
            let wg = WaitGroup::new();
            wg.add(1);
            let old_waiter = {
                let wg = wg.clone();
                thread::spawn(move || wg.wait())
            };
            while state(&wg) & WAITERS == 0 {
                thread::yield_now();
            }
            let job = {
                let wg = wg.clone();
                thread::spawn(move || wg.done())
            };
            while wg.count() != 0 {
                thread::yield_now();
            }
            wg.add(1);
            assert!(
                !wg.wait_timeout(Duration::ZERO),
                "a wait after the reuse was released by the old zero"
            );
            old_waiter.join().unwrap();
            job.join().unwrap();
            assert_eq!(state(&wg), ONE, "word left dirty");
        });
    }
}
