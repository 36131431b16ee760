//! Each worker's run queue of fibers that have not started yet: a fixed-size ring that its
//! owner pushes to and pops from, and that other workers steal half of.
//!
//! # Design
//! The ring has [`CAPACITY`] slots and three wrapping `u32` positions: `tail`, where the
//! owner pushes, and two positions packed into the one atomic `head`:
//! - `real`: the first task still in the queue; `pop` and stealers move it forward;
//! - `steal`: the first slot not yet free again. It equals `real` except while a stealer
//!   (or the owner's overflow, below) is moving tasks `[steal, real)` out of their slots.
//!
//! Tasks live in `[real, tail)`; the owner may write a slot only while `tail - steal` is
//! below the capacity, so slots that are being read are never overwritten.
//!
//! Stealing is claimed-then-committed. A stealer that finds `steal == real` claims the
//! older half of `[real, tail)` with one CAS that moves `real` only, copies those tasks out,
//! then commits with a second CAS that sets `steal = real`. While a claim is open every other
//! stealer backs off (it sees `steal != real`), so stealers never read the same slots, and the
//! owner keeps popping from `real` and pushing while there is room. The owner's push is a load
//! of `head`, a slot write and a store of `tail`: no read-modify-write. `pop` needs a CAS,
//! since it races stealers for the same tasks.
//!
//! When the ring is full, `push_back` claims its older half the same way and hands it, with
//! the new task, to an overflow sink (the global injection queue) in one batch. If a stealer
//! holds a claim at that moment, only the new task goes to the sink.
//!
//! Three pairings order it all: the owner's Release store of `tail` publishes a task to the
//! stealers' Acquire load of `tail`; a claim's Release commit hands the freed slots back to the
//! owner's Acquire loads of `head` before it writes them again; and every move of `real` is a
//! Release (or an RMW continuing a release sequence), so a stealer that sees it with Acquire
//! then reads a `tail` at least as far.
//!
//! `u32` positions in a 64-bit `head` make an ABA on the claim CAS need 2^32 operations
//! between a stealer's load and its CAS.

use core::marker::PhantomData;
use core::mem::MaybeUninit;

use crate::loom::{Arc, AtomicU32, AtomicU64, Ordering::*, UnsafeCell};

/// Number of tasks a worker's queue holds (as in Go and tokio). Under loom a tiny ring, so
/// that models reach the overflow and wrap-around paths in a few steps.
pub(crate) const CAPACITY: usize = if cfg!(loom) { 4 } else { 256 };

const CAP: u32 = CAPACITY as u32;
const MASK: u32 = CAP - 1;
/// Tasks an overflowing push moves to the sink, besides the new one.
const HALF: u32 = CAP / 2;

// Positions wrap at 2^32, so a power of two; half of it must be at least one task.
const _: () = assert!(CAPACITY.is_power_of_two() && CAPACITY >= 2 && CAPACITY < 1 << 31);

/// `head` from its two positions: `steal` in the high half, `real` in the low half.
#[inline]
fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

/// `(steal, real)` from `head`.
#[inline]
fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

/// The state a `Local` and its `Steal` handles share.
struct Inner<T> {
    /// `pack(steal, real)`; see the module documentation.
    head: AtomicU64,
    /// One past the last task; stored by the owner only.
    tail: AtomicU32,
    /// Slot `i & MASK` holds a task for every position `i` in `[steal, tail)`.
    buffer: Box<[UnsafeCell<MaybeUninit<T>>; CAPACITY]>,
}

// SAFETY: the queue moves `T`s between threads (hence `T: Send`) and never hands out
// references to them. Its slots are accessed under the protocol in the module documentation:
// a slot is written only by the owner and only while no one can read it, and read by exactly
// one thread (the owner, or the stealer or overflow that claimed it) before it is reused.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as for `Send`: all shared access goes through the atomics and that protocol.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    fn new(start: u32) -> Self {
        let buffer: Box<[_]> = (0..CAPACITY)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        Inner {
            head: AtomicU64::new(pack(start, start)),
            tail: AtomicU32::new(start),
            buffer: match buffer.try_into() {
                Ok(array) => array,
                Err(_) => unreachable!("collected CAPACITY slots"),
            },
        }
    }

    /// Moves `task` into the slot of position `pos`.
    ///
    /// # Safety
    /// The calling thread must be the owner, and the slot must be vacant and unreadable by
    /// others: `pos` at or after `tail`, and `pos - steal < CAPACITY` for a value of `steal`
    /// that happens-before this call (read with Acquire).
    #[inline]
    unsafe fn write(&self, pos: u32, task: T) {
        self.buffer[(pos & MASK) as usize].with_mut(|slot| {
            // SAFETY: the caller guarantees no other access to this slot; the pointer comes
            // from the cell, so it is valid and aligned. Overwriting a MaybeUninit drops nothing.
            unsafe { slot.write(MaybeUninit::new(task)) }
        });
    }

    /// Moves the task out of the slot of position `pos`.
    ///
    /// # Safety
    /// The slot's task must have been written by a write that happens-before this call, the
    /// caller must have claimed it (so no one else reads it), and must not read it again
    /// before it is written anew.
    #[inline]
    unsafe fn read(&self, pos: u32) -> T {
        self.buffer[(pos & MASK) as usize].with(|slot| {
            // SAFETY: the caller guarantees the slot holds an initialised task that it alone
            // takes; the pointer comes from the cell, so it is valid and aligned.
            unsafe { slot.read().assume_init() }
        })
    }

    /// Ends a claim (a stealer's, or the owner's overflow): makes `steal` catch up with
    /// `real`, freeing the claimed slots for the owner. `cur` is a recent value of `head`.
    fn finish_claim(&self, mut cur: u64) {
        loop {
            let (_, real) = unpack(cur);
            // Release: pairs with the Acquire loads of `head` in the owner's `push_back` (our
            // reads of the claimed slots happen before it writes them again) and in
            // `steal_into` (a stealer that sees this `real` then sees a `tail` at least as
            // far). Failure Relaxed: nothing is read; only the owner's `pop`, which moves
            // `real`, can change `head` while the claim is open, and we just retry.
            match self
                .head
                .compare_exchange_weak(cur, pack(real, real), Release, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, no other thread can touch the queue any more.
        let (_, real) = unpack(self.head.load(Relaxed));
        let tail = self.tail.load(Relaxed);
        let mut pos = real;
        while pos != tail {
            // SAFETY: `[real, tail)` holds tasks nobody took; with `&mut self` this is the
            // only access, and each position is read once.
            drop(unsafe { self.read(pos) });
            pos = pos.wrapping_add(1);
        }
    }
}

/// A new empty queue: the owner's handle and a handle for stealers.
pub(crate) fn local<T: Send>() -> (Local<T>, Steal<T>) {
    with_start(0)
}

/// An empty queue whose positions start at `start` (tests use this to cross the wrap).
fn with_start<T: Send>(start: u32) -> (Local<T>, Steal<T>) {
    let inner = Arc::new(Inner::new(start));
    (
        Local {
            inner: inner.clone(),
            _not_sync: PhantomData,
        },
        Steal { inner },
    )
}

/// The owning worker's end of a queue: it pushes and pops. There is one per queue, it can be
/// sent to the worker thread but not shared (`!Sync`), so only one thread uses it at a time.
///
/// The methods take `&self` and may be called reentrantly from the `overflow` closure of
/// [`push_back`](Local::push_back) and from a task's `Drop` run by it.
pub(crate) struct Local<T> {
    inner: Arc<Inner<T>>,
    /// `!Sync`: the owner-only operations rely on a single thread calling them.
    _not_sync: PhantomData<core::cell::Cell<()>>,
}

impl<T> Local<T> {
    /// Pushes `task` at the back. If the queue is full, moves its older half (the `CAPACITY / 2`
    /// tasks at the front, oldest first) followed by `task` to `overflow` in one batch, leaving
    /// the queue half full; if a stealer is busy with part of the queue at that moment, the
    /// batch holds `task` alone.
    ///
    /// `overflow` should move every task of the batch somewhere they will run (the global
    /// injection queue): the tasks it does not take are dropped with the batch.
    #[inline]
    pub(crate) fn push_back(&self, task: T, overflow: impl FnOnce(Overflow<'_, T>)) {
        let inner = &*self.inner;
        // Acquire: pairs with the Release in `finish_claim`, so the reads of the slots a
        // stealer took happen before we write them again.
        let head = inner.head.load(Acquire);
        // Relaxed: only this thread stores `tail`.
        let tail = inner.tail.load(Relaxed);
        let (steal, _) = unpack(head);
        if tail.wrapping_sub(steal) < CAP {
            // SAFETY: we are the owner (`Local` is `!Sync`), `tail` is past every task, and
            // `tail - steal < CAPACITY` with `steal` read with Acquire just above.
            unsafe { inner.write(tail, task) };
            // Release: pairs with the Acquire load of `tail` in `steal_into`: a stealer that
            // sees the new `tail` sees the task written above.
            inner.tail.store(tail.wrapping_add(1), Release);
        } else {
            self.push_overflow(task, head, tail, overflow);
        }
    }

    /// The full-queue path of `push_back`: `head` as read there, `tail` ours.
    #[cold]
    #[inline(never)]
    fn push_overflow(
        &self,
        task: T,
        mut head: u64,
        tail: u32,
        overflow: impl FnOnce(Overflow<'_, T>),
    ) {
        let inner = &*self.inner;
        let claimed = loop {
            let (steal, real) = unpack(head);
            if tail.wrapping_sub(steal) < CAP {
                // A stealer committed since `head` was read: there is room after all.
                // SAFETY: as in `push_back`; this `head` came from an Acquire load or from
                // a failed CAS with Acquire failure ordering.
                unsafe { inner.write(tail, task) };
                // Release: pairs with the Acquire load of `tail` in `steal_into`.
                inner.tail.store(tail.wrapping_add(1), Release);
                return;
            }
            if steal != real {
                // A stealer (or, reentrantly, this very overflow) is moving `[steal, real)` out
                // and only it can free those slots. Rather than wait, send the new task alone.
                break None;
            }
            // The ring is full (`real == steal`, `tail - real == CAPACITY`): claim its older
            // half as a stealer would, so no stealer touches it while the sink takes it.
            let claim = pack(real, real.wrapping_add(HALF));
            // Success Relaxed: the claimed tasks were written by this thread, and stealers that
            // see the claim back off without reading anything. Failure Acquire: a stealer's
            // commit frees slots, and we may write into them on the next turn (pairs with the
            // Release in `finish_claim`).
            match inner.head.compare_exchange(head, claim, Relaxed, Acquire) {
                Ok(_) => break Some(real),
                Err(actual) => head = actual,
            }
        };
        let Some(real) = claimed else {
            overflow(Overflow {
                inner,
                next: 0,
                end: 0,
                task: Some(task),
            });
            return;
        };
        /// Ends the owner's claim when dropped, even if `overflow` panics or forgets the batch
        /// (unread tasks are then leaked, never read twice).
        struct EndClaim<'a, T>(&'a Inner<T>);
        impl<T> Drop for EndClaim<'_, T> {
            fn drop(&mut self) {
                // Relaxed: while our claim is open only this thread writes `head`.
                self.0.finish_claim(self.0.head.load(Relaxed));
            }
        }
        let _end_claim = EndClaim(inner);
        overflow(Overflow {
            inner,
            next: real,
            end: real.wrapping_add(HALF),
            task: Some(task),
        });
    }

    /// Takes the task at the front, if any.
    #[inline]
    pub(crate) fn pop(&self) -> Option<T> {
        let inner = &*self.inner;
        // Relaxed: a stale value only makes the CAS below fail and retry; the slot we take is
        // one this thread wrote.
        let mut head = inner.head.load(Relaxed);
        // Relaxed: only this thread stores `tail`.
        let tail = inner.tail.load(Relaxed);
        let pos = loop {
            let (steal, real) = unpack(head);
            if real == tail {
                return None;
            }
            let next_real = real.wrapping_add(1);
            // With no claim open, `steal` follows `real`; otherwise the claimer moves it.
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                pack(steal, next_real)
            };
            // Release: pairs with the Acquire loads of `head` in `steal_into`: a stealer that
            // sees the new `real` then sees a `tail` at least as far as ours. Failure Relaxed:
            // as for the load above.
            match inner
                .head
                .compare_exchange_weak(head, next, Release, Relaxed)
            {
                Ok(_) => break real,
                Err(actual) => head = actual,
            }
        };
        // SAFETY: the CAS moved `real` past `pos` while it was below `tail`, so the task there
        // is ours alone; this thread wrote it.
        Some(unsafe { inner.read(pos) })
    }

    /// Number of tasks in the queue (stealers may take some at any moment).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        // Relaxed: any value of `real` this thread can see is at most its own `tail`.
        let (_, real) = unpack(self.inner.head.load(Relaxed));
        let tail = self.inner.tail.load(Relaxed);
        tail.wrapping_sub(real) as usize
    }

    /// Whether the queue has no task.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The tasks an overflowing [`Local::push_back`] moves out: the queue's older half, oldest
/// first, then the pushed task. Tasks not taken are dropped with it.
pub(crate) struct Overflow<'a, T> {
    inner: &'a Inner<T>,
    /// Next claimed position to hand out; `next == end` once they are all out.
    next: u32,
    end: u32,
    /// The pushed task, handed out last.
    task: Option<T>,
}

impl<T> Iterator for Overflow<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.next != self.end {
            let pos = self.next;
            self.next = pos.wrapping_add(1);
            // SAFETY: `[next, end)` was claimed by `push_overflow` (written by this thread,
            // kept from stealers and from the owner's writes until the claim ends, which is
            // after this batch is gone), and each position is handed out once.
            Some(unsafe { self.inner.read(pos) })
        } else {
            self.task.take()
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end.wrapping_sub(self.next) as usize + usize::from(self.task.is_some());
        (n, Some(n))
    }
}

impl<T> ExactSizeIterator for Overflow<'_, T> {}
impl<T> core::iter::FusedIterator for Overflow<'_, T> {}

impl<T> Drop for Overflow<'_, T> {
    fn drop(&mut self) {
        self.for_each(drop);
    }
}

/// A stealer's end of a queue. Cloneable, `Send` and `Sync`: any number of threads may steal
/// at once.
pub(crate) struct Steal<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Steal<T> {
    fn clone(&self) -> Self {
        Steal {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Steal<T> {
    /// Takes half of this queue's tasks (rounded up), the oldest: returns the oldest of them
    /// to run at once and pushes the others onto `dst`, the calling worker's own queue.
    ///
    /// `dst` should be empty (a worker steals when it has run out of work): the steal takes at
    /// most one task more than `dst` has room for. Returns `None` if the queue is empty or
    /// another stealer is busy with it (try another victim).
    pub(crate) fn steal_into(&self, dst: &Local<T>) -> Option<T> {
        let src = &*self.inner;
        let dst_inner = &*dst.inner;
        // Relaxed: we own `dst` (a `&Local` cannot cross threads), so we alone store its tail.
        let dst_tail = dst_inner.tail.load(Relaxed);
        // Acquire: pairs with the Release in `finish_claim` of `dst`'s own stealers: their
        // reads of the slots they took happen before we write into them below.
        let (dst_steal, _) = unpack(dst_inner.head.load(Acquire));
        let room = CAP - dst_tail.wrapping_sub(dst_steal);

        // Claim. Acquire: pairs with the Release of every move of `real` (`pop`, `finish_claim`,
        // and RMWs continuing their release sequences), so the `tail` read next is at least
        // this `real`.
        let mut head = src.head.load(Acquire);
        let (first, claim) = loop {
            let (steal, real) = unpack(head);
            if steal != real {
                // Someone is moving tasks out of this queue; don't queue up behind them.
                return None;
            }
            // Acquire: pairs with the Release store of `tail` in `push_back`, so the tasks in
            // `[real, tail)` are visible.
            let tail = src.tail.load(Acquire);
            let len = tail.wrapping_sub(real);
            if len == 0 {
                return None;
            }
            // Half, rounded up, at most one more than fits in `dst`. If `head` is stale, `len`
            // may exceed the capacity, but then the CAS fails.
            let n = (len - len / 2).min(room + 1);
            let claim = pack(steal, real.wrapping_add(n));
            // Success Relaxed: the value read is the one loaded above (positions only move
            // forward, so it is the same write), already acquired. Failure Acquire: as for
            // the load above.
            match src
                .head
                .compare_exchange_weak(head, claim, Relaxed, Acquire)
            {
                Ok(_) => break (real, claim),
                Err(actual) => head = actual,
            }
        };
        let n = unpack(claim).1.wrapping_sub(first);
        #[cfg(any(debug_assertions, loom))]
        assert!((1..=HALF).contains(&n) && n <= room + 1, "bad steal of {n}");

        // SAFETY: our claim made `first` ours alone; the Acquire load of `tail` that showed it
        // below `tail` makes its write visible. Read once; the claim keeps the owner from
        // rewriting it until `finish_claim`.
        let task = unsafe { src.read(first) };
        for i in 1..n {
            // SAFETY: as for `first`: `first + i` is in our claim, below the `tail` we read.
            let t = unsafe { src.read(first.wrapping_add(i)) };
            // SAFETY: we own `dst`; `dst_tail + i - 1` is at or after its tail and, as
            // `n - 1 <= room`, less than `CAPACITY` past `dst_steal`, read with Acquire.
            unsafe { dst_inner.write(dst_tail.wrapping_add(i - 1), t) };
        }
        if n > 1 {
            // Release: pairs with the Acquire load of `tail` in `steal_into` on `dst`: its
            // stealers that see the new tail see the tasks written above.
            dst_inner.tail.store(dst_tail.wrapping_add(n - 1), Release);
        }
        src.finish_claim(claim);
        Some(task)
    }

    /// Whether the queue looked empty (a hint: it may change at any moment).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many tasks the queue held (a hint: it may change at any moment).
    pub(crate) fn len(&self) -> usize {
        // Acquire: as in `steal_into`, so the `tail` read next is at least this `real`.
        let (_, real) = unpack(self.inner.head.load(Acquire));
        // Relaxed: a count, no task is read.
        let tail = self.inner.tail.load(Relaxed);
        (tail.wrapping_sub(real) as usize).min(CAPACITY)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    fn no_overflow<T>(_: Overflow<'_, T>) {
        panic!("unexpected overflow");
    }

    fn drain<T>(q: &Local<T>) -> Vec<T> {
        core::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn handles_are_send_and_sync_as_documented() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync + Clone>() {}
        send::<Local<Box<u8>>>();
        send_sync::<Steal<Box<u8>>>();
    }

    #[test]
    fn push_pop_fifo() {
        let (q, _s) = local::<usize>();
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
        for i in 0..10 {
            q.push_back(i, no_overflow);
        }
        assert_eq!(q.len(), 10);
        assert_eq!(q.pop(), Some(0));
        q.push_back(10, no_overflow);
        assert_eq!(drain(&q), (1..=10).collect::<Vec<_>>());
        assert!(q.is_empty());
    }

    #[test]
    fn fill_exactly_then_overflow_moves_half_plus_new() {
        for start in [0, u32::MAX - 3] {
            let (q, _s) = with_start::<usize>(start);
            // Go round the ring a few times first.
            for i in 0..3 * CAPACITY {
                q.push_back(i, no_overflow);
                assert_eq!(q.pop(), Some(i));
            }
            for i in 0..CAPACITY {
                q.push_back(i, no_overflow);
            }
            assert_eq!(q.len(), CAPACITY);
            let mut moved = Vec::new();
            q.push_back(CAPACITY, |batch| {
                assert_eq!(batch.len(), CAPACITY / 2 + 1);
                moved.extend(batch);
            });
            let mut want: Vec<usize> = (0..CAPACITY / 2).collect();
            want.push(CAPACITY);
            assert_eq!(moved, want);
            assert_eq!(q.len(), CAPACITY / 2);
            // There is room again.
            q.push_back(CAPACITY + 1, no_overflow);
            let mut rest: Vec<usize> = (CAPACITY / 2..CAPACITY).collect();
            rest.push(CAPACITY + 1);
            assert_eq!(drain(&q), rest);
        }
    }

    /// Drop counter for tasks.
    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    #[test]
    fn overflow_drops_what_the_sink_leaves_and_queue_drops_the_rest() {
        let drops = AtomicUsize::new(0);
        {
            let (q, s) = local();
            for _ in 0..CAPACITY {
                q.push_back(Counted(&drops), no_overflow);
            }
            q.push_back(Counted(&drops), |mut batch| {
                drop(batch.next());
            });
            assert_eq!(drops.load(Relaxed), CAPACITY / 2 + 1);
            drop(q);
            // The stealer's handle keeps the queue and its tasks alive.
            assert_eq!(drops.load(Relaxed), CAPACITY / 2 + 1);
            drop(s);
        }
        assert_eq!(drops.load(Relaxed), CAPACITY + 1);
    }

    #[test]
    fn overflow_sink_may_use_the_queue_reentrantly() {
        let (q, _s) = local::<usize>();
        for i in 0..CAPACITY {
            q.push_back(i, no_overflow);
        }
        let nested = RefCell::new(Vec::new());
        let mut moved = Vec::new();
        q.push_back(1000, |batch| {
            // The claimed half is out of reach; the rest is still poppable.
            assert_eq!(q.pop(), Some(CAPACITY / 2));
            // Still full from the owner's view until the claim ends: a nested push overflows
            // alone.
            q.push_back(2000, |b| nested.borrow_mut().extend(b));
            moved.extend(batch);
        });
        assert_eq!(nested.into_inner(), [2000]);
        assert_eq!(moved.len(), CAPACITY / 2 + 1);
        assert_eq!(q.len(), CAPACITY / 2 - 1);
        q.push_back(3000, no_overflow);
        let rest = drain(&q);
        assert_eq!(rest.first(), Some(&(CAPACITY / 2 + 1)));
        assert_eq!(rest.last(), Some(&3000));
    }

    #[test]
    fn queue_survives_a_panicking_overflow_sink() {
        let (q, s) = local::<Box<usize>>();
        for i in 0..CAPACITY {
            q.push_back(Box::new(i), no_overflow);
        }
        let sink_panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            q.push_back(Box::new(CAPACITY), |_| panic!("sink panics (expected)"))
        }));
        assert!(sink_panicked.is_err());
        // The claim ended: the newer half is left, there is room, and stealers may steal.
        assert_eq!(q.len(), CAPACITY / 2);
        q.push_back(Box::new(1000), no_overflow);
        let (mine, _) = local();
        assert_eq!(s.steal_into(&mine).as_deref(), Some(&(CAPACITY / 2)));
    }

    #[test]
    fn steal_takes_half_rounded_up_oldest_first() {
        for start in [0, u32::MAX - 2] {
            let (q, s) = with_start::<usize>(start);
            let (mine, _mine_s) = with_start::<usize>(start.wrapping_add(7));
            assert_eq!(s.steal_into(&mine), None);
            for i in 0..7 {
                q.push_back(i, no_overflow);
            }
            assert_eq!(s.len(), 7);
            assert_eq!(s.steal_into(&mine), Some(0));
            assert_eq!(drain(&mine), [1, 2, 3]);
            assert_eq!(s.steal_into(&mine), Some(4));
            assert_eq!(drain(&mine), [5]);
            assert_eq!(s.steal_into(&mine), Some(6));
            assert!(mine.is_empty() && q.is_empty() && s.is_empty());
            assert_eq!(s.steal_into(&mine), None);
        }
    }

    #[test]
    fn steal_takes_no_more_than_fits() {
        let (q, s) = local::<usize>();
        let (mine, _mine_s) = local::<usize>();
        for i in 0..CAPACITY {
            q.push_back(i, no_overflow);
        }
        for i in 0..CAPACITY - 2 {
            mine.push_back(1000 + i, no_overflow);
        }
        // Room for 2 in `mine`: 3 taken, one returned.
        assert_eq!(s.steal_into(&mine), Some(0));
        assert_eq!(mine.len(), CAPACITY);
        assert_eq!(q.len(), CAPACITY - 3);
        // Full `mine`: 1 taken.
        assert_eq!(s.steal_into(&mine), Some(3));
        assert_eq!(q.len(), CAPACITY - 4);
        assert_eq!(drain(&mine)[CAPACITY - 2..], [1, 2]);
    }

    #[test]
    fn stealing_from_own_queue_is_harmless() {
        let (q, s) = local::<usize>();
        for i in 0..5 {
            q.push_back(i, no_overflow);
        }
        assert_eq!(s.steal_into(&q), Some(0));
        assert_eq!(drain(&q), [3, 4, 1, 2]);
    }

    /// One owner pushing and popping (and overflowing), three stealers stealing from it and
    /// from each other: every task is run exactly once.
    #[test]
    fn stress_every_task_once() {
        const TASKS: usize = if cfg!(debug_assertions) {
            200_000
        } else {
            1_000_000
        };
        const STEALERS: usize = 3;
        let (owner_q, owner_s) = local::<usize>();
        let queues: Vec<_> = (0..STEALERS).map(|_| local::<usize>()).collect();
        let mut victims = vec![owner_s];
        victims.extend(queues.iter().map(|(_, s)| s.clone()));
        let injected = Mutex::new(Vec::new());
        let (stolen, overflows) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let done = AtomicBool::new(false);
        let start = std::sync::Barrier::new(STEALERS + 1);
        let seen: Vec<AtomicUsize> = (0..TASKS).map(|_| AtomicUsize::new(0)).collect();
        let run = |t: usize| {
            seen[t].fetch_add(1, Relaxed);
        };
        std::thread::scope(|scope| {
            for (me, (q, _)) in queues.into_iter().enumerate() {
                let (victims, done, run, stolen, start) = (&victims, &done, &run, &stolen, &start);
                scope.spawn(move || {
                    start.wait();
                    let mut turn = me;
                    loop {
                        while let Some(t) = q.pop() {
                            run(t);
                        }
                        let finished = done.load(Acquire);
                        let mut got = false;
                        for _ in 0..victims.len() {
                            turn = (turn + 1) % victims.len();
                            if let Some(t) = victims[turn].steal_into(&q) {
                                stolen.fetch_add(1 + q.len(), Relaxed);
                                run(t);
                                got = true;
                                break;
                            }
                        }
                        if !got {
                            if finished {
                                // `done` was set before this sweep, and the owner's queue
                                // was empty then: what remains is in other stealers' own
                                // queues, which they drain themselves.
                                break;
                            }
                            std::thread::yield_now();
                        }
                    }
                });
            }
            start.wait();
            let mut next = 0;
            let mut rng = 0x2545_f491_4f6c_dd1d_u64;
            while next < TASKS {
                if next % 512 == 0 {
                    // Let the stealers in on machines with fewer cores than threads.
                    std::thread::yield_now();
                }
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                for _ in 0..rng % 8 {
                    if next < TASKS {
                        owner_q.push_back(next, |b| {
                            overflows.fetch_add(1, Relaxed);
                            injected.lock().unwrap().extend(b);
                        });
                        next += 1;
                    }
                }
                for _ in 0..(rng >> 8) % 6 {
                    if let Some(t) = owner_q.pop() {
                        run(t);
                    }
                }
            }
            while let Some(t) = owner_q.pop() {
                run(t);
            }
            done.store(true, Release);
        });
        let injected = injected.into_inner().unwrap();
        println!(
            "stress: {} tasks stolen, {} overflows moving {} tasks",
            stolen.load(Relaxed),
            overflows.load(Relaxed),
            injected.len()
        );
        for t in injected {
            run(t);
        }
        let bad: Vec<_> = (0..TASKS)
            .filter(|&t| seen[t].load(Relaxed) != 1)
            .take(10)
            .map(|t| (t, seen[t].load(Relaxed)))
            .collect();
        assert!(bad.is_empty(), "tasks run other than once: {bad:?}");
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Models on the 4-slot loom ring, with positions starting just below the `u32` wrap.
    //! Tasks are numbers; each model checks that every task is taken exactly once (by `pop`,
    //! a steal, or the overflow sink), and loom checks that no slot is read and written
    //! concurrently (the slots are loom cells).
    //!
    //! loom 0.7 may stop exploring when a spawned thread's first operation is an atomic load
    //! (tokio-rs/loom#392), and every queue operation starts with one: threads are spawned
    //! through `spawn`, which works around it, and `explore` counts executions and fails a
    //! model that explored only one. Every model was checked to fail when an ordering or a
    //! CAS of the protocol is weakened (see the orderings' comments for what each pairs with).

    use super::*;
    use loom::thread::{self, JoinHandle};
    use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

    const START: u32 = u32::MAX - 2;

    /// `loom::thread::spawn`, working around tokio-rs/loom#392: the new thread opens with a
    /// store that the spawning thread then loads, so that loom sees the two race from the
    /// start. Without it some models explored a single execution, or far fewer.
    fn spawn<R: 'static>(f: impl FnOnce() -> R + 'static) -> JoinHandle<R> {
        let started = Arc::new(crate::loom::AtomicUsize::new(0));
        let th = {
            let started = started.clone();
            thread::spawn(move || {
                started.store(1, Relaxed);
                f()
            })
        };
        started.load(Relaxed);
        th
    }

    /// Runs `model` under loom with at most `bound` preemptions (unless `LOOM_MAX_PREEMPTIONS`
    /// says otherwise) and checks that it explored more than one execution.
    fn explore(name: &str, bound: Option<usize>, model: impl Fn() + Sync + Send + 'static) {
        let executions = std::sync::Arc::new(StdAtomicUsize::new(0));
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = bound;
        }
        let started = std::time::Instant::now();
        let counter = executions.clone();
        builder.check(move || {
            counter.fetch_add(1, StdOrdering::Relaxed);
            model();
        });
        let n = executions.load(StdOrdering::Relaxed);
        println!("{name}: {n} executions in {:.2?}", started.elapsed());
        assert!(n > 1, "{name}: loom explored a single execution");
    }

    /// A queue whose positions cross the `u32` wrap, holding `tasks`.
    fn queue_with(tasks: core::ops::Range<usize>) -> (Local<usize>, Steal<usize>) {
        let (q, s) = with_start(START);
        for t in tasks {
            q.push_back(t, |_| unreachable!("overflow while filling"));
        }
        (q, s)
    }

    /// Everything left in `q`.
    fn drain(q: &Local<usize>) -> impl Iterator<Item = usize> + '_ {
        core::iter::from_fn(|| q.pop())
    }

    /// Asserts that `seen` holds each of `0..n` once.
    fn check(mut seen: Vec<usize>, n: usize) {
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "tasks lost or duplicated");
    }

    type Stolen = (Option<usize>, Local<usize>);

    /// A thread that steals once from `victim` into `mine` (a fresh queue if `None`) and
    /// hands back what it got and its queue, drained after the join to keep models small.
    fn stealer(victim: Steal<usize>, mine: Option<Local<usize>>) -> JoinHandle<Stolen> {
        spawn(move || {
            let mine = mine.unwrap_or_else(|| with_start(START).0);
            (victim.steal_into(&mine), mine)
        })
    }

    /// The tasks a `stealer` thread took.
    fn joined(th: JoinHandle<Stolen>) -> Vec<usize> {
        let (got, mine) = th.join().unwrap();
        got.into_iter().chain(drain(&mine)).collect()
    }

    /// The owner pushes (around the ring, overflowing if need be) and pops while a stealer
    /// steals.
    #[test]
    fn loom_push_pop_vs_one_stealer() {
        explore("push_pop_vs_one_stealer", Some(5), || {
            let (q, s) = queue_with(0..1);
            let th = stealer(s, None);
            let mut seen = Vec::new();
            q.push_back(1, |b| seen.extend(b));
            seen.extend(q.pop());
            for t in 2..5 {
                q.push_back(t, |b| seen.extend(b));
            }
            seen.extend(drain(&q));
            seen.extend(joined(th));
            check(seen, 5);
        });
    }

    /// Two stealers race each other and the owner.
    #[test]
    fn loom_push_pop_vs_two_stealers() {
        explore("push_pop_vs_two_stealers", Some(3), || {
            let (q, s) = queue_with(0..3);
            let th1 = stealer(s.clone(), None);
            let th2 = stealer(s, None);
            let mut seen = Vec::new();
            q.push_back(3, |b| seen.extend(b));
            seen.extend(q.pop());
            q.push_back(4, |b| seen.extend(b));
            seen.extend(joined(th1));
            seen.extend(joined(th2));
            seen.extend(drain(&q));
            check(seen, 5);
        });
    }

    /// A steal races a push into a full queue: the push overflows half plus the new task,
    /// the new task alone (steal claim open), or nothing (steal committed first). Checks
    /// that all three happen.
    #[test]
    fn loom_steal_vs_overflow() {
        static BATCHES: StdAtomicUsize = StdAtomicUsize::new(0);
        explore("steal_vs_overflow", None, || {
            let (q, s) = queue_with(0..CAPACITY);
            let th = stealer(s, None);
            let mut seen = Vec::new();
            let mut batch = 0;
            q.push_back(CAPACITY, |b| {
                batch = b.len();
                seen.extend(b);
            });
            BATCHES.fetch_or(1 << batch, StdOrdering::Relaxed);
            seen.extend(q.pop());
            q.push_back(CAPACITY + 1, |b| seen.extend(b));
            seen.extend(joined(th));
            seen.extend(drain(&q));
            check(seen, CAPACITY + 2);
        });
        let want = 1 | 1 << 1 | 1 << (HALF + 1);
        assert_eq!(
            BATCHES.load(StdOrdering::Relaxed),
            want,
            "overflow outcomes"
        );
    }

    /// Worker A steals into its own queue (the model's main thread) while worker B steals
    /// from that queue. Returns the number of tasks.
    ///
    /// A is the main thread and B the spawned one: the other way round, loom explored a
    /// single execution (B's steal, on the main thread, ran first to completion).
    fn steal_chain(a_holds: usize) -> usize {
        let (_, victim) = queue_with(0..3);
        let (a, a_steal) = queue_with(3..3 + a_holds);
        let b = stealer(a_steal, None);
        let mut seen: Vec<usize> = victim.steal_into(&a).into_iter().collect();
        seen.extend(joined(b));
        seen.extend(drain(&a));
        while let Some(t) = victim.steal_into(&a) {
            seen.push(t);
            seen.extend(drain(&a));
        }
        check(seen, 3 + a_holds);
        3 + a_holds
    }

    /// A's queue is full: A's steal may write only into slots whose reader, B, has committed.
    #[test]
    fn loom_steal_into_queue_being_stolen_from() {
        explore("steal_into_queue_being_stolen_from", None, || {
            steal_chain(CAPACITY);
        });
    }

    /// A's queue is empty: the tasks B takes were written by A's steal.
    #[test]
    fn loom_steal_from_queue_being_stolen_into() {
        explore("steal_from_queue_being_stolen_into", None, || {
            steal_chain(0);
        });
    }
}
