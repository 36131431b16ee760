//! A worker's timers: wake a fiber at a deadline, unless the timer is cancelled first.
//!
//! A binary heap of `(deadline, seq, slot)` orders the timers; the fiber to wake lives in
//! a slab slot, which cancelling empties. A cancelled timer's heap entry is skipped when
//! it reaches the top (lazy deletion), and the heap is rebuilt from the live timers when
//! cancelled entries outnumber them, so a fiber that keeps setting long timeouts and
//! cancelling them (a lock taken in time, again and again) does not grow it without bound.
//!
//! Only the owning worker touches its timers (they live in its `Core`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Identifies one timer, to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: usize,
    seq: u64,
}

/// Heap entries beyond this many, and beyond twice the live timers, trigger a rebuild.
const MIN_REBUILD: usize = 64;

/// Timers waking values of type `W` (the runtime's fibers; plain numbers in the tests).
pub(crate) struct Timers<W> {
    /// Pending deadlines, earliest on top; may hold entries of cancelled timers.
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    /// The waiter of each live timer, with its sequence number (slots are reused).
    slots: Vec<Option<(u64, W)>>,
    free: Vec<usize>,
    live: usize,
    next_seq: u64,
}

impl<W> Timers<W> {
    pub(crate) fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            next_seq: 0,
        }
    }

    /// Number of live (not fired, not cancelled) timers.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Schedules `waiter` to be returned by `expire` once `deadline` has passed.
    pub(crate) fn add(&mut self, deadline: Instant, waiter: W) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some((seq, waiter));
                slot
            }
            None => {
                self.slots.push(Some((seq, waiter)));
                self.slots.len() - 1
            }
        };
        self.heap.push(Reverse((deadline, seq, slot)));
        self.live += 1;
        TimerKey { slot, seq }
    }

    /// Cancels a timer; returns its waiter if it had neither fired nor been cancelled.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<W> {
        let entry = self.slots.get_mut(key.slot)?;
        if !matches!(entry, Some((seq, _)) if *seq == key.seq) {
            return None;
        }
        let (_, waiter) = entry.take()?;
        self.free.push(key.slot);
        self.live -= 1;
        if self.heap.len() > MIN_REBUILD && self.heap.len() > 2 * self.live {
            self.rebuild();
        }
        Some(waiter)
    }

    /// Drops the heap entries of cancelled timers.
    #[cold]
    fn rebuild(&mut self) {
        let slots = &self.slots;
        self.heap.retain(|Reverse((_, seq, slot))| {
            matches!(&slots[*slot], Some((live_seq, _)) if live_seq == seq)
        });
    }

    /// Whether the top heap entry belongs to a live timer.
    fn top_is_live(&self) -> Option<bool> {
        let Reverse((_, seq, slot)) = self.heap.peek()?;
        Some(matches!(&self.slots[*slot], Some((live_seq, _)) if live_seq == seq))
    }

    /// The earliest live deadline (skipping, and dropping, cancelled entries on top).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while !self.top_is_live()? {
            self.heap.pop();
        }
        self.heap.peek().map(|Reverse((deadline, _, _))| *deadline)
    }

    /// Moves the waiters of every timer due at `now` into `out` (earliest first) and
    /// returns the next live deadline.
    pub(crate) fn expire(&mut self, now: Instant, out: &mut Vec<W>) -> Option<Instant> {
        while let Some(deadline) = self.next_deadline() {
            if deadline > now {
                return Some(deadline);
            }
            let Reverse((_, _, slot)) = self.heap.pop().expect("a live entry is on top");
            let (_, waiter) = self.slots[slot].take().expect("the entry is live");
            self.free.push(slot);
            self.live -= 1;
            out.push(waiter);
        }
        None
    }

    /// Drops every timer.
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.slots.clear();
        self.free.clear();
        self.live = 0;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expire_in_deadline_order_then_add_order() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        timers.add(t0 + Duration::from_millis(3), 'c');
        timers.add(t0 + Duration::from_millis(1), 'a');
        timers.add(t0 + Duration::from_millis(3), 'd');
        timers.add(t0 + Duration::from_millis(2), 'b');
        let mut out = Vec::new();
        assert_eq!(
            timers.expire(t0, &mut out),
            Some(t0 + Duration::from_millis(1))
        );
        assert!(out.is_empty());
        let next = timers.expire(t0 + Duration::from_millis(2), &mut out);
        assert_eq!(out, ['a', 'b']);
        assert_eq!(next, Some(t0 + Duration::from_millis(3)));
        assert_eq!(timers.expire(t0 + Duration::from_secs(1), &mut out), None);
        assert_eq!(out, ['a', 'b', 'c', 'd']);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn cancelled_timers_never_fire_and_keys_are_not_reused() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let a = timers.add(t0, 'a');
        let b = timers.add(t0 + Duration::from_millis(5), 'b');
        assert_eq!(timers.cancel(a), Some('a'));
        assert_eq!(timers.cancel(a), None, "cancelled twice");
        // The slot is reused; the old key must not cancel the new timer.
        let c = timers.add(t0, 'c');
        assert_eq!(timers.cancel(a), None);
        assert_eq!(timers.next_deadline(), Some(t0));
        let mut out = Vec::new();
        assert_eq!(
            timers.expire(t0, &mut out),
            Some(t0 + Duration::from_millis(5))
        );
        assert_eq!(out, ['c']);
        assert_eq!(timers.cancel(c), None, "fired already");
        assert_eq!(timers.cancel(b), Some('b'));
        assert_eq!(timers.next_deadline(), None);
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn cancelling_many_keeps_the_heap_small() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let keep = timers.add(t0 + Duration::from_secs(5), 0);
        for i in 1..10_000 {
            let k = timers.add(t0 + Duration::from_secs(3600), i);
            assert_eq!(timers.cancel(k), Some(i));
        }
        assert!(
            timers.heap.len() <= MIN_REBUILD + 1,
            "{}",
            timers.heap.len()
        );
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.cancel(keep), Some(0));
    }
}
