//! [`Event`]: a flag that waiters block on until it is set, auto- or manual-reset.
//!
//! State word: `0` (not set, nobody queued), `SET`, or `WAITERS` (not set, the wait list
//! may be non-empty). SET and WAITERS are never both set: `WAITERS` is set and cleared
//! only with the list's lock held, and while it is set the only way to set the event is
//! through that lock (a setter that finds WAITERS releases waiters instead, or stores SET
//! once the list is empty). Outside the lock, the word moves between `0` and `SET` only.

use super::signal::{Deadline, Signal, TIMED_OUT};
use super::unwind_guard::UnwindGuard;
use super::wait_list::{Node, WaitList};
use super::wake_all::{Chained, Released};
use crate::loom::{AtomicUsize, Mutex as ListLock, Ordering};
use std::fmt;
use std::time::Duration;

const SET: usize = 1;
const WAITERS: usize = 2;

/// A flag that fibers and threads wait on until another one sets it, in two flavours:
///
/// - **manual-reset** ([`Event::new_manual_reset`]): [`set`](Event::set) releases every
///   current waiter and the event stays set, so later waits return at once, until
///   [`reset`](Event::reset);
/// - **auto-reset** ([`Event::new_auto_reset`], Win32 semantics): `set` releases exactly
///   one waiter and the event is consumed by it; with nobody waiting the event stays set
///   until one wait consumes it. Setting an event that is already set does nothing.
///
/// A waiting fiber suspends (its worker runs other fibers); a waiting thread parks.
/// Everything a setter did before `set` is visible to the waiter its `set` releases.
///
/// ```
/// use fibra::sync::Event;
/// use std::sync::Arc;
///
/// let ready = Arc::new(Event::new_manual_reset());
/// fibra::run(|| {
///     let waiters: Vec<_> = (0..3)
///         .map(|_| {
///             let ready = ready.clone();
///             fibra::spawn(move || ready.wait())
///         })
///         .collect();
///     ready.set();
///     waiters.into_iter().for_each(|h| h.join().unwrap());
/// });
/// assert!(ready.is_set());
///
/// let token = Event::new_auto_reset();
/// token.set();
/// assert!(token.wait_timeout(std::time::Duration::ZERO)); // consumes it
/// assert!(!token.is_set());
/// ```
pub struct Event {
    state: AtomicUsize,
    manual: bool,
    waiters: ListLock<WaitList<Chained>>,
}

impl Event {
    /// An auto-reset event, not set.
    #[cfg(not(loom))]
    pub const fn new_auto_reset() -> Self {
        Self::with_mode(false)
    }

    /// A manual-reset event, not set.
    #[cfg(not(loom))]
    pub const fn new_manual_reset() -> Self {
        Self::with_mode(true)
    }

    #[cfg(not(loom))]
    const fn with_mode(manual: bool) -> Self {
        Event {
            state: AtomicUsize::new(0),
            manual,
            waiters: ListLock::new(WaitList::new()),
        }
    }

    /// An auto-reset event, not set (not `const` under loom, whose locks are not).
    #[cfg(loom)]
    pub fn new_auto_reset() -> Self {
        Self::with_mode(false)
    }

    /// A manual-reset event, not set (not `const` under loom, whose locks are not).
    #[cfg(loom)]
    pub fn new_manual_reset() -> Self {
        Self::with_mode(true)
    }

    #[cfg(loom)]
    fn with_mode(manual: bool) -> Self {
        Event {
            state: AtomicUsize::new(0),
            manual,
            waiters: ListLock::new(WaitList::new()),
        }
    }

    /// Sets the event: releases every waiter (manual-reset) or one (auto-reset; with
    /// nobody waiting the event stays set until a wait consumes it). Does nothing if the
    /// event is already set.
    #[inline]
    pub fn set(&self) {
        // Release: pairs with the acquire of the wait that sees SET (`try_take`).
        match self
            .state
            .compare_exchange(0, SET, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) | Err(SET) => {}
            Err(_) => self.set_slow(),
        }
    }

    /// Clears the event (waits block again). Does nothing if it is not set.
    #[inline]
    pub fn reset(&self) {
        // With WAITERS set, SET is clear: this changes nothing then.
        self.state.fetch_and(!SET, Ordering::Relaxed);
    }

    /// Whether the event is set (a hint: it may change at once). Does not consume an
    /// auto-reset event.
    #[inline]
    pub fn is_set(&self) -> bool {
        // Acquire: pairs with the setter's release, like a successful wait.
        self.state.load(Ordering::Acquire) == SET
    }

    /// Waits until the event is set (and consumes it, if auto-reset).
    #[inline]
    pub fn wait(&self) {
        if !self.try_take() {
            self.wait_slow(None);
        }
    }

    /// Waits until the event is set (and consumes it, if auto-reset), or until `timeout`
    /// passes. Returns whether it was set (and consumed).
    #[inline]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.try_take() || self.wait_slow(super::signal::deadline_after(timeout))
    }

    /// Whether the event is set; an auto-reset event is consumed by the call that sees it.
    #[inline]
    fn try_take(&self) -> bool {
        // Acquire (both): pairs with the setter's release store or CAS of SET.
        if self.manual {
            self.state.load(Ordering::Acquire) == SET
        } else {
            self.state
                .compare_exchange(SET, 0, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        }
    }

    #[cold]
    fn wait_slow(&self, deadline: Deadline) -> bool {
        let signal = Signal::new();
        let node = Node::new(&signal, 0, Chained::END);
        if !self.enqueue(&node) {
            return true; // set meanwhile (and consumed, if auto-reset)
        }
        let guard = UnwindGuard::new(&signal, |claimed| self.abandon(&node, claimed));
        let tag = signal.wait_deadline(deadline);
        guard.disarm();
        if tag != TIMED_OUT {
            return true; // released by a setter
        }
        self.remove_timed_out(&node);
        // A set that came after we gave up, and found nobody queued, is ours to take.
        self.try_take()
    }

    /// Links `node` and sets WAITERS, unless the event is set: then takes it (consuming
    /// it if auto-reset) and returns false.
    fn enqueue(&self, node: &Node<Chained>) -> bool {
        let mut list = super::lock_list(&self.waiters);
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s == SET && self.try_take() {
                return false;
            }
            if s == WAITERS {
                break;
            }
            // Relaxed: WAITERS only tells setters to take the list's lock, which orders
            // everything else. From 0 only; SET may come and go outside the lock.
            match self
                .state
                .compare_exchange_weak(0, WAITERS, Ordering::Relaxed, Ordering::Relaxed)
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
    /// were the last waiter.
    #[cold]
    fn remove_timed_out(&self, node: &Node<Chained>) {
        let mut list = super::lock_list(&self.waiters);
        // SAFETY: our node, alive; it is in this list if linked.
        unsafe { list.remove(node) };
        if list.is_empty() {
            // With SET set (a setter found the list empty), WAITERS is clear already.
            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        }
    }

    /// A waiter unwound out of its wait (see [`UnwindGuard`]): backs out as on timeout if
    /// it cancelled its own claim (without taking a later set, as a timed-out wait does:
    /// nobody is left to use it); if a set of an auto-reset event released it (and so was
    /// consumed by it), sets the event again, for the next waiter or the next wait.
    #[cold]
    fn abandon(&self, node: &Node<Chained>, claimed: Option<usize>) {
        match claimed {
            None => self.remove_timed_out(node),
            Some(_) if !self.manual => self.set(),
            Some(_) => {}
        }
    }

    #[cold]
    fn set_slow(&self) {
        let mut list = super::lock_list(&self.waiters);
        let mut s = self.state.load(Ordering::Relaxed);
        while s != WAITERS {
            // The last waiter left before we took the lock.
            if s == SET {
                return;
            }
            // Release: as in `set`.
            match self
                .state
                .compare_exchange(0, SET, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
        // The word stays WAITERS while we hold the lock: outside it, only `set` (from 0),
        // a consuming wait (from SET) and `reset` (clearing SET) touch it, and none of
        // them changes WAITERS. The writes below are swaps, not stores, all the same: a
        // `reset` may be a read-modify-write of this very word, and loom (at least) lets
        // a later load of the waiter that clears WAITERS read past a store ordered between
        // two read-modify-writes.
        if self.manual {
            let released = Released::claim_all(&mut list);
            // Release: pairs with the acquire of later waits that see SET; the released
            // waiters synchronise through their signals.
            self.state.swap(SET, Ordering::Release);
            drop(list);
            released.wake_all();
            return;
        }
        let Some(node) = list.pop_claimed() else {
            // Only timed-out waiters were queued: the event stays set for the next wait.
            // Release: as in `set`.
            self.state.swap(SET, Ordering::Release);
            return;
        };
        if list.is_empty() {
            self.state.swap(0, Ordering::Relaxed);
        }
        // SAFETY: we won the node's claim just now and complete it once; the node (on
        // the waiter's stack) is not touched after.
        let waker = unsafe { node.as_ref().signal().complete() };
        drop(list);
        waker.wake();
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("manual_reset", &self.manual)
            .field("set", &self.is_set())
            .finish()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A waiter unwound out of its wait (simulated: its `UnwindGuard` drops right after it
    /// queued) races a set, of either kind of event: the set is never lost (an auto-reset
    /// one consumed by the dying waiter is set again), and no node or WAITERS bit is left.
    #[test]
    fn loom_event_unwound_waiter_races_set() {
        for manual in [false, true] {
            crate::sync::loom_model(3, move || {
                let ev = Arc::new(Event::with_mode(manual));
                let waiter = {
                    let ev = ev.clone();
                    thread::spawn(move || {
                        let signal = Signal::new();
                        let node = Node::new(&signal, 0, Chained::END);
                        if ev.enqueue(&node) {
                            drop(UnwindGuard::new(&signal, |claimed| {
                                ev.abandon(&node, claimed);
                            }));
                        } else if !manual {
                            ev.set(); // consumed the set: give it back too
                        }
                    })
                };
                ev.set();
                waiter.join().unwrap();
                assert!(ev.is_set(), "the set was lost");
                assert!(crate::sync::lock_list(&ev.waiters).is_empty());
            });
        }
    }

    /// One set races two timed waits (under loom each gives up at once, racing its cancel
    /// against the setter): exactly one of them consumes the set, or nobody does and the
    /// event stays set; no WAITERS bit is left behind.
    #[test]
    fn loom_event_auto_reset_one_consumer_per_set() {
        crate::sync::loom_model(3, || {
            let ev = Arc::new(Event::new_auto_reset());
            let setter = {
                let ev = ev.clone();
                thread::spawn(move || ev.set())
            };
            let waiter = {
                let ev = ev.clone();
                thread::spawn(move || ev.wait_timeout(Duration::ZERO))
            };
            let mine = ev.wait_timeout(Duration::ZERO);
            setter.join().unwrap();
            let theirs = waiter.join().unwrap();
            let left = ev.is_set();
            assert_eq!(
                usize::from(mine) + usize::from(theirs) + usize::from(left),
                1,
                "one set, consumed {mine}/{theirs}, left set {left}"
            );
            assert_eq!(ev.state.load(Ordering::Relaxed) & WAITERS, 0);
        });
    }

    /// A set releases an untimed waiter (no lost wake-up) while a timed waiter races it
    /// (and passes the set on if it consumed it); the set ends consumed.
    #[test]
    fn loom_event_auto_reset_set_releases_a_waiter() {
        crate::sync::loom_model(3, || {
            let ev = Arc::new(Event::new_auto_reset());
            let setter = {
                let ev = ev.clone();
                thread::spawn(move || ev.set())
            };
            let waiter = {
                let ev = ev.clone();
                thread::spawn(move || {
                    if ev.wait_timeout(Duration::ZERO) {
                        ev.set();
                    }
                })
            };
            ev.wait();
            setter.join().unwrap();
            waiter.join().unwrap();
            assert_eq!(
                ev.state.load(Ordering::Relaxed),
                0,
                "set left or word dirty"
            );
        });
    }

    /// Manual reset: a reset-then-set races an untimed and a timed waiter. The untimed one
    /// is released (the last operation is a set), and the event ends set, with nobody
    /// queued.
    #[test]
    fn loom_event_manual_reset_set_vs_reset_vs_wait() {
        crate::sync::loom_model(3, || {
            let ev = Arc::new(Event::new_manual_reset());
            let setter = {
                let ev = ev.clone();
                thread::spawn(move || {
                    ev.reset();
                    ev.set();
                })
            };
            let waiter = {
                let ev = ev.clone();
                thread::spawn(move || ev.wait_timeout(Duration::ZERO))
            };
            ev.wait();
            setter.join().unwrap();
            waiter.join().unwrap();
            assert_eq!(ev.state.load(Ordering::Relaxed), SET);
        });
    }

    /// Manual reset: set and reset from two threads race a timed waiter, which reports
    /// true only if it saw the event set; the word ends without WAITERS.
    #[test]
    fn loom_event_manual_reset_timed_wait_vs_set_and_reset() {
        crate::sync::loom_model(3, || {
            let ev = Arc::new(Event::new_manual_reset());
            let setter = {
                let ev = ev.clone();
                thread::spawn(move || ev.set())
            };
            let resetter = {
                let ev = ev.clone();
                thread::spawn(move || ev.reset())
            };
            ev.wait_timeout(Duration::ZERO);
            setter.join().unwrap();
            resetter.join().unwrap();
            let s = ev.state.load(Ordering::Relaxed);
            assert!(s == 0 || s == SET, "word left dirty: {s}");
            assert!(super::super::lock_list(&ev.waiters).is_empty());
        });
    }
}
