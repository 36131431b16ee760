//! How idle workers sleep ([`Driver`], [`ThreadDriver`]) and whom to wake when work
//! appears ([`Idle`]).
//!
//! # Drivers
//!
//! Each worker owns one [`Driver`]: it sleeps in `park` when it has nothing to run, and
//! other threads `unpark` it. The default is [`ThreadDriver`] (futex on Linux, mutex and
//! condvar elsewhere). On Linux the workers sleep in their I/O poller instead (io_uring or
//! epoll, `crate::io`), so a parked worker also wakes for I/O completions; see [`Driver`]
//! for how it fits.
//!
//! # The worker loop's side of the protocol
//!
//! [`Idle`] keeps the counts; the worker loop must follow these rules for its guarantee
//! (below) to hold. The loom models run them as a small worker loop (`sim.rs`).
//!
//! 1. **Publish, then notify.** After pushing work that any worker may take (its run queue,
//!    which others steal from, or the injection queue), call [`Idle::notify_one`].
//!    Work for one particular worker goes to its inbox instead, whose pusher unparks that
//!    worker's driver directly when `Inbox::push` returns true.
//! 2. **Search before sleeping.** Out of local work (run queue, LIFO slot, inbox, due
//!    timers), a worker calls [`Idle::transition_worker_to_searching`]; if allowed, it
//!    steals from the other workers and takes from the injection queue.
//! 3. **Hand the search on.** When a searching worker starts running something it calls
//!    [`Idle::transition_worker_from_searching`], and if that returns true (it was the last
//!    searcher) it calls [`Idle::notify_one`]. Without this, work a notifier left to it
//!    waits until it finishes what it is running, even with other workers asleep.
//! 4. **Look once more when told.** With nothing found, it calls
//!    [`Idle::worker_to_parked`]`(id, is_searching)`; if that returns true (last searcher,
//!    or a notifier's search request) it checks the injection queue and every run queue
//!    once more and calls [`Idle::notify_one`] if any is non-empty (which may pick the
//!    worker itself: its park then returns at once). It checks its own inbox and timers
//!    last, then parks.
//! 5. **Sort out the wake-up.** When `park` returns: with work of its own (inbox items, a
//!    due timer, I/O), it is searching iff [`Idle::unpark_worker_by_id`]`(id)` returns
//!    false (a notifier already took it off the list as a searcher); with no work of its
//!    own, [`Idle::is_parked`]`(id)` true means a spurious wake-up (park again), false
//!    means it was woken to search (rule 2, already counted as searching).
//!
//! # Why no work is left behind
//!
//! The guarantee: work published before `notify_one` is seen by some worker, so it is never
//! left queued while every worker sleeps, nor while some sleep and the rest are busy.
//!
//! `notify_one` runs a SeqCst fence and then loads the state word; `worker_to_parked`, the
//! only way to sleep, changes the word and then runs a SeqCst fence before the caller's
//! re-check. Of two SeqCst fences one comes first, so either the notifier sees the parking
//! worker's change, or that worker's re-check sees the notifier's work (the Dekker pattern
//! of Go's and tokio's schedulers). What the notifier saw then decides:
//! - **A searcher, or a pending search request:** nothing to do. The last searcher to stop
//!   either parks and re-checks (rule 4), or runs something and notifies in turn
//!   (rule 3); a request is taken by the next worker to search or to park, which
//!   re-checks (a searcher does so when it parks as the last one).
//! - **No searcher, some sleeper:** it takes one off the list, counted as searching, and
//!   unparks it; the driver's release/acquire makes the work visible to it.
//! - **Everyone awake, no searcher:** a worker may be about to sleep without searching (it
//!   was refused a moment ago, when others searched), and nothing would make it look. So
//!   the notifier sets the search request (under the sleepers lock, where it is sure no
//!   one sleeps), and that worker's `worker_to_parked` returns true. This is Go's
//!   `needspinning`; tokio lacks it, and the `loom_idle_busy_worker_hands_search_on`
//!   model strands work without it.
//!
//! `transition_worker_to_searching` and `transition_worker_from_searching` need no fence:
//! a searcher whose scan misses fresh work still re-checks (or notifies) before it can
//! sleep.

// On Linux the workers park in their I/O poller (`crate::io`); the thread driver is
// the other targets' (and loom's, and the unit tests').
#[cfg_attr(all(target_os = "linux", not(loom), not(test)), allow(dead_code))]
mod futex;
mod idle;
#[cfg_attr(all(target_os = "linux", not(loom), not(test)), allow(dead_code))]
mod thread;

pub(crate) use idle::{Idle, MAX_WORKERS};
#[cfg_attr(all(target_os = "linux", not(loom), not(test)), allow(unused_imports))]
pub(crate) use thread::ThreadDriver;

use core::time::Duration;

/// How a worker sleeps when it has nothing to run, and how other threads wake it.
///
/// One driver per worker. Only that worker calls [`park`](Self::park), never two threads
/// at once; any thread may call [`unpark`](Self::unpark).
///
/// # Contract
/// - `park(None)` blocks until an `unpark`; `park(Some(d))` also returns once `d` has
///   passed; `park(Some(Duration::ZERO))` never blocks (a poll). Spurious returns are
///   allowed: the worker treats every return as "look for work again".
/// - No lost wake-up: an `unpark` that happens before a `park`, or while the worker is on
///   its way into it, makes that `park` return promptly. Unparks are not counted: several
///   before one `park` wake that one park only.
/// - What the unparking thread did before `unpark` (pushing work, filling an inbox) is
///   visible to the worker after the `park` it woke returns (release/acquire).
/// - `unpark` on a worker that is not parked costs one atomic swap, no system call.
///
/// # The I/O driver
/// The I/O driver (`crate::io::parker::IoParker` with the worker's poller) keeps [`ThreadDriver`]'s state word (EMPTY / NOTIFIED / PARKED,
/// see its docs) and swaps the futex for its poller plus an eventfd registered in it:
/// - `park(timeout)`: decrement the word (NOTIFIED: consumed, poll without blocking and
///   return); flush pending submissions; wait in `io_uring_enter(GETEVENTS)` /
///   `epoll_wait` with `timeout` (the time to the worker's next timer); swap EMPTY back in;
///   drain the eventfd if it fired; dispatch completions (on this worker, so waking their
///   fibers is local). `park(Some(ZERO))` is the bounded-rounds flush-and-reap the worker
///   runs while busy.
/// - `unpark()`: `if state.swap(NOTIFIED, Release) == PARKED { write(eventfd, 1) }`.
///
/// The eventfd is a counter that stays readable until drained, so a write landing before
/// the wait starts still ends it: it plays the part of the futex's compare-with-PARKED. A
/// write that lands after the wait ended for another reason leaves the eventfd readable,
/// so the next park returns at once (spuriously) and drains it.
pub(crate) trait Driver: Send + Sync {
    /// Blocks the calling worker until unparked, the timeout passes, or spuriously (see
    /// the trait docs).
    #[cfg_attr(all(target_os = "linux", not(loom), not(test)), allow(dead_code))]
    fn park(&self, timeout: Option<Duration>);

    /// Wakes the worker parked on this driver, or makes its next `park` return at once.
    fn unpark(&self);
}

/// A pointer to a driver is a driver: workers keep theirs cache-padded, the I/O driver
/// may be boxed or shared.
macro_rules! forward_driver {
    ($([$($bound:tt)*] $ptr:ty),* $(,)?) => {$(
        impl<D: Driver $($bound)*> Driver for $ptr {
            #[inline]
            fn park(&self, timeout: Option<Duration>) {
                (**self).park(timeout);
            }

            #[inline]
            fn unpark(&self) {
                (**self).unpark();
            }
        }
    )*};
}

forward_driver!(
    [+ ?Sized] &D,
    [+ ?Sized] Box<D>,
    [+ ?Sized] std::sync::Arc<D>,
    [] crossbeam_utils::CachePadded<D>,
);

#[cfg(test)]
mod sim;

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_tests;
