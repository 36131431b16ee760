//! [`Condvar`]: waiting for a condition guarded by a [`Mutex`](super::Mutex).
//!
//! A waiter links its node into the condvar's list while it still holds the mutex, and
//! only then unlocks it: a notifier that changed the condition under the mutex after the
//! waiter checked it finds the node, so no notification is lost. A notification is not
//! stored, though: `notify_*` with nobody waiting does nothing, as with std's condvar.
//!
//! A notifier wins a waiter's signal with one CAS; a waiter whose deadline passes races
//! for the same signal. If the waiter wins, the notifier drops its node and moves on to
//! the next waiter (a `notify_one` racing a timeout still wakes someone if anyone else is
//! waiting); the waiter then unlinks its node itself, if still linked, under the list lock.
//!
//! A waiter unwound out of its wait (its fiber's runtime shut down) backs out the same
//! way; a notification that had already reached it is passed on with `notify_one`. It
//! does not lock the mutex again while unwinding: the guard it gave to `wait` is gone (no
//! guard drop unlocks the mutex either), and the mutex stays as it was during the wait,
//! unlocked. Re-locking would make the unwinding wait for the mutex, which can hang a
//! shutdown: its holder may be another fiber of the same worker, waiting its turn to be
//! unwound. The data behind the mutex is exactly as the last holder left it.

use super::mutex::MutexGuard;
use super::raw_mutex::RawMutex;
use super::signal::{Deadline, Signal, TIMED_OUT, deadline_after};
use super::unwind_guard::UnwindGuard;
use super::wait_list::{Node, WaitList};
use super::wake_batch::WakeBatch;
use crate::loom::{AtomicBool, Mutex as ListLock, Ordering};
use std::fmt;
use std::time::Duration;

/// The tag a notifier claims a waiter with.
const NOTIFIED: usize = 1;

/// Everything the condvar's list lock protects.
struct Waiters {
    /// The waiters, oldest first; a node's data is its arrival number.
    list: WaitList<u64>,
    /// Address of the mutex the queued waiters hold (meaningful while `list` is not
    /// empty). Only ever compared, never dereferenced.
    mutex: usize,
    /// The arrival number of the next waiter.
    next_arrival: u64,
}

/// A condition variable: fibers and threads wait on it, holding a
/// [`Mutex`](super::Mutex), until another notifies them. A waiting fiber suspends (its
/// worker runs other fibers); a waiting thread parks; both may wait on one condvar.
///
/// As with every condition variable, a wake-up may be spurious: wait in a loop that
/// re-checks the condition, or use [`Condvar::wait_while`]. Notifications are not stored:
/// one sent while nobody waits is lost, which is harmless when the condition itself is
/// changed under the mutex before notifying.
///
/// All waiters that are queued at the same time must use the same mutex; waiting with
/// a different one panics (`fibra: a Condvar was waited on with two different mutexes at
/// once`). Once nobody waits, the condvar may be used with another mutex.
///
/// A fiber unwound while it waits (its runtime shut down) leaves the mutex unlocked: it
/// does not lock it again on the way out (which could hang the shutdown), and a
/// notification that had already reached it is passed on to another waiter.
///
/// ```
/// use fibra::sync::{Condvar, Mutex};
/// use std::sync::Arc;
///
/// fibra::run(|| {
///     let pair = Arc::new((Mutex::new(false), Condvar::new()));
///     let pair2 = pair.clone();
///     let waiter = fibra::spawn(move || {
///         let (ready, cv) = &*pair2;
///         let ready = cv.wait_while(ready.lock(), |ready| !*ready);
///         assert!(*ready);
///     });
///     let (ready, cv) = &*pair;
///     *ready.lock() = true;
///     cv.notify_one();
///     waiter.join().unwrap();
/// });
/// ```
pub struct Condvar {
    /// Whether the list may be non-empty. Written under the list lock; read without it by
    /// notifiers, so that notifying nobody costs one load.
    has_waiters: AtomicBool,
    waiters: ListLock<Waiters>,
}

/// Whether a timed wait on a [`Condvar`] ended because its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait timed out: for [`Condvar::wait_timeout_while`], the condition still
    /// held when the time ran out.
    #[must_use]
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A condvar nobody waits on.
    #[cfg(not(loom))]
    #[must_use]
    pub const fn new() -> Self {
        Condvar {
            has_waiters: AtomicBool::new(false),
            waiters: ListLock::new(Waiters {
                list: WaitList::new(),
                mutex: 0,
                next_arrival: 0,
            }),
        }
    }

    /// A condvar nobody waits on (not `const` under loom, whose locks are not).
    #[cfg(loom)]
    #[must_use]
    pub fn new() -> Self {
        Condvar {
            has_waiters: AtomicBool::new(false),
            waiters: ListLock::new(Waiters {
                list: WaitList::new(),
                mutex: 0,
                next_arrival: 0,
            }),
        }
    }

    /// Unlocks the guard's mutex, waits until notified (or woken spuriously), and locks
    /// it again.
    ///
    /// # Panics
    /// If other waiters are queued with a different mutex.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_until(guard, None).0
    }

    /// Waits as long as `condition` returns true, checking it under the lock first and
    /// after each wake-up.
    ///
    /// # Panics
    /// As [`Condvar::wait`].
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait_until(guard, None).0;
        }
        guard
    }

    /// As [`Condvar::wait`], giving up once `timeout` has passed. The mutex is locked
    /// again in either case.
    ///
    /// # Panics
    /// As [`Condvar::wait`].
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let (guard, timed_out) = self.wait_until(guard, deadline_after(timeout));
        (guard, WaitTimeoutResult(timed_out))
    }

    /// As [`Condvar::wait_while`], giving up once `timeout` has passed; then the result
    /// says whether `condition` still held.
    ///
    /// # Panics
    /// As [`Condvar::wait`].
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult)
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = deadline_after(timeout);
        loop {
            if !condition(&mut *guard) {
                return (guard, WaitTimeoutResult(false));
            }
            let timed_out;
            (guard, timed_out) = self.wait_until(guard, deadline);
            if timed_out {
                let still = condition(&mut *guard);
                return (guard, WaitTimeoutResult(still));
            }
        }
    }

    /// Wakes one waiter, the one waiting longest, if any.
    #[inline]
    pub fn notify_one(&self) {
        // Relaxed: a waiter sets the flag before it unlocks the mutex, and a notifier that
        // must see it changed the condition under that mutex afterwards, so the mutex's
        // release/acquire orders the flag's store before this load.
        if self.has_waiters.load(Ordering::Relaxed) {
            self.notify_one_slow();
        }
    }

    /// Wakes every waiter queued when it is called.
    #[inline]
    pub fn notify_all(&self) {
        // Relaxed: as in `notify_one`.
        if self.has_waiters.load(Ordering::Relaxed) {
            self.notify_all_slow();
        }
    }

    /// Queues, unlocks, waits, and locks again; returns the guard and whether the deadline
    /// passed. If the wait unwinds, the node is unlinked (or a notification that reached
    /// it passed on) and the mutex is left unlocked (see the module docs).
    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Deadline,
    ) -> (MutexGuard<'a, T>, bool) {
        let signal = Signal::new();
        let node = Node::new(&signal, NOTIFIED, 0);
        self.enqueue(&node, guard.raw());
        guard.unlocked(|| {
            let unwind = UnwindGuard::new(&signal, |claimed| match claimed {
                None => self.remove_timed_out(&node),
                // Notified, but the notification will not be used: pass it on, so that a
                // `notify_one` still wakes a waiter that can act on it.
                Some(_) => self.notify_one(),
            });
            let tag = signal.wait_deadline(deadline);
            unwind.disarm();
            if tag == TIMED_OUT {
                self.remove_timed_out(&node);
                true
            } else {
                false
            }
        })
    }

    /// Links `node`, for a waiter holding `mutex`.
    fn enqueue(&self, node: &Node<u64>, mutex: &RawMutex) {
        let mutex = mutex as *const RawMutex as usize;
        let mut waiters = super::lock_list(&self.waiters);
        if !waiters.list.is_empty() && waiters.mutex != mutex {
            drop(waiters);
            panic!("fibra: a Condvar was waited on with two different mutexes at once");
        }
        waiters.mutex = mutex;
        node.set_data(waiters.next_arrival);
        waiters.next_arrival += 1;
        // SAFETY: the node lives in `wait_until`'s frame, which does not end before the
        // node is popped by a notifier or removed by `remove_timed_out` (on timeout, or
        // from the `UnwindGuard` if the wait unwinds).
        unsafe { waiters.list.push_back(node) };
        // Relaxed: see `notify_one`.
        self.has_waiters.store(true, Ordering::Relaxed);
    }

    /// After winning our own signal on timeout: unlink our node if no notifier did.
    #[cold]
    fn remove_timed_out(&self, node: &Node<u64>) {
        let mut waiters = super::lock_list(&self.waiters);
        // SAFETY: our node, alive; if linked, it is in this list.
        unsafe { waiters.list.remove(node) };
        self.note_if_empty(&waiters);
    }

    /// Clears `has_waiters` if the list is empty (called under the list lock).
    #[inline]
    fn note_if_empty(&self, waiters: &Waiters) {
        if waiters.list.is_empty() {
            // Relaxed: written under the list lock, like every write of the flag.
            self.has_waiters.store(false, Ordering::Relaxed);
        }
    }

    #[cold]
    fn notify_one_slow(&self) {
        let mut waiters = super::lock_list(&self.waiters);
        let claimed = waiters.list.pop_claimed();
        self.note_if_empty(&waiters);
        let Some(node) = claimed else {
            return; // only waiters that are timing out were queued
        };
        // SAFETY: we won the node's claim just now and complete it once; the node is not
        // touched after.
        let waker = unsafe { node.as_ref().signal().complete() };
        drop(waiters);
        waker.wake();
    }

    #[cold]
    fn notify_all_slow(&self) {
        let mut batch = WakeBatch::new();
        let mut waiters = super::lock_list(&self.waiters);
        // Only waiters that arrived before this call: one that is woken and waits again
        // queues past this bound, so the loop below cannot chase waiters forever.
        let end = waiters.next_arrival;
        while let Some(front) = waiters.list.front() {
            // SAFETY: a linked node is alive.
            if unsafe { front.as_ref() }.data() >= end {
                break;
            }
            waiters.list.pop_front();
            // SAFETY: just unlinked and not completed, so its waiter still waits on the
            // signal or is about to take our lock to back out: alive.
            let node = unsafe { front.as_ref() };
            // SAFETY: as above.
            if unsafe { node.try_claim() } {
                // SAFETY: we won the claim just now and complete it once.
                batch.push(unsafe { node.signal().complete() });
                if batch.is_full() {
                    drop(waiters);
                    batch.wake_all();
                    waiters = super::lock_list(&self.waiters);
                }
            }
        }
        self.note_if_empty(&waiters);
        drop(waiters);
        batch.wake_all();
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::Mutex;
    use loom::sync::Arc;

    fn is_clean(cv: &Condvar) -> bool {
        let waiters = crate::sync::lock_list(&cv.waiters);
        waiters.list.is_empty() && !cv.has_waiters.load(Ordering::Relaxed)
    }

    /// A timed waiter and an untimed one wait for a flag; the notifier sets it and calls
    /// `notify` (one or all), racing the timed waiter's cancel. The untimed waiter must
    /// always be woken: by the notification itself, or by the timed waiter passing it on
    /// if the notification reached it first.
    fn flag_with_timed_and_untimed_waiter(notify: fn(&Condvar)) {
        crate::sync::loom_model(3, move || {
            let shared = Arc::new((Mutex::new(false), Condvar::new()));
            let timed = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    let (ready, cv) = &*shared;
                    // Under loom the deadline has passed: it queues, then races to cancel.
                    let (ready, result) = cv.wait_timeout(ready.lock(), Duration::ZERO);
                    // Not timed out means notified, which happens only after the flag is set.
                    assert!(result.timed_out() || *ready, "woken without a notification");
                    if !result.timed_out() {
                        // It leaves without using the notification: passes it on, as a
                        // waiter with nothing to do must (a `notify_one` wakes one waiter).
                        drop(ready);
                        cv.notify_one();
                    }
                })
            };
            let untimed = {
                let shared = shared.clone();
                loom::thread::spawn(move || {
                    let (ready, cv) = &*shared;
                    drop(cv.wait_while(ready.lock(), |ready| !*ready));
                })
            };
            let (ready, cv) = &*shared;
            *ready.lock() = true;
            notify(cv);
            timed.join().unwrap();
            untimed.join().unwrap();
            assert!(is_clean(cv), "a node was left linked");
        });
    }

    /// `notify_one` races a timed wait queued ahead of an untimed one: whichever of the two
    /// the notification reaches, the untimed waiter is not left hanging (loom reports a
    /// deadlock if it is), and the condvar ends with no node linked.
    #[test]
    fn loom_condvar_notify_one_races_timeout() {
        flag_with_timed_and_untimed_waiter(Condvar::notify_one);
    }

    /// The same with `notify_all`, whose own loop over the list must skip the timed-out
    /// waiter's node too.
    #[test]
    fn loom_condvar_notify_all_races_timeout() {
        flag_with_timed_and_untimed_waiter(Condvar::notify_all);
    }
}
