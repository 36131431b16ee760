//! Which workers are searching for work and which are asleep, and whom to wake.

use super::Driver;
use crate::loom::{AtomicUsize, Mutex, Ordering, fence};
use core::ops::DerefMut;

/// Bits of the state word that count searching workers.
const SEARCHING_MASK: usize = (1 << 16) - 1;
/// Set by a notifier that found every worker awake and none searching: the next worker to
/// start searching or to park takes the request (and clears it).
const SEARCH_REQUESTED: usize = 1 << 16;
/// The unparked workers are counted from this bit up.
const UNPARKED_SHIFT: u32 = 17;
const UNPARKED_ONE: usize = 1 << UNPARKED_SHIFT;

/// The most workers an [`Idle`] can count.
pub(crate) const MAX_WORKERS: usize = if usize::MAX >> UNPARKED_SHIFT < SEARCHING_MASK {
    usize::MAX >> UNPARKED_SHIFT
} else {
    SEARCHING_MASK
};

#[inline]
fn searching(state: usize) -> usize {
    state & SEARCHING_MASK
}

#[inline]
fn unparked(state: usize) -> usize {
    state >> UNPARKED_SHIFT
}

/// The idle-worker bookkeeping of a runtime with a fixed number of workers (see the
/// `park` module docs for the worker loop's side of the protocol and why it loses no work).
///
/// One atomic word holds the number of *searching* workers (awake, out of local work,
/// stealing), the number of *unparked* workers (not on the sleepers list), and a
/// *search requested* flag, so a notifier decides with one load. Searchers are capped at
/// about half the workers: more only contend on each other's queues.
pub(crate) struct Idle {
    state: AtomicUsize,
    num_workers: usize,
    /// Ids of the workers asleep (or about to be), most recent last. The unparked count
    /// changes only while this is locked, so under the lock
    /// `sleepers.len() == num_workers - unparked`.
    sleepers: Mutex<Vec<usize>>,
}

impl Idle {
    /// Bookkeeping for `num_workers` workers (1 to [`MAX_WORKERS`]), all of them awake and
    /// none searching.
    pub(crate) fn new(num_workers: usize) -> Self {
        assert!(
            (1..=MAX_WORKERS).contains(&num_workers),
            "fibra: a runtime has 1 to {MAX_WORKERS} workers, not {num_workers}"
        );
        Idle {
            state: AtomicUsize::new(num_workers << UNPARKED_SHIFT),
            num_workers,
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
        }
    }

    /// The number of workers this bookkeeping is for.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn num_workers(&self) -> usize {
        self.num_workers
    }

    /// The number of workers searching right now (a snapshot, for metrics and tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn num_searching(&self) -> usize {
        searching(self.state.load(Ordering::Relaxed))
    }

    /// The number of workers on the sleepers list right now (a snapshot).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn num_sleeping(&self) -> usize {
        self.num_workers - unparked(self.state.load(Ordering::Relaxed))
    }

    /// Whether a search request is pending (a snapshot, for tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn search_requested(&self) -> bool {
        self.state.load(Ordering::Relaxed) & SEARCH_REQUESTED != 0
    }

    fn sleepers(&self) -> impl DerefMut<Target = Vec<usize>> + '_ {
        // A panic while holding the lock cannot leave the list half-updated (each update is
        // one push/pop/remove next to one counter update): carry on.
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An awake worker out of local work asks to search (steal from the others and take
    /// from the injection queue). Refused while half the workers or more are searching;
    /// the caller then goes to park without searching. Taking up the search also takes a
    /// pending search request.
    ///
    /// On `true` the caller is searching and must later leave that state through
    /// [`transition_worker_from_searching`](Self::transition_worker_from_searching) (it
    /// found work) or [`worker_to_parked`](Self::worker_to_parked) with `is_searching`.
    #[inline]
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if 2 * searching(state) >= self.num_workers {
                return false;
            }
            // Relaxed, and no fence: a steal scan that misses work published just now loses
            // nothing, because a searcher cannot stop searching and sleep without passing
            // `worker_to_parked` (its lock and fence), and the last one re-checks after
            // that. (On x86 the CAS is a full barrier anyway.)
            match self.state.compare_exchange_weak(
                state,
                (state + 1) & !SEARCH_REQUESTED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// A searching worker found work and stops searching. Returns true if it was the last
    /// searcher: the caller must then call [`notify_one`](Self::notify_one) so that
    /// someone takes over the search (a notifier may have left its work to this worker
    /// because it saw it searching, and this worker is about to be busy).
    #[inline]
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        // Relaxed, and no fence: the `notify_one` the last searcher owes orders it (that
        // call's SeqCst fence comes after this decrement); the others owe nothing, as a
        // searcher remains.
        let prev = self.state.fetch_sub(1, Ordering::Relaxed);
        debug_assert!(searching(prev) > 0, "no worker was searching");
        searching(prev) == 1
    }

    /// Worker `worker` found no work and goes to sleep: it joins the sleepers list before
    /// it parks on its driver. `is_searching` says whether it was searching (it stops).
    ///
    /// Returns true if the caller must look once more before it parks: it was the last
    /// searcher, or it took a search request (a notifier found every worker awake and none
    /// searching). It then checks the injection queue and every worker's run queue and, if
    /// any has work, calls [`notify_one`](Self::notify_one), which may pick this very
    /// worker: its park then returns at once and it searches.
    pub(crate) fn worker_to_parked(&self, worker: usize, is_searching: bool) -> bool {
        debug_assert!(worker < self.num_workers);
        let prev = {
            let mut sleepers = self.sleepers();
            debug_assert!(!sleepers.contains(&worker), "worker {worker} parked twice");
            // Relaxed: the unparked count changes only under the lock; a search request is
            // made under it too, so the mutex orders the requester's work before us; the
            // fence below orders the rest.
            let prev = self
                .state
                .fetch_sub(UNPARKED_ONE + usize::from(is_searching), Ordering::Relaxed);
            if prev & SEARCH_REQUESTED != 0 {
                self.state.fetch_and(!SEARCH_REQUESTED, Ordering::Relaxed);
            }
            sleepers.push(worker);
            prev
        };
        // SeqCst fence: pairs with the one in `notify_should_wakeup`. A notifier either sees
        // this worker asleep (and, if it was the last searcher, no one searching; if it
        // took a request, the request gone) and acts, or the re-check the caller makes next
        // sees the notifier's work.
        fence(Ordering::SeqCst);
        (is_searching && searching(prev) == 1) || prev & SEARCH_REQUESTED != 0
    }

    /// The fast-path test of [`notify_one`](Self::notify_one): true when no worker is
    /// searching and no search request is pending, so a notifier has something to do
    /// (wake a sleeper, or request a search). Work publishers call `notify_one`, not this.
    #[inline]
    pub(crate) fn notify_should_wakeup(&self) -> bool {
        // SeqCst fence: pairs with the fences in `worker_to_parked` and in this function
        // (called by the last searcher's `notify_one`). The caller published its work before
        // this fence; a worker whose transition this load does not see checks the queues
        // after its own fence, hence sees the work.
        fence(Ordering::SeqCst);
        let state = self.state.load(Ordering::Relaxed);
        searching(state) == 0 && state & SEARCH_REQUESTED == 0
    }

    /// For newly published work: picks a sleeping worker to wake, if one should be woken.
    /// It leaves the sleepers list and counts as searching from now on (so concurrent
    /// notifiers leave their work to it); the caller must unpark its driver. Returns `None`
    /// if a worker is searching or a search is requested already (they will see the work),
    /// or if every worker is awake (it then requests a search: the next worker to search or
    /// to park looks for the work).
    #[inline]
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.notify_should_wakeup() {
            return None;
        }
        self.worker_to_notify_slow()
    }

    #[cold]
    fn worker_to_notify_slow(&self) -> Option<usize> {
        let mut sleepers = self.sleepers();
        // Again under the lock: another notifier may have taken the last sleeper or made a
        // request, a worker may have started searching. Relaxed: the unparked count and the
        // request flag's setting change only under the lock we hold; a searcher that
        // started since our fence re-checks after its own (see `worker_to_parked`).
        let state = self.state.load(Ordering::Relaxed);
        if searching(state) != 0 || state & SEARCH_REQUESTED != 0 {
            return None;
        }
        if unparked(state) == self.num_workers {
            // Everyone is awake and no one searching, but a worker may be on its way to
            // sleep without searching (it was refused the search a moment ago): have it look
            // first. Relaxed: it takes the request under this lock (the mutex orders our
            // work before it), or a searcher takes it and re-checks after its fence.
            self.state.fetch_or(SEARCH_REQUESTED, Ordering::Relaxed);
            return None;
        }
        // Relaxed: the woken worker synchronises with us through its driver's unpark.
        self.state.fetch_add(UNPARKED_ONE + 1, Ordering::Relaxed);
        let worker = sleepers.pop();
        debug_assert!(worker.is_some(), "sleepers list out of step with the count");
        worker
    }

    /// Call after publishing work any worker may take (the injection queue, a run queue
    /// others steal from): wakes one sleeping worker if none is searching. `drivers[i]` is
    /// worker `i`'s park driver. Returns whether it woke one.
    ///
    /// Guarantee: work published before this call is seen by some worker; it is never
    /// left queued while every worker sleeps, nor while some sleep and the others are busy
    /// (given the worker loop in the `park` module docs).
    #[inline]
    pub(crate) fn notify_one<D: Driver>(&self, drivers: &[D]) -> bool {
        match self.worker_to_notify() {
            Some(worker) => {
                drivers[worker].unpark();
                true
            }
            None => false,
        }
    }

    /// Worker `worker` woke up with work of its own (its inbox, a timer, I/O) and takes
    /// itself off the sleepers list, not as a searcher. Returns false if it was not on the
    /// list: a notifier took it off and counted it as searching, so the caller is
    /// searching now.
    ///
    /// Not for waking other workers: a thread that needs a particular worker awake
    /// (it pushed into its inbox) just unparks that worker's driver, and the worker calls
    /// this itself.
    pub(crate) fn unpark_worker_by_id(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers();
        let Some(index) = sleepers.iter().position(|&w| w == worker) else {
            return false;
        };
        sleepers.remove(index);
        // Relaxed: the count changes only under the lock.
        self.state.fetch_add(UNPARKED_ONE, Ordering::Relaxed);
        true
    }

    /// Whether worker `worker` is on the sleepers list. A worker whose park returned checks
    /// this when it has no work of its own: still listed means the wake-up was spurious (or
    /// meant for an earlier park) and it parks again; not listed means a notifier woke it to
    /// search.
    pub(crate) fn is_parked(&self, worker: usize) -> bool {
        self.sleepers().contains(&worker)
    }
}
