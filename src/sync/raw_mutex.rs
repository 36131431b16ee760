//! The lock word and wait queue behind [`Mutex`](super::Mutex) (and, through it,
//! [`Condvar`](super::Condvar)).
//!
//! State word: `LOCKED`, plus `PARKED` while the wait list may be non-empty. Locking
//! without contention is one CAS (0 -> LOCKED); unlocking one CAS (LOCKED -> 0). With
//! PARKED set, unlock takes the list's lock and wakes the oldest waiter. Normally the lock
//! is released first and the waiter competes for it with newcomers (barging: the lock
//! never sits idle while a woken fiber waits for its turn to run). Once the oldest waiter
//! has waited longer than [`FAIR_AFTER`] the lock is handed to it instead, still held,
//! so no waiter starves (Go's starvation mode; parking_lot's eventual fairness).
//!
//! PARKED is set and cleared only with the list's lock held, and a locker sets it only
//! while LOCKED is set (it re-reads the word under the list lock), so an unlocker that sees
//! PARKED finds a waiter, or a timed-out one about to clear the bit, behind that lock.

use super::signal::{Deadline, Signal, TIMED_OUT};
use super::unwind_guard::UnwindGuard;
use super::wait_list::{Node, WaitList};
use crate::loom::{AtomicUsize, Mutex as ListLock, Ordering};
#[cfg(not(loom))]
use std::time::{Duration, Instant};

const LOCKED: usize = 1;
const PARKED: usize = 2;

/// Wake-up tags: the lock was handed over (still held), or released for the waiter to
/// compete for.
const HANDED_OVER: usize = 1;
const RELEASED: usize = 2;

/// A waiter that has waited this long gets the lock handed over.
#[cfg(not(loom))]
const FAIR_AFTER: Duration = Duration::from_millis(1);

/// Rounds of exponential spinning (1, 2, 4, ... pause instructions) before queueing, while
/// nobody is queued: the holder is probably running on another worker and about to unlock.
/// None under loom (see `lock_slow`), where each spin would only multiply the
/// interleavings.
#[cfg(not(loom))]
const SPIN_ROUNDS: u32 = 4;

/// Rounds of spinning for a fiber whose worker has nothing else to run, even while others
/// are queued: parking it would put the whole worker to sleep, and waking a sleeping
/// worker costs microseconds, far more than the holder's critical section.
#[cfg(not(loom))]
const SPIN_ROUNDS_ALONE: u32 = 7;

/// When a waiter queued, to decide hand-over.
#[cfg(not(loom))]
#[derive(Clone, Copy)]
struct Queued(Instant);
#[cfg(not(loom))]
impl Queued {
    fn now() -> Self {
        Queued(Instant::now())
    }
}
/// Under loom time does not pass: the model picks the policy (`RawMutex::hand_over`).
#[cfg(loom)]
#[derive(Clone, Copy)]
struct Queued;
#[cfg(loom)]
impl Queued {
    fn now() -> Self {
        Queued
    }
}

/// A mutual-exclusion lock without data, for fibers and threads.
pub(crate) struct RawMutex {
    state: AtomicUsize,
    waiters: ListLock<WaitList<Queued>>,
    /// Under loom: whether every wake-up hands the lock over.
    #[cfg(loom)]
    hand_over: bool,
}

impl RawMutex {
    /// An unlocked mutex.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        RawMutex {
            state: AtomicUsize::new(0),
            waiters: ListLock::new(WaitList::new()),
        }
    }

    /// An unlocked mutex.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self::with_hand_over(false)
    }

    /// An unlocked mutex whose wake-ups all hand over (`true`) or all release.
    #[cfg(loom)]
    pub(crate) fn with_hand_over(hand_over: bool) -> Self {
        RawMutex {
            state: AtomicUsize::new(0),
            waiters: ListLock::new(WaitList::new()),
            hand_over,
        }
    }

    /// Whether a waiter queued at `queued` gets the lock handed over.
    #[cfg(loom)]
    fn waited_long(&self, _queued: Queued) -> bool {
        self.hand_over
    }

    /// Whether a waiter queued at `queued` gets the lock handed over.
    #[cfg(not(loom))]
    fn waited_long(&self, queued: Queued) -> bool {
        queued.0.elapsed() >= FAIR_AFTER
    }

    /// Takes the lock without waiting.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & LOCKED == 0 {
            // Acquire: pairs with the release in `unlock` (and `unlock_slow`), so the
            // previous holder's writes are visible to us.
            match self.state.compare_exchange_weak(
                s,
                s | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Takes the lock, waiting as long as it takes.
    #[inline]
    pub(crate) fn lock(&self) {
        // Acquire: as in `try_lock`.
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(None);
        }
    }

    /// Takes the lock unless `deadline` passes first. Returns whether it did.
    #[inline]
    pub(crate) fn lock_deadline(&self, deadline: Deadline) -> bool {
        self.try_lock() || self.lock_slow(deadline)
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The caller holds the lock.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        // Release: pairs with the acquire of the next locker.
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    #[cfg_attr(loom, allow(clippy::absurd_extreme_comparisons))] // SPIN_ROUNDS is 0
    fn lock_slow(&self, deadline: Deadline) -> bool {
        let mut spins = 0;
        #[cfg(not(loom))]
        let mut alone = None;
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & LOCKED == 0 {
                // Acquire: as in `try_lock`.
                if self
                    .state
                    .compare_exchange_weak(s, s | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return true;
                }
                continue;
            }
            #[cfg(not(loom))]
            let limit = if *alone.get_or_insert_with(crate::runtime::fiber::alone_on_worker) {
                SPIN_ROUNDS_ALONE
            } else if s & PARKED == 0 {
                SPIN_ROUNDS
            } else {
                0
            };
            #[cfg(loom)]
            let limit = 0;
            if spins < limit {
                for _ in 0..1u32 << spins {
                    std::hint::spin_loop();
                }
                spins += 1;
                continue;
            }
            let signal = Signal::new();
            let node = Node::new(&signal, 0, Queued::now());
            if !self.enqueue(&node) {
                continue; // unlocked meanwhile: compete again
            }
            let guard = UnwindGuard::new(&signal, |claimed| self.abandon(&node, claimed));
            let tag = signal.wait_deadline(deadline);
            guard.disarm();
            match tag {
                HANDED_OVER => return true,
                RELEASED => spins = 0,
                tag => {
                    debug_assert_eq!(tag, TIMED_OUT);
                    self.remove_timed_out(&node);
                    return false;
                }
            }
        }
    }

    /// Links `node` and sets PARKED, unless the lock is free (returns false then).
    fn enqueue(&self, node: &Node<Queued>) -> bool {
        let mut list = super::lock_list(&self.waiters);
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & LOCKED == 0 {
                return false;
            }
            if s & PARKED != 0 {
                break;
            }
            // Relaxed: the list lock orders this with the unlocker's reads of PARKED that
            // matter (an unlocker whose fast CAS saw no PARKED made us fail here instead).
            match self.state.compare_exchange_weak(
                s,
                s | PARKED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
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

    /// After winning our own signal on timeout: unlink our node, and clear PARKED if we
    /// were the last waiter.
    #[cold]
    fn remove_timed_out(&self, node: &Node<Queued>) {
        let mut list = super::lock_list(&self.waiters);
        // SAFETY: our node, alive; it is in this list if linked.
        unsafe { list.remove(node) };
        if list.is_empty() {
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
    }

    /// A waiter unwound out of its wait (see [`UnwindGuard`]): backs out as on timeout if
    /// it cancelled its own claim, else passes on what the unlocker gave it, so that the
    /// waiters behind it are not stranded: a lock handed over is unlocked, and a wake-up to
    /// compete is passed to the next waiter (by unlocking, if we can take the lock; if we
    /// cannot, its holder's unlock will do it).
    #[cold]
    fn abandon(&self, node: &Node<Queued>, claimed: Option<usize>) {
        match claimed {
            None => self.remove_timed_out(node),
            Some(HANDED_OVER) => {
                // SAFETY: the lock was handed over to us, still held.
                unsafe { self.unlock() };
            }
            Some(_) => {
                if self.try_lock() {
                    // SAFETY: we just took it.
                    unsafe { self.unlock() };
                }
            }
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut list = super::lock_list(&self.waiters);
        let mut hand_over = false;
        let claimed = list.pop_claimed_with(|node| {
            hand_over = self.waited_long(node.data());
            if hand_over { HANDED_OVER } else { RELEASED }
        });
        let Some(node) = claimed else {
            // Only timed-out waiters were left. Release: pairs with the next locker's
            // acquire.
            self.state.store(0, Ordering::Release);
            return;
        };
        let parked = if list.is_empty() { 0 } else { PARKED };
        // Release: pairs with the acquire of the next locker (when released), or of
        // nobody (handed over: the waiter synchronises through its signal instead).
        let locked = if hand_over { LOCKED } else { 0 };
        self.state.store(locked | parked, Ordering::Release);
        // SAFETY: we won the node's claim just now and complete it once; the node (on
        // the waiter's stack) is not touched after.
        let waker = unsafe { node.as_ref().signal().complete() };
        drop(list);
        if hand_over {
            waker.wake_holder();
        } else {
            waker.wake();
        }
    }

    /// Whether the lock is held (a hint).
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;

    struct Counter {
        raw: RawMutex,
        n: UnsafeCell<u32>,
    }
    // SAFETY: `n` is accessed only with `raw` held.
    unsafe impl Sync for Counter {}

    fn increment(c: &Counter) {
        c.raw.lock();
        // SAFETY: we hold the lock.
        c.n.with_mut(|n| unsafe { *n += 1 });
        // SAFETY: we hold the lock.
        unsafe { c.raw.unlock() };
    }

    fn contended_increments(hand_over: bool) {
        crate::sync::loom_model(2, move || {
            let c = Arc::new(Counter {
                raw: RawMutex::with_hand_over(hand_over),
                n: UnsafeCell::new(0),
            });
            let others: Vec<_> = (0..2)
                .map(|_| {
                    let c = c.clone();
                    loom::thread::spawn(move || increment(&c))
                })
                .collect();
            increment(&c);
            for t in others {
                t.join().unwrap();
            }
            // SAFETY: every other thread has finished.
            assert_eq!(c.n.with(|n| unsafe { *n }), 3);
            assert_eq!(
                c.raw.state.load(Ordering::Relaxed),
                0,
                "lock word left dirty"
            );
        });
    }

    /// Three threads increment under the lock with barging wake-ups: mutual exclusion
    /// holds (loom checks the cell's accesses), no wake-up is lost, the word ends clean.
    #[test]
    fn loom_mutex_barging() {
        contended_increments(false);
    }

    /// The same with every wake-up a hand-over.
    #[test]
    fn loom_mutex_hand_over() {
        contended_increments(true);
    }

    /// A waiter unwound out of its wait (simulated: its `UnwindGuard` drops right after it
    /// queued) races the unlock that would hand it the lock or wake it: whatever the
    /// unlock gave it is passed on, so the lock ends free, the word clean, no node linked.
    #[test]
    fn loom_mutex_unwound_waiter_races_unlock() {
        for hand_over in [false, true] {
            crate::sync::loom_model(3, move || {
                let raw = Arc::new(RawMutex::with_hand_over(hand_over));
                raw.lock();
                let waiter = {
                    let raw = raw.clone();
                    loom::thread::spawn(move || {
                        let signal = Signal::new();
                        let node = Node::new(&signal, 0, Queued::now());
                        if raw.enqueue(&node) {
                            drop(UnwindGuard::new(&signal, |claimed| {
                                raw.abandon(&node, claimed);
                            }));
                        }
                    })
                };
                // SAFETY: locked above.
                unsafe { raw.unlock() };
                waiter.join().unwrap();
                assert_eq!(raw.state.load(Ordering::Relaxed), 0, "lock word left dirty");
                assert!(crate::sync::lock_list(&raw.waiters).is_empty());
            });
        }
    }

    /// A waiter's timeout races the unlock that would wake it: either the waiter backs
    /// out (and leaves the word clean) or it gets the lock, never both, never neither.
    #[test]
    fn loom_mutex_timeout_races_unlock() {
        for hand_over in [false, true] {
            crate::sync::loom_model(3, move || {
                let raw = Arc::new(RawMutex::with_hand_over(hand_over));
                raw.lock();
                let waiter = {
                    let raw = raw.clone();
                    // Under loom a deadline has always passed: the waiter queues, then
                    // cancels at once.
                    loom::thread::spawn(move || raw.lock_deadline(Some(())))
                };
                // SAFETY: locked above.
                unsafe { raw.unlock() };
                if waiter.join().unwrap() {
                    // SAFETY: the waiter took the lock and left it to us.
                    unsafe { raw.unlock() };
                }
                assert_eq!(raw.state.load(Ordering::Relaxed), 0, "lock word left dirty");
            });
        }
    }
}
