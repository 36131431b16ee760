//! [`Semaphore`]: a count of permits, handed out first come, first served.
//!
//! State word: `permits << PERMIT_SHIFT`, plus `QUEUED` while the wait list is not empty.
//! Without waiters, acquiring is one CAS taking permits off the word and releasing one CAS
//! putting them back. While `QUEUED` is set nobody takes permits without the list lock:
//! acquirers queue behind the waiters (so a big request at the front is not overtaken by
//! small ones), and releasers add their permits under the lock and hand them out to the
//! front of the queue, as far as they go.
//!
//! `QUEUED` is set and cleared only under the list lock, by a waiter that found too few
//! permits (one CAS both reads the count and sets the bit, so a releaser either made the
//! permits visible to that CAS or sees the bit), and by whoever empties the list.

use super::signal::{Deadline, Signal, TIMED_OUT, deadline_after};
use super::unwind_guard::UnwindGuard;
use super::wait_list::{Node, WaitList};
use super::wake_batch::WakeBatch;
use crate::loom::{AtomicUsize, Mutex as ListLock, MutexGuard as ListGuard, Ordering};
use std::fmt;
use std::time::Duration;

const QUEUED: usize = 1;
const PERMIT_SHIFT: u32 = 1;

/// The tag a waiter is claimed with once its permits are taken for it.
const ACQUIRED: usize = 1;

/// A semaphore: acquirers take permits from a count and give them back when done, and
/// wait, first come first served, while too few are left. A waiting fiber suspends (its
/// worker runs other fibers), a waiting thread parks; both may wait on one semaphore.
///
/// Waiters are served strictly in order: while one waits for more permits than are
/// available, later requests wait behind it even if they are smaller, and
/// [`Semaphore::try_acquire`] fails.
///
/// ```
/// use fibra::sync::Semaphore;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// fibra::run(|| {
///     // At most two fibers inside at once.
///     let sem = Arc::new(Semaphore::new(2));
///     let inside = Arc::new(AtomicUsize::new(0));
///     let handles: Vec<_> = (0..8)
///         .map(|_| {
///             let (sem, inside) = (sem.clone(), inside.clone());
///             fibra::spawn(move || {
///                 let _permit = sem.acquire();
///                 assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
///                 fibra::yield_now();
///                 inside.fetch_sub(1, Ordering::SeqCst);
///             })
///         })
///         .collect();
///     handles.into_iter().for_each(|h| h.join().unwrap());
///     assert_eq!(sem.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    state: AtomicUsize,
    /// The waiters, oldest first; a node's data is the number of permits it asks for.
    waiters: ListLock<WaitList<usize>>,
}

impl Semaphore {
    /// The most permits a semaphore can hold (a quarter of the address space's size, so
    /// that the count never wraps).
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore holding `permits` permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    #[cfg(not(loom))]
    #[must_use]
    pub const fn new(permits: usize) -> Self {
        assert!(
            permits <= Self::MAX_PERMITS,
            "fibra: a Semaphore holds at most Semaphore::MAX_PERMITS permits"
        );
        Semaphore {
            state: AtomicUsize::new(permits << PERMIT_SHIFT),
            waiters: ListLock::new(WaitList::new()),
        }
    }

    /// A semaphore holding `permits` permits (not `const` under loom, whose locks are not).
    #[cfg(loom)]
    #[must_use]
    pub fn new(permits: usize) -> Self {
        assert!(permits <= Self::MAX_PERMITS);
        Semaphore {
            state: AtomicUsize::new(permits << PERMIT_SHIFT),
            waiters: ListLock::new(WaitList::new()),
        }
    }

    /// Takes one permit, waiting as long as it takes.
    #[inline]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.acquire_many(1)
    }

    /// Takes `n` permits at once, waiting as long as it takes.
    ///
    /// # Panics
    /// If `n` exceeds [`Semaphore::MAX_PERMITS`] (it could never be granted).
    #[inline]
    pub fn acquire_many(&self, n: usize) -> SemaphorePermit<'_> {
        if !self.try_take(n) {
            self.acquire_slow(n, None);
        }
        SemaphorePermit::new(self, n)
    }

    /// Takes one permit if one is available and nobody is waiting.
    #[inline]
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if that many are available and nobody is waiting.
    #[inline]
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphorePermit<'_>> {
        self.try_take(n).then(|| SemaphorePermit::new(self, n))
    }

    /// Takes one permit, or gives up after `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.acquire_many_timeout(1, timeout)
    }

    /// Takes `n` permits at once, or gives up after `timeout`. A request that gives up
    /// leaves its place in the queue to the waiters behind it.
    ///
    /// # Panics
    /// As [`Semaphore::acquire_many`].
    pub fn acquire_many_timeout(&self, n: usize, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        (self.try_take(n) || self.acquire_slow(n, deadline_after(timeout)))
            .then(|| SemaphorePermit::new(self, n))
    }

    /// Adds `n` permits, waking waiters they satisfy.
    ///
    /// # Panics
    /// If the semaphore would hold more than [`Semaphore::MAX_PERMITS`] permits.
    #[inline]
    pub fn add_permits(&self, n: usize) {
        self.release(n);
    }

    /// How many permits are available now (a hint: it may change at once). Permits may be
    /// available while requests for more wait.
    pub fn available_permits(&self) -> usize {
        self.state.load(Ordering::Relaxed) >> PERMIT_SHIFT
    }

    /// Takes `n` permits if nobody waits and that many are there.
    #[inline]
    fn try_take(&self, n: usize) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & QUEUED == 0 && s >> PERMIT_SHIFT >= n {
            // Acquire: pairs with the release of the permits (in `release`), so what their
            // last holder did happens before what we do with them.
            match self.state.compare_exchange_weak(
                s,
                s - (n << PERMIT_SHIFT),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Gives back `n` permits.
    #[inline]
    fn release(&self, n: usize) {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & QUEUED == 0 {
            let Some(added) = with_more_permits(s, n) else {
                permits_overflow();
            };
            // Release: pairs with the acquire of whoever takes these permits next.
            match self
                .state
                .compare_exchange_weak(s, added, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
        self.release_slow(n);
    }

    /// Waits for `n` permits until `deadline`; returns whether it got them.
    #[cold]
    fn acquire_slow(&self, n: usize, deadline: Deadline) -> bool {
        assert!(
            n <= Self::MAX_PERMITS,
            "fibra: a Semaphore cannot grant more than Semaphore::MAX_PERMITS permits at once"
        );
        let signal = Signal::new();
        let node = Node::new(&signal, ACQUIRED, n);
        if !self.enqueue(&node) {
            return true; // the permits were there after all
        }
        let guard = UnwindGuard::new(&signal, |claimed| match claimed {
            None => self.remove_timed_out(&node),
            // The permits were taken for us: give them back (to the queue, if it waits).
            Some(_) => self.release(n),
        });
        let tag = signal.wait_deadline(deadline);
        guard.disarm();
        match tag {
            ACQUIRED => true,
            tag => {
                debug_assert_eq!(tag, TIMED_OUT);
                self.remove_timed_out(&node);
                false
            }
        }
    }

    /// Links `node` and sets QUEUED, unless nobody waits and its permits are there: then it
    /// takes them and returns false.
    fn enqueue(&self, node: &Node<usize>) -> bool {
        let n = node.data();
        let mut list = super::lock_list(&self.waiters);
        let mut s = self.state.load(Ordering::Relaxed);
        while s & QUEUED == 0 {
            let (next, success) = if s >> PERMIT_SHIFT >= n {
                // Acquire: as in `try_take`.
                (s - (n << PERMIT_SHIFT), Ordering::Acquire)
            } else {
                // Relaxed: the bit carries no data; a releaser that misses it made its
                // permits visible to this CAS instead (it fails and we look again).
                (s | QUEUED, Ordering::Relaxed)
            };
            match self
                .state
                .compare_exchange_weak(s, next, success, Ordering::Relaxed)
            {
                Ok(_) if next & QUEUED == 0 => return false,
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        // SAFETY: the node lives in `acquire_slow`'s frame, which does not end before the
        // node is popped by a releaser or removed by `remove_timed_out` (on timeout, or
        // from the `UnwindGuard` if the wait unwinds).
        unsafe { list.push_back(node) };
        true
    }

    /// After winning our own signal on timeout: unlink our node if nobody did, and let the
    /// waiters behind it have the permits it was waiting for.
    #[cold]
    fn remove_timed_out(&self, node: &Node<usize>) {
        let mut list = super::lock_list(&self.waiters);
        // SAFETY: our node, alive; if linked, it is in this list.
        unsafe { list.remove(node) };
        self.hand_out(list);
    }

    /// Adds `n` permits while waiters may be queued, and hands them out.
    #[cold]
    fn release_slow(&self, n: usize) {
        let list = super::lock_list(&self.waiters);
        // A CAS loop: if the list emptied meanwhile, fast acquirers may be taking permits.
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let Some(added) = with_more_permits(s, n) else {
                drop(list);
                permits_overflow();
            };
            // Release: as in `release`.
            match self
                .state
                .compare_exchange_weak(s, added, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        self.hand_out(list);
    }

    /// Gives the available permits to the waiters at the front of the queue, in order, as
    /// long as they suffice; clears QUEUED if the queue empties. Wakes the served waiters
    /// after dropping the list lock.
    fn hand_out<'a>(&'a self, mut list: ListGuard<'a, WaitList<usize>>) {
        let mut batch = WakeBatch::for_holders();
        loop {
            let Some(front) = list.front() else {
                // Relaxed: QUEUED carries no data (see `enqueue`).
                self.state.fetch_and(!QUEUED, Ordering::Relaxed);
                break;
            };
            // SAFETY: a linked node is alive.
            let need = unsafe { front.as_ref() }.data();
            // Acquire: pairs with the release of the permits we pass on (`release`,
            // `release_slow`), so their last holders' writes reach the waiter through us.
            if self.state.load(Ordering::Acquire) >> PERMIT_SHIFT < need {
                break;
            }
            list.pop_front();
            // SAFETY: just unlinked and not completed, so its waiter still waits on the
            // signal or is about to take our lock to back out: alive.
            let node = unsafe { front.as_ref() };
            // SAFETY: as above.
            if unsafe { node.try_claim() } {
                // Relaxed: the list is not empty, so QUEUED is set and only holders of the
                // list lock take permits: the count checked above is still there.
                self.state
                    .fetch_sub(need << PERMIT_SHIFT, Ordering::Relaxed);
                // SAFETY: we won the claim just now and complete it once.
                batch.push(unsafe { node.signal().complete() });
                if batch.is_full() {
                    drop(list);
                    batch.wake_all();
                    list = super::lock_list(&self.waiters);
                }
            }
        }
        drop(list);
        batch.wake_all();
    }
}

/// The state word `s` with `n` more permits, or None past [`Semaphore::MAX_PERMITS`].
#[inline]
fn with_more_permits(s: usize, n: usize) -> Option<usize> {
    let permits = (s >> PERMIT_SHIFT)
        .checked_add(n)
        .filter(|&p| p <= Semaphore::MAX_PERMITS)?;
    Some(permits << PERMIT_SHIFT | s & QUEUED)
}

#[cold]
#[track_caller]
fn permits_overflow() -> ! {
    panic!("fibra: a Semaphore would hold more than Semaphore::MAX_PERMITS permits");
}

impl Default for Semaphore {
    /// A semaphore with no permits.
    fn default() -> Self {
        Semaphore::new(0)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish_non_exhaustive()
    }
}

/// Permits taken from a [`Semaphore`]; they go back to it when this is dropped, unless
/// [`SemaphorePermit::forget`] keeps them consumed.
#[must_use = "the permits are given back as soon as the permit is dropped"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
    permits: usize,
}

impl<'a> SemaphorePermit<'a> {
    #[inline]
    fn new(semaphore: &'a Semaphore, permits: usize) -> Self {
        SemaphorePermit { semaphore, permits }
    }

    /// How many permits this holds.
    #[must_use]
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Keeps the permits consumed: they are not given back (see
    /// [`Semaphore::add_permits`] to add some later).
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.permits != 0 {
            self.semaphore.release(self.permits);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// The state word with no waiter queued, checked under the list lock.
    fn clean_permits(sem: &Semaphore) -> Option<usize> {
        let list = crate::sync::lock_list(&sem.waiters);
        let s = sem.state.load(Ordering::Relaxed);
        (list.is_empty() && s & QUEUED == 0).then_some(s >> PERMIT_SHIFT)
    }

    /// `add_permits` races an acquire whose deadline has passed (under loom it queues,
    /// then cancels): the permit is taken at most once and comes back, and a cancelled
    /// waiter leaves neither its node nor QUEUED behind.
    #[test]
    fn loom_semaphore_add_permits_races_timeout() {
        crate::sync::loom_model(3, || {
            let sem = Arc::new(Semaphore::new(0));
            let waiter = {
                let sem = sem.clone();
                loom::thread::spawn(move || sem.acquire_timeout(Duration::ZERO).is_some())
            };
            sem.add_permits(1);
            waiter.join().unwrap();
            assert_eq!(clean_permits(&sem), Some(1), "state left dirty");
        });
    }

    /// A big timed request at the front of the queue blocks a small untimed one behind it
    /// (FIFO); when it gives up, the permits it waited for must reach the small one, or
    /// loom reports the small one deadlocked.
    #[test]
    fn loom_semaphore_cancelled_front_passes_permits_on() {
        crate::sync::loom_model(3, || {
            let sem = Arc::new(Semaphore::new(0));
            let big = {
                let sem = sem.clone();
                loom::thread::spawn(move || {
                    assert!(sem.acquire_many_timeout(2, Duration::ZERO).is_none());
                })
            };
            let small = {
                let sem = sem.clone();
                loom::thread::spawn(move || drop(sem.acquire()))
            };
            sem.add_permits(1);
            big.join().unwrap();
            small.join().unwrap();
            assert_eq!(clean_permits(&sem), Some(1), "state left dirty");
        });
    }
}
