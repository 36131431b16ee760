//! The one-shot claim at the heart of every wait.
//!
//! A waiter (a fiber, or a plain thread) puts a [`Signal`] on its stack and links one or
//! more wait nodes that point at it into primitives' wait lists. Everything that may end
//! the wait races for the signal with a single compare-and-swap: a notifier (tagging it
//! with what it did, e.g. "the lock is yours" or "select arm 3"), or the waiter itself when
//! its deadline passes. Exactly one wins; the others back out.
//!
//! The winner may then do the work the claim entitles it to (move a message into the
//! waiter's slot), takes the waiter's waker out of the signal, and publishes DONE with a
//! release store. That store is its last touch of the signal and of every node pointing at
//! it: the waiter may return, and free its stack frame, as soon as it sees DONE. The winner
//! wakes the waker it took after that (usually after dropping the primitive's lock).
//!
//! State word: `WAITING` (0), or `tag << TAG_SHIFT | CLAIMED`, later `| DONE`.

use crate::loom::{AtomicUsize, Ordering, UnsafeCell, thread};
use crate::runtime::fiber;
use std::ptr::NonNull;
#[cfg(not(loom))]
use std::time::Instant;

/// When a wait gives up: `None` waits forever. Under loom a deadline is `Some(())` and has
/// always passed already, so the models race every timed wait's cancel against notifiers.
#[cfg(not(loom))]
pub(crate) type Deadline = Option<Instant>;
/// See the non-loom definition.
#[cfg(loom)]
pub(crate) type Deadline = Option<()>;

const WAITING: usize = 0;
const CLAIMED: usize = 1;
const DONE: usize = 2;
const TAG_SHIFT: u32 = 2;

/// The tag the waiter claims its own signal with when its deadline passes.
pub(crate) const TIMED_OUT: usize = usize::MAX >> TAG_SHIFT;

/// Who waits on a signal: recorded by the owner, used by the claim's winner.
enum Owner {
    /// A fiber, by address: no reference count is taken, because the claim's winner
    /// marks the fiber woken *before* it publishes DONE, while the fiber cannot have
    /// finished (it waits for DONE); see [`Signal::complete`].
    #[cfg_attr(loom, allow(dead_code))]
    Fiber(NonNull<fiber::Fiber>),
    /// A plain thread (or a fiber being unwound at shutdown), to `unpark`.
    Thread(thread::Thread),
}

/// What the claim's winner must do after publishing DONE (and dropping its lock).
pub(crate) enum Waker {
    /// Queue this fiber, which was parked: the winner's `notify` took it over.
    Fiber(fiber::FiberRef),
    /// Unpark this thread.
    Thread(thread::Thread),
    /// Nothing: the fiber was still running, and its worker requeues it when it tries to
    /// park.
    Nothing,
}

impl Waker {
    /// Wakes the waiter. A wake that arrives after the waiter stopped waiting is a
    /// spurious wake-up of its next wait, which every wait loop tolerates.
    #[inline]
    pub(crate) fn wake(self) {
        match self {
            Waker::Fiber(f) => crate::runtime::schedule_woken(f),
            Waker::Thread(t) => t.unpark(),
            Waker::Nothing => {}
        }
    }

    /// As [`wake`](Self::wake), for a waiter that now holds something others wait for
    /// (a lock handed over to it, permits granted): a fiber runs before the other ready
    /// fibers of its worker, so that it lets go soon. (A fiber that was still running
    /// runs next anyway: its worker requeues a fiber woken before it parked as next.)
    #[inline]
    pub(crate) fn wake_holder(self) {
        match self {
            Waker::Fiber(f) => crate::runtime::schedule_woken_first(f),
            other => other.wake(),
        }
    }
}

/// A waiter's one-shot claim and its waker. Lives on the waiter's stack.
pub(crate) struct Signal {
    state: AtomicUsize,
    /// Written by the owner before any node pointing here is published (nodes are
    /// published by linking them under a lock, whose release carries this write), taken
    /// once by the claim's winner before it publishes DONE.
    owner: UnsafeCell<Option<Owner>>,
    /// The owner, if it suspends as a fiber (else it parks its thread); only the owner
    /// itself uses this copy, while it runs.
    #[cfg_attr(loom, allow(dead_code))]
    fiber: Option<NonNull<fiber::Fiber>>,
}

// SAFETY: `waker` is written by the owner before the signal is shared and afterwards taken
// only by the single winner of the claim CAS (see the field docs); the waker it holds is
// Send (a counted fiber reference, or a `Thread`).
unsafe impl Sync for Signal {}
// SAFETY: as above.
unsafe impl Send for Signal {}

impl Signal {
    /// A signal for the calling fiber or thread.
    #[inline]
    pub(crate) fn new() -> Signal {
        #[cfg(not(loom))]
        let fiber = fiber::current_fiber_ptr_unless_unwinding();
        #[cfg(loom)]
        let fiber = None;
        Signal {
            fiber,
            state: AtomicUsize::new(WAITING),
            owner: UnsafeCell::new(Some(match fiber {
                Some(f) => Owner::Fiber(f),
                None => Owner::Thread(thread::current()),
            })),
        }
    }

    /// Races for the claim, as a notifier. On success the caller must finish with
    /// [`Signal::complete`] (and may first do the work `tag` stands for).
    #[inline]
    pub(crate) fn try_claim(&self, tag: usize) -> bool {
        debug_assert!(tag < TIMED_OUT);
        // Acquire on success: pairs with nothing the owner releases through this word (its
        // writes reach us through the lock that published its node); it keeps the
        // claimer's later accesses to the waiter's slots after the claim itself.
        self.state
            .compare_exchange(
                WAITING,
                tag << TAG_SHIFT | CLAIMED,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Publishes the end of the wait; returns the waker for the caller to wake (after
    /// dropping any lock, preferably). The caller must not touch this signal, or any node
    /// or slot of its owner, afterwards.
    ///
    /// A fiber owner is marked woken here, before DONE, while it surely exists (it cannot
    /// return before DONE): if it was parked, the returned waker queues it; if it was still
    /// running, its worker requeues it when it tries to park, and it then spins for the
    /// DONE that follows in a few instructions (see [`Signal::wait`]).
    ///
    /// # Safety
    /// The caller won [`Signal::try_claim`] and calls this once.
    #[inline]
    pub(crate) unsafe fn complete(&self) -> Waker {
        // SAFETY: the claim's winner is the only one to take the owner (see `owner`).
        let owner = self.owner.with_mut(|w| unsafe { (*w).take() });
        let waker = match owner.expect("fibra: a signal completed twice") {
            // SAFETY: the owner waits for DONE, so its fiber is alive (started and not
            // finished: its worker's live set holds it).
            Owner::Fiber(f) => match unsafe { f.as_ref() }.notify() {
                Some(parked) => Waker::Fiber(parked),
                None => Waker::Nothing,
            },
            Owner::Thread(t) => Waker::Thread(t),
        };
        // Once claimed, the word changes only here, by the claim's winner (the others'
        // CASes expect WAITING and fail without writing): a load of our own claim and a
        // plain store do what a `fetch_or` would, without a locked instruction.
        let claimed = self.state.load(Ordering::Relaxed);
        debug_assert!(claimed & CLAIMED != 0 && claimed & DONE == 0);
        // Release: pairs with the acquire loads in `done_tag`; everything the claimer
        // wrote for the owner (a message in its slot) is visible once it sees DONE. After
        // this store the owner may be gone.
        self.state.store(claimed | DONE, Ordering::Release);
        waker
    }

    /// The tag, once DONE is published.
    #[inline]
    fn done_tag(&self) -> Option<usize> {
        // Acquire: pairs with the release in `complete` (and in `try_cancel`).
        let s = self.state.load(Ordering::Acquire);
        (s & DONE != 0).then_some(s >> TAG_SHIFT)
    }

    /// The owner claims its own signal because its deadline passed. Returns true if it
    /// won: nobody will touch the signal any more. If it lost, a notifier won and the
    /// owner must still wait for DONE ([`Signal::wait`]) and honour the tag.
    #[inline]
    pub(crate) fn try_cancel(&self) -> bool {
        // Acquire on failure: not needed for the tag (the owner reads it again with
        // acquire in `wait`); Relaxed success: nobody reads the signal after it.
        self.state
            .compare_exchange(
                WAITING,
                TIMED_OUT << TAG_SHIFT | CLAIMED | DONE,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Whether a notifier has claimed the signal (DONE may not be published yet).
    #[inline]
    pub(crate) fn is_claimed(&self) -> bool {
        self.state.load(Ordering::Relaxed) != WAITING
    }

    /// Waits until a claim's winner published DONE; returns its tag.
    #[inline]
    pub(crate) fn wait(&self) -> usize {
        loop {
            if let Some(tag) = self.done_tag() {
                return tag;
            }
            if self.is_claimed() {
                return self.wait_done_spinning();
            }
            self.park();
        }
    }

    /// Waits until a claim's winner published DONE, without parking or suspending (for a
    /// waiter whose stack is being unwound, which must not suspend: see
    /// [`UnwindGuard`](super::unwind_guard::UnwindGuard)); returns its tag. The winner
    /// publishes DONE right after its claim, without suspending in between, so this spins
    /// only briefly.
    #[cold]
    pub(crate) fn wait_done_spinning(&self) -> usize {
        let mut spins = 0u32;
        loop {
            if let Some(tag) = self.done_tag() {
                return tag;
            }
            // The winner publishes DONE a few instructions after its claim, unless its
            // thread was preempted: spin briefly, then give the CPU away.
            if spins < 64 && !cfg!(loom) {
                spins += 1;
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
    }

    /// Waits until DONE, or until `deadline` passes and the owner wins the claim itself
    /// (then returns [`TIMED_OUT`]).
    #[cfg(loom)]
    pub(crate) fn wait_deadline(&self, deadline: Deadline) -> usize {
        if let Some(tag) = self.done_tag() {
            return tag;
        }
        if deadline.is_some() && self.try_cancel() {
            return TIMED_OUT;
        }
        self.wait()
    }

    /// Waits until DONE, or until `deadline` passes and the owner wins the claim itself
    /// (then returns [`TIMED_OUT`]).
    #[cfg(not(loom))]
    pub(crate) fn wait_deadline(&self, deadline: Deadline) -> usize {
        let Some(deadline) = deadline else {
            return self.wait();
        };
        loop {
            if let Some(tag) = self.done_tag() {
                return tag;
            }
            if self.is_claimed() {
                return self.wait_done_spinning();
            }
            if Instant::now() >= deadline {
                if self.try_cancel() {
                    return TIMED_OUT;
                }
                return self.wait();
            }
            self.park_until(deadline);
        }
    }

    /// One park, possibly spurious.
    #[cold]
    fn park(&self) {
        #[cfg(not(loom))]
        if let Some(me) = self.fiber {
            // SAFETY: `me` is the fiber that created this signal, and only it waits on
            // the signal: we are that fiber, running on its stack (so it is alive).
            unsafe { fiber::park_self(me.as_ref()) };
            return;
        }
        #[cfg(not(loom))]
        if fiber::in_fiber() {
            // A fiber being unwound at shutdown: poll (see `join::wait_for_wake`).
            thread::park_timeout(std::time::Duration::from_millis(1));
            return;
        }
        thread::park();
    }

    /// One park bounded by `deadline`, possibly spurious.
    #[cfg(not(loom))]
    #[cold]
    fn park_until(&self, deadline: Instant) {
        if self.fiber.is_some() {
            fiber::park_until(deadline);
            return;
        }
        let mut left = deadline.saturating_duration_since(Instant::now());
        if fiber::in_fiber() {
            left = left.min(std::time::Duration::from_millis(1));
        }
        thread::park_timeout(left);
    }
}

/// The deadline `timeout` from now; a timeout too large to add waits forever.
#[cfg(not(loom))]
#[inline]
pub(crate) fn deadline_after(timeout: std::time::Duration) -> Deadline {
    Instant::now().checked_add(timeout)
}

/// The deadline `at`.
#[cfg(not(loom))]
#[inline]
pub(crate) fn deadline_at(at: Instant) -> Deadline {
    Some(at)
}

/// Under loom every deadline has passed already (see [`Deadline`]).
#[cfg(loom)]
#[inline]
pub(crate) fn deadline_at(_at: std::time::Instant) -> Deadline {
    Some(())
}

/// Under loom every timeout has passed already (see [`Deadline`]).
#[cfg(loom)]
#[inline]
pub(crate) fn deadline_after(_timeout: std::time::Duration) -> Deadline {
    Some(())
}
