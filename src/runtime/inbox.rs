//! A worker's inbox: the queue through which other threads hand it fibers to resume.
//!
//! A fiber that has started runs only on its home worker, so a wake-up from another thread
//! (a join completing, a channel send, an I/O completion on another ring) cannot put it in
//! a queue that others steal from: it goes to the home worker's inbox. Any thread pushes;
//! only the home worker pops.
//!
//! # Design: a mutex-protected deque and an atomic length
//!
//! - **Exact "became non-empty" edge.** `push` returns true exactly when the inbox was
//!   empty, decided under the lock, so exactly one pusher per empty-to-non-empty change
//!   unparks the owner, and a pusher that gets false knows an earlier item is still
//!   waiting, whose pusher unparked (or is unparking) the owner, and that the owner's next
//!   drain takes both.
//! - **Cheap empty check.** `is_empty` is one relaxed load of the length, which only changes
//!   under the lock; the worker calls it every round without touching the lock.
//! - **No allocation per item in steady state.** The deque keeps its capacity; the owner
//!   drains by swapping its own (empty) buffer in, so the two buffers trade places.
//! - **No unsafe code, and loom checks it with its own mutex.** The critical sections are a
//!   handful of instructions.
//!
//! # Two lanes
//! A wake-up that hands the fiber something other fibers wait for (a mutex handed over,
//! permits granted) goes in the *first* lane: the owner's drain puts those items in a
//! queue that runs before its other ready fibers. Without it, each step of a convoy of
//! hand-overs costs a whole cycle of a busy worker's ready queue (see
//! `tests/issue_hand_over_convoy.rs`). Both lanes live under the one lock and count in
//! the one length, so the became-non-empty edge stays exact.
//!
//! A lock-free alternative was considered and not taken: Vyukov's intrusive MPSC queue has
//! a transient state (a producer has swapped the tail but not yet linked its node) in which
//! the consumer cannot tell "empty" from "an item is arriving", which muddies both the
//! empty check before parking and the became-non-empty edge; a Treiber stack with
//! take-all is exact, but needs an allocated node per item for a generic `T` (or a link
//! field in every fiber) and a list reversal to restore order. Pushes into one worker's
//! inbox come from the few threads waking its fibers, so the lock is rarely contended.
//!
//! # The owner's side
//! Before parking the owner checks `is_empty`; it then relies on the pusher of the next
//! item to unpark its driver. A stale "empty" (the relaxed load misses a push that just
//! happened) is harmless for the same reason: that push returned true and its pusher
//! unparks the driver, so the park returns at once, and the driver's release/acquire makes
//! the item visible.

use crate::loom::{AtomicUsize, Mutex, Ordering};
use std::collections::VecDeque;

/// A multi-producer, single-consumer FIFO of `T` with an exact became-non-empty signal.
pub(crate) struct Inbox<T> {
    /// Items waiting, in their two lanes.
    items: Mutex<Lanes<T>>,
    /// `items.len()`, written only under the lock, read without it by `is_empty`.
    len: AtomicUsize,
}

/// The items of an inbox, touched only under its lock.
struct Lanes<T> {
    /// Ordinary wake-ups, oldest first: they go behind the owner's ready fibers.
    back: VecDeque<T>,
    /// Urgent wake-ups, oldest first: they go in front of the owner's ready fibers.
    first: VecDeque<T>,
}

impl<T> Lanes<T> {
    fn len(&self) -> usize {
        self.back.len() + self.first.len()
    }

    fn is_empty(&self) -> bool {
        self.back.is_empty() && self.first.is_empty()
    }
}

impl<T: Send> Inbox<T> {
    /// An empty inbox.
    pub(crate) fn new() -> Self {
        Inbox {
            items: Mutex::new(Lanes {
                back: VecDeque::new(),
                first: VecDeque::new(),
            }),
            len: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn lock(&self) -> impl core::ops::DerefMut<Target = Lanes<T>> + '_ {
        // A panic under the lock (only an allocation failure in push_back could) leaves
        // the deque consistent: carry on.
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `item`; any thread may call it. Returns true if the inbox was empty, in
    /// which case the caller must unpark the owner's driver.
    #[inline]
    pub(crate) fn push(&self, item: T) -> bool {
        self.push_to(item, false)
    }

    /// As [`push`](Self::push), in the first lane: the owner's drain puts it in front of
    /// what is already ready (see the module docs).
    #[inline]
    pub(crate) fn push_first(&self, item: T) -> bool {
        self.push_to(item, true)
    }

    #[inline]
    fn push_to(&self, item: T, first: bool) -> bool {
        let mut items = self.lock();
        let was_empty = items.is_empty();
        if first {
            items.first.push_back(item);
        } else {
            items.back.push_back(item);
        }
        // Relaxed: the length is a hint for `is_empty`; the items themselves are handed over
        // by the lock, and the owner's wake-up by its driver (see the module docs).
        self.len.store(items.len(), Ordering::Relaxed);
        was_empty
    }

    /// Whether the inbox looks empty: one relaxed load, for the worker's loop. May be
    /// stale by a concurrent push, which then unparks the owner (see the module docs).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        // Relaxed: see the module docs.
        self.len.load(Ordering::Relaxed) == 0
    }

    /// The number of items waiting (a snapshot).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Takes the oldest item of the first lane, else of the other. Owner only (a
    /// convention: the inbox has one consumer).
    #[cfg(test)]
    pub(crate) fn pop(&self) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        let mut items = self.lock();
        let item = match items.first.pop_front() {
            Some(item) => Some(item),
            None => items.back.pop_front(),
        };
        self.len.store(items.len(), Ordering::Relaxed);
        item
    }

    /// Moves every waiting item, oldest first, to the back of `out`, or of `first_out` for
    /// the first lane's, and returns how many. One lock for the batch; if `out` is empty
    /// the buffers are swapped, so neither side allocates in steady state. Owner only.
    #[inline]
    pub(crate) fn drain_into(&self, out: &mut VecDeque<T>, first_out: &mut VecDeque<T>) -> usize {
        if self.is_empty() {
            return 0;
        }
        let mut items = self.lock();
        let n = items.len();
        if out.is_empty() {
            core::mem::swap(&mut items.back, out);
        } else {
            out.extend(items.back.drain(..));
        }
        first_out.extend(items.first.drain(..));
        self.len.store(0, Ordering::Relaxed);
        n
    }
}

impl<T: Send> Default for Inbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};
    use std::thread;

    #[test]
    fn fifo_and_became_non_empty() {
        let inbox = Inbox::new();
        assert!(inbox.is_empty());
        assert_eq!(inbox.pop(), None);
        assert!(inbox.push(1));
        assert!(!inbox.push(2));
        assert!(!inbox.push(3));
        assert_eq!(inbox.len(), 3);
        assert_eq!(inbox.pop(), Some(1));
        let mut out = VecDeque::new();
        assert_eq!(inbox.drain_into(&mut out, &mut VecDeque::new()), 2);
        assert_eq!(out, [2, 3]);
        assert!(inbox.is_empty());
        assert!(inbox.push(4), "drained: the next push is an edge again");
        assert_eq!(
            inbox.drain_into(&mut out, &mut VecDeque::new()),
            1,
            "appends when `out` is not empty"
        );
        assert_eq!(out, [2, 3, 4]);
        assert!(inbox.push(5));
        assert_eq!(inbox.pop(), Some(5));
        assert!(inbox.push(6), "popping the last item is an edge too");
    }

    #[test]
    fn first_lane_drains_apart_in_order() {
        let inbox = Inbox::new();
        assert!(inbox.push_first(10), "the first lane counts for the edge");
        assert!(!inbox.push(3));
        assert!(!inbox.push_first(11));
        assert_eq!(inbox.len(), 3);
        let (mut out, mut first) = (VecDeque::from([1, 2]), VecDeque::from([9]));
        assert_eq!(inbox.drain_into(&mut out, &mut first), 3);
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(first, [9, 10, 11]);
        assert!(inbox.is_empty());
        assert!(inbox.push(4));
        assert!(!inbox.push_first(12));
        assert_eq!(inbox.pop(), Some(12));
        assert_eq!(inbox.pop(), Some(4));
    }

    #[test]
    fn drops_what_is_left() {
        let item = Arc::new(());
        let inbox = Inbox::new();
        inbox.push(item.clone());
        inbox.push_first(item.clone());
        drop(inbox);
        assert_eq!(Arc::strong_count(&item), 1);
    }

    /// Many producers, one consumer draining while they push: every item arrives exactly
    /// once, each producer's items in order, and the number of `true` pushes equals the
    /// number of drains that took something (each such drain ends one non-empty stretch).
    #[test]
    fn many_producers_every_item_once() {
        const PRODUCERS: usize = 8;
        const PER: usize = 20_000;
        let inbox = Arc::new(Inbox::new());
        let start = Arc::new(Barrier::new(PRODUCERS + 1));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (inbox, start) = (inbox.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    (0..PER).filter(|i| inbox.push((p, *i))).count()
                })
            })
            .collect();
        start.wait();
        let mut next = [0usize; PRODUCERS];
        let mut nonempty_drains = 0;
        let mut buf = VecDeque::new();
        let mut drain = |buf: &mut VecDeque<(usize, usize)>| {
            if inbox.drain_into(buf, &mut VecDeque::new()) > 0 {
                nonempty_drains += 1;
            }
            for (p, i) in buf.drain(..) {
                assert_eq!(
                    i, next[p],
                    "producer {p}'s items out of order or duplicated"
                );
                next[p] += 1;
            }
            next.iter().sum::<usize>()
        };
        while drain(&mut buf) < PRODUCERS * PER {
            std::hint::spin_loop();
        }
        let edges: usize = producers.into_iter().map(|h| h.join().unwrap()).sum();
        let received = drain(&mut buf);
        assert_eq!(received, PRODUCERS * PER);
        assert!(inbox.is_empty());
        assert_eq!(edges, nonempty_drains);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread::JoinHandle;
    use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::Relaxed};

    /// Items 1 (ordinary lane) and 2 (first lane) pushed from two threads of their own.
    fn push_from_two_threads(inbox: &Arc<Inbox<i32>>) -> Vec<JoinHandle<bool>> {
        [1, 2]
            .into_iter()
            .map(|item| {
                let inbox = inbox.clone();
                // One push per lane: the edge must be exact across lanes.
                loom::thread::spawn(move || {
                    if item == 2 {
                        inbox.push_first(item)
                    } else {
                        inbox.push(item)
                    }
                })
            })
            .collect()
    }

    /// How many of the joined pushes reported "became non-empty".
    fn became_non_empty(producers: Vec<JoinHandle<bool>>) -> usize {
        producers
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&edge| edge)
            .count()
    }

    /// Two producers and the owner draining concurrently, then once more after they are
    /// done: every item exactly once, and the number of pushes that reported
    /// "became non-empty" equals the number of drains that took something.
    #[test]
    fn loom_inbox_push_push_drain() {
        static EXECUTIONS: StdAtomicUsize = StdAtomicUsize::new(0);
        loom::model(|| {
            EXECUTIONS.fetch_add(1, Relaxed);
            let inbox = Arc::new(Inbox::new());
            let producers = push_from_two_threads(&inbox);
            let (mut out, mut first) = (VecDeque::new(), VecDeque::new());
            let mut nonempty_drains = usize::from(inbox.drain_into(&mut out, &mut first) > 0);
            let edges = became_non_empty(producers);
            nonempty_drains += usize::from(inbox.drain_into(&mut out, &mut first) > 0);
            assert_eq!(first, [2], "the first lane's item drains to its own queue");
            let mut got: Vec<_> = out.into_iter().chain(first).collect();
            got.sort_unstable();
            assert_eq!(got, [1, 2], "every item exactly once");
            assert_eq!(edges, nonempty_drains, "became-non-empty reported wrongly");
            assert!(inbox.is_empty());
        });
        let n = EXECUTIONS.load(Relaxed);
        println!("loom_inbox_push_push_drain: {n} executions");
        assert!(n > 1, "loom explored a single execution");
    }

    /// Same with `pop`: the owner pops once while the producers push, then pops until
    /// empty. Every item exactly once; a pop that found nothing means both
    /// pushes came after it, so exactly one of them saw the inbox empty.
    #[test]
    fn loom_inbox_push_push_pop() {
        static EXECUTIONS: StdAtomicUsize = StdAtomicUsize::new(0);
        loom::model(|| {
            EXECUTIONS.fetch_add(1, Relaxed);
            let inbox = Arc::new(Inbox::new());
            let producers = push_from_two_threads(&inbox);
            let first = inbox.pop();
            let edges = became_non_empty(producers);
            let mut got: Vec<_> = first.into_iter().collect();
            got.extend(core::iter::from_fn(|| inbox.pop()));
            let mut sorted = got.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [1, 2], "every item exactly once");
            assert!(
                edges == 1 || edges == 2,
                "{edges} pushes saw the inbox empty"
            );
            if first.is_none() {
                assert_eq!(edges, 1, "nothing was taken, so only one push saw it empty");
            }
            assert!(inbox.is_empty());
        });
        let n = EXECUTIONS.load(Relaxed);
        println!("loom_inbox_push_push_pop: {n} executions");
        assert!(n > 1, "loom explored a single execution");
    }
}
