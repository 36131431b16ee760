//! A fiber: a coroutine the runtime schedules, and its atomic state word.
//!
//! State bits: `RUNNING`, `NOTIFIED`, `DONE`. Parked is 0 and queued is `NOTIFIED` alone
//! (or `RUNNING`, with or without `NOTIFIED`, for a fiber that yielded).
//! A waker does one `fetch_or(NOTIFIED)`; only the waker that finds 0 (parked) schedules
//! the fiber, so a wake is never lost and never runs a fiber twice. A worker publishes a
//! fiber as parked (RUNNING -> 0) only after the switch has saved its context; if a wake
//! arrived while it ran (RUNNING | NOTIFIED), the worker requeues it instead.
//!
//! A parked fiber owns one count of its own `Rc` (the worker's reference, kept rather than
//! dropped when it parked): the waker whose `notify` finds it parked takes that count over
//! to queue the fiber, so a park and its wake touch no reference count. At shutdown, the
//! worker that unwinds a parked fiber takes the count back (`mark_done_unwound`).

use super::rc::Rc;
use super::worker::{self, Shared};
use crate::loom::AtomicUsize as StateWord;
use crate::{Coroutine, Yielder};
use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

pub(crate) const RUNNING: usize = 1;
pub(crate) const NOTIFIED: usize = 2;
pub(crate) const DONE: usize = 4;

/// Why a fiber switched back to its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suspend {
    /// Runnable again at once: requeue it.
    Yield,
    /// Waiting for a wake: publish it as parked.
    Park,
}

/// A fiber's identity, unique within the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiberId(pub(crate) u64);

impl FiberId {
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// The fiber's atomic state word and its transitions (see the module docs).
pub(crate) struct FiberState(StateWord);

impl FiberState {
    /// A new fiber is queued.
    pub(crate) fn new_queued() -> Self {
        FiberState(StateWord::new(NOTIFIED))
    }

    /// A wake. Returns true if the fiber was parked: the caller must schedule it.
    #[inline]
    pub(crate) fn notify(&self) -> bool {
        // AcqRel: the release half pairs with the worker's acquire when it next takes the
        // fiber to run (`start_running`) or fails to park it (`finish_running`), so what the
        // waker did before waking is visible to the fiber; the acquire half pairs with the
        // worker's release when it parked the fiber (publishing its home and saved context).
        self.0.fetch_or(NOTIFIED, crate::loom::Ordering::AcqRel) == 0
    }

    /// The worker takes the fiber to run it; pending wakes are consumed.
    #[inline]
    pub(crate) fn start_running(&self) {
        // AcqRel: acquire pairs with the waker's release in `notify`.
        self.0.swap(RUNNING, crate::loom::Ordering::AcqRel);
    }

    /// After the fiber switched back (its context saved). Returns true if it must be
    /// requeued: it yielded, or a wake arrived while it ran.
    #[inline]
    pub(crate) fn finish_running(&self, why: Suspend) -> bool {
        use crate::loom::Ordering::{AcqRel, Acquire};
        // A yielding fiber keeps RUNNING while it waits in a ready queue: wakers find it
        // busy and leave it alone, and the `start_running` that takes it next consumes
        // whatever wake arrived meanwhile, as it does for a queued fiber.
        if why == Suspend::Yield {
            return true;
        }
        // Release: pairs with the acquire in `notify`. On failure a wake arrived
        // (RUNNING | NOTIFIED): acquire it and requeue instead of parking.
        if self.0.compare_exchange(RUNNING, 0, AcqRel, Acquire).is_ok() {
            return false;
        }
        self.0.swap(NOTIFIED, AcqRel);
        true
    }

    /// The fiber finished; later wakes do nothing.
    pub(crate) fn mark_done(&self) {
        // Release: pairs with the acquire in `notify` (a late waker sees DONE, not 0).
        self.0.store(DONE, crate::loom::Ordering::Release);
    }

    /// As `mark_done`, for a started fiber unwound at shutdown; returns true if it was
    /// parked (so the caller now owns the count a parked fiber holds on itself).
    pub(crate) fn mark_done_was_parked(&self) -> bool {
        // AcqRel: release as in `mark_done`; acquire pairs with the worker's release when
        // it parked the fiber. A waker that found it parked first took the count instead
        // (and left NOTIFIED, so we do not).
        self.0.swap(DONE, crate::loom::Ordering::AcqRel) == 0
    }
}

/// The right to start a fiber, taken once: by the worker that pops it from a run queue, or
/// by a joiner that runs it at once. The winner alone touches the fiber's body.
pub(crate) struct StartClaim(crate::loom::AtomicBool);

impl StartClaim {
    pub(crate) fn new() -> Self {
        StartClaim(crate::loom::AtomicBool::new(false))
    }

    /// Takes the claim; false if someone already has it.
    #[inline]
    pub(crate) fn claim(&self) -> bool {
        // AcqRel: the acquire half pairs with the release half of a loser's swap, and
        // the other way round; a claimer that loses never touches the body, and the
        // winner's accesses to the body are ordered after whatever the queue or handle
        // that gave it the fiber published. (Only one swap returns false.)
        !self.0.swap(true, crate::loom::Ordering::AcqRel)
    }

    /// Whether the claim was taken (a hint for dropping stale queue entries early).
    #[inline]
    pub(crate) fn is_claimed(&self) -> bool {
        // Relaxed: a true answer is final (nobody clears the flag); a stale false only
        // keeps an entry queued until it is popped and its claim fails.
        self.0.load(crate::loom::Ordering::Relaxed)
    }
}

/// What a fiber runs on: nothing until it starts (its function is in its task), then its
/// coroutine.
pub(crate) enum Body {
    NotStarted,
    Running(Coroutine<(), Suspend, ()>),
    Finished,
}

/// The typed part of a fiber, in the same allocation: its function and its join slot.
pub(crate) trait Task: Send + Sync {
    /// Runs the fiber's function to the end and delivers its result, calling
    /// `before_complete` first (the fiber's end-of-life work, such as dropping its
    /// fiber-locals, must be over before a joiner can see the result). A panic that
    /// `before_complete` returns becomes the fiber's result if it had none.
    ///
    /// # Safety
    /// Called once, on the fiber's own stack, by the worker running it, and only if
    /// `cancel` was not called.
    unsafe fn run(
        &self,
        before_complete: &mut dyn FnMut() -> Option<Box<dyn std::any::Any + Send>>,
    );
    /// Drops the function without running it and reports the join as cancelled.
    ///
    /// # Safety
    /// Called at most once, instead of `run`, by the only thread holding the fiber to run.
    unsafe fn cancel(&self);
}

pub(crate) type FiberRef = Rc<Fiber>;

/// The shared part of a fiber: everything wakers and joiners touch is atomic; the body
/// and yielder belong to whichever worker runs the fiber (see the SAFETY note on Sync).
pub(crate) struct Fiber<T: ?Sized + Task = dyn Task> {
    state: FiberState,
    pub(crate) id: FiberId,
    pub(crate) name: Option<Box<str>>,
    pub(crate) stack_size: usize,
    /// Whether the spawner allowed the fiber to resume on any worker (unsafe opt-in).
    pub(crate) migratable: bool,
    /// Set by whoever takes the right to start the fiber: the worker that pops it from a
    /// run queue, or a joiner that runs it at once (`worker::run_unstarted_now`). Run
    /// queues may then still hold the fiber; whoever pops it loses the claim and drops it.
    start_claim: StartClaim,
    /// The worker that started the fiber; meaningless before it starts (it may be stolen
    /// until then). Written by the starting worker before the fiber can park, read by
    /// wakers after their fetch_or observed it parked (which the worker's release CAS
    /// published).
    home: AtomicUsize,
    shared: Arc<Shared>,
    pub(crate) body: UnsafeCell<Body>,
    /// The coroutine's yielder, set by the fiber itself when it starts.
    yielder: UnsafeCell<*const Yielder<(), Suspend>>,
    /// This fiber's slot in its home worker's live set (home worker only).
    live_slot: UnsafeCell<usize>,
    /// `fiber_local!` values of this fiber.
    pub(crate) locals: UnsafeCell<super::local::Locals>,
    /// Its function and join slot (unsized in a `FiberRef`: last field).
    pub(crate) task: T,
}

// SAFETY: `body`, `yielder`, `live_slot` and `locals` are only touched by the thread currently running
// the fiber: before it starts, by the one worker that popped it (queues hand a fiber to
// one consumer); after, only by its home worker, since a started fiber never migrates,
// unless its spawner opted into migration through the unsafe `Builder::migratable`, whose
// contract makes the body's thread-affinity the spawner's responsibility (queues still
// hand it to one worker at a time). Everything else is atomic or immutable.
unsafe impl<T: ?Sized + Task> Sync for Fiber<T> {}
// SAFETY: as above; a fiber moves between threads only before it starts, when its task's
// function is `Send` (the Task bound).
unsafe impl<T: ?Sized + Task> Send for Fiber<T> {}

impl<T: Task> Fiber<T> {
    #[inline]
    pub(crate) fn new(
        shared: Arc<Shared>,
        id: FiberId,
        name: Option<Box<str>>,
        stack_size: usize,
        migratable: bool,
        task: T,
    ) -> Rc<Fiber<T>> {
        Rc::new_with(|| Fiber {
            state: FiberState::new_queued(),
            id,
            name,
            stack_size,
            migratable,
            start_claim: StartClaim::new(),
            home: AtomicUsize::new(usize::MAX),
            shared,
            body: UnsafeCell::new(Body::NotStarted),
            yielder: UnsafeCell::new(std::ptr::null()),
            live_slot: UnsafeCell::new(usize::MAX),
            locals: UnsafeCell::new(super::local::Locals::default()),
            task,
        })
    }
}

impl Fiber {
    /// Makes the fiber runnable if it is parked; otherwise makes sure a running fiber that
    /// is about to park runs again. Callable from any thread.
    #[inline]
    pub(crate) fn wake(&self) {
        if let Some(fiber) = self.notify() {
            worker::schedule(fiber);
        }
    }

    /// The first half of `wake`: marks the fiber woken, and if it was parked returns it
    /// for the caller to `worker::schedule` (which it must). Callable from any thread
    /// while the fiber is alive.
    #[inline]
    pub(crate) fn notify(&self) -> Option<FiberRef> {
        if self.state.notify() {
            // SAFETY: it was parked, so it holds a count on itself (see the module docs),
            // which the one `notify` that found it parked (us) takes over.
            Some(unsafe { Rc::adopt(self) })
        } else {
            None
        }
    }

    /// At shutdown, after unwinding a started fiber: marks it done and drops the count it
    /// held on itself if it was parked.
    pub(crate) fn mark_done_unwound(&self) {
        if self.state.mark_done_was_parked() {
            // SAFETY: it was parked and no waker took its own count over (a waker that
            // finds DONE does nothing): we own that count, and drop it.
            drop(unsafe { Rc::adopt(self) });
        }
    }

    /// Drops a fiber that never started (at shutdown, or when no stack could be had):
    /// its function is dropped and its join reports cancellation.
    ///
    /// # Safety
    /// The caller holds the fiber to run it (popped it from a queue), or the runtime's
    /// workers are gone.
    pub(crate) unsafe fn cancel_if_unstarted(&self) {
        // SAFETY: per the caller's contract nobody else touches the body.
        let body = unsafe { &mut *self.body.get() };
        if matches!(body, Body::NotStarted) {
            *body = Body::Finished;
            // SAFETY: not started, so `run` was never called; this is the one cancel.
            unsafe { self.task.cancel() };
            self.mark_done();
        }
    }

    /// Cancels a fiber taken from a run queue that never started, unless someone else
    /// claimed its start (and so owns its body). Migratable fibers are not claimed (their
    /// queue entries may be resumptions), so for them only the body tells.
    ///
    /// # Safety
    /// As [`Fiber::cancel_if_unstarted`]: the caller popped the fiber from a run queue.
    pub(crate) unsafe fn cancel_queued(&self) {
        if self.migratable || self.claim_start() {
            // SAFETY: we hold the start claim (or, migratable, the caller's contract).
            unsafe { self.cancel_if_unstarted() };
        }
    }
}

impl<T: ?Sized + Task> Fiber<T> {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn home(&self) -> usize {
        self.home.load(Ordering::Relaxed)
    }

    pub(crate) fn set_home(&self, worker: usize) {
        self.home.store(worker, Ordering::Relaxed);
    }

    pub(crate) fn start_running(&self) {
        self.state.start_running();
    }

    /// Takes the right to start this fiber; false if someone already took it.
    #[inline]
    pub(crate) fn claim_start(&self) -> bool {
        self.start_claim.claim()
    }

    /// Whether a run-queue entry of this fiber is stale: its start was claimed (by a
    /// joiner, or by the popper of another entry). Never for migratable fibers, whose
    /// global-queue entries may be resumptions. A hint: false may turn true right after.
    #[inline]
    pub(crate) fn is_stale(&self) -> bool {
        !self.migratable && self.start_claim.is_claimed()
    }

    pub(crate) fn finish_running(&self, why: Suspend) -> bool {
        self.state.finish_running(why)
    }

    pub(crate) fn mark_done(&self) {
        self.state.mark_done();
    }

    pub(crate) fn set_live_slot(&self, slot: usize) {
        // SAFETY: only the worker running the fiber touches `live_slot` (see Sync above).
        unsafe { *self.live_slot.get() = slot };
    }

    pub(crate) fn live_slot(&self) -> usize {
        // SAFETY: as in set_live_slot.
        unsafe { *self.live_slot.get() }
    }

    /// Records the running coroutine's yielder. Called by the fiber on its own stack.
    pub(crate) fn set_yielder(&self, y: &Yielder<(), Suspend>) {
        // SAFETY: only the thread running the fiber touches `yielder` (see Sync above).
        unsafe { *self.yielder.get() = y };
    }

    /// Switches back to the worker.
    ///
    /// # Safety
    /// Must be called by this fiber, on its own stack.
    pub(crate) unsafe fn suspend(&self, why: Suspend) {
        // SAFETY: the caller runs this fiber, whose yielder lives on its stack below us.
        let y = unsafe { &**self.yielder.get() };
        y.suspend(why);
    }
}

/// The fiber running on this thread, if any.
#[inline]
pub(crate) fn current_fiber() -> Option<FiberRef> {
    worker::with_current_fiber(|f| {
        f.map(|f| {
            let p: *const Fiber = f;
            // SAFETY: `f` lives in an `Rc` (every fiber is a `FiberRef`) that its worker
            // holds while it runs; we add one owner and take it.
            unsafe { Rc::increment_and_get(p) }
        })
    })
}

/// The address of the fiber running on this thread, if any (also while it is being
/// unwound): an identity for owner checks (the C ABI's mutex), taking no reference.
/// (The C ABI is not built under loom.)
#[cfg(not(loom))]
#[inline]
pub(crate) fn current_fiber_addr() -> Option<usize> {
    worker::with_current_fiber(|f| f.map(|f| std::ptr::from_ref(f).cast::<()>() as usize))
}

/// The fiber running on this thread, unless there is none or it is being unwound by its
/// runtime's shutdown (then it must not suspend). One thread-local access.
#[inline]
pub(crate) fn current_fiber_unless_unwinding() -> Option<FiberRef> {
    current_fiber_ptr_unless_unwinding().map(|p| {
        // SAFETY: the worker holds a reference to its current fiber while it runs (see
        // `Core::current`), and we run on it; we add one owner and take it.
        unsafe { Rc::increment_and_get(p.as_ptr().cast_const()) }
    })
}

/// As [`current_fiber_unless_unwinding`], by address, without taking a count: for
/// a waiter that only needs its own fiber while it runs (see `sync::signal`).
#[inline]
pub(crate) fn current_fiber_ptr_unless_unwinding() -> Option<std::ptr::NonNull<Fiber>> {
    worker::with_core(|core| {
        let core = core?;
        if core.unwinding.get() {
            return None;
        }
        core.current.get()
    })
}

/// Parks `me`, the calling fiber, until a wake (possibly spurious), without looking the
/// fiber up again.
///
/// # Safety
/// `me` is the fiber running this code, on its own stack.
#[inline]
#[cfg(not(loom))] // loom models waits by threads only
pub(crate) unsafe fn park_self(me: &Fiber) {
    // SAFETY: the caller's contract.
    unsafe { me.suspend(Suspend::Park) };
}

/// Whether the caller is a fiber whose worker has nothing else to run: parking it would
/// put the worker to sleep, so a short wait is better spent spinning.
#[cfg(not(loom))] // loom models waits by threads only
pub(crate) fn alone_on_worker() -> bool {
    worker::with_core(|core| core.is_some_and(|c| c.nothing_else_to_run()))
}

/// Whether the calling code runs inside a fiber.
#[inline]
pub(crate) fn in_fiber() -> bool {
    worker::with_current_fiber(|f| f.is_some())
}

/// Whether the calling fiber is being unwound by its runtime's shutdown (so it must not
/// suspend). A fiber that merely runs while its runtime shuts down may suspend: its worker
/// unwinds it once it does.
pub(crate) fn being_unwound() -> bool {
    worker::with_core(|core| core.is_some_and(|c| c.unwinding.get()))
}

/// Parks the calling fiber until a wake (possibly spurious).
///
/// # Panics
/// Outside a fiber.
pub(crate) fn park_current() {
    switch_current(Suspend::Park);
}

/// Parks the calling fiber until a wake or `deadline`, whichever comes first (possibly
/// spuriously, like [`park_current`]). A fiber woken before its deadline cancels its
/// timer. Returns true if the deadline has passed.
///
/// # Panics
/// Outside a fiber.
pub(crate) fn park_until(deadline: Instant) -> bool {
    let me = current_fiber().unwrap_or_else(|| not_in_fiber());
    let (owner, key) = worker::with_core(|core| {
        let core = core.expect("a fiber runs on a worker");
        (core as *const worker::Core, core.add_timer(deadline, me))
    });
    park_current();
    // A started fiber wakes on the worker that holds its timer, unless it is migratable
    // and moved: its timer is then left to fire later, as a spurious wake-up.
    let fired = worker::with_core(|core| match core {
        Some(c) if core::ptr::eq(c, owner) => !c.cancel_timer(key),
        _ => false,
    });
    fired || Instant::now() >= deadline
}

/// Lets the other fibers of this worker run once, if the caller is a fiber (that is not
/// being unwound). For a timed operation that gives up without having suspended: a
/// fiber retrying such an operation in a loop would otherwise never let its worker run
/// the fibers that could make the operation succeed.
#[cfg(not(loom))]
pub(crate) fn yield_if_in_fiber() {
    if in_fiber() && !being_unwound() {
        yield_current();
    }
}

/// Requeues the calling fiber behind the others that are ready.
pub(crate) fn yield_current() {
    switch_current(Suspend::Yield);
}

fn switch_current(why: Suspend) {
    // Take the pointer, not a borrow: the thread-local must not be read across the switch.
    let fiber = worker::with_current_fiber(|f| f.map(|f| f as *const Fiber))
        .unwrap_or_else(|| not_in_fiber());
    // SAFETY: the current fiber stays alive while it runs (its worker holds a reference),
    // and we are that fiber, on its stack.
    unsafe { (*fiber).suspend(why) };
}

#[cold]
pub(crate) fn not_in_fiber() -> ! {
    panic!(
        "fibra: this function must be called from inside a fiber (use Runtime::block_on or fibra::run to start one)"
    )
}

#[cfg(all(test, loom))]
mod loom_fiber_state {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, AtomicUsize};

    /// A fiber checks its condition and parks while a waker sets the condition and wakes:
    /// the fiber either saw the condition, or exactly one of (the worker requeues it, the
    /// waker schedules it) happens. Never lost, never run twice.
    #[test]
    fn loom_wake_racing_park_is_never_lost_or_doubled() {
        loom::model(|| {
            let state = Arc::new(FiberState::new_queued());
            let cond = Arc::new(AtomicBool::new(false));
            let scheduled = Arc::new(AtomicUsize::new(0));
            state.start_running();
            let waker = {
                let (state, cond, scheduled) = (state.clone(), cond.clone(), scheduled.clone());
                loom::thread::spawn(move || {
                    cond.store(true, crate::loom::Ordering::Relaxed);
                    if state.notify() {
                        scheduled.fetch_add(1, crate::loom::Ordering::Relaxed);
                    }
                })
            };
            let saw = cond.load(crate::loom::Ordering::Relaxed);
            let requeued = if saw {
                state.finish_running(Suspend::Yield); // goes on running: not a wake's doing
                false
            } else {
                state.finish_running(Suspend::Park)
            };
            waker.join().unwrap();
            let scheduled = scheduled.load(crate::loom::Ordering::Relaxed);
            if saw {
                assert_eq!(scheduled, 0, "a running fiber was scheduled again");
            } else {
                assert_eq!(requeued as usize + scheduled, 1, "lost or doubled wake");
            }
        });
    }

    /// A worker popping a fiber's stale queue entry races a joiner that wants to run it:
    /// exactly one wins the start claim, and only the winner touches the body (loom's
    /// cell checks that the two never access it concurrently).
    #[test]
    fn loom_start_claim_has_one_winner() {
        loom::model(|| {
            let shared = Arc::new((StartClaim::new(), crate::loom::UnsafeCell::new(0u32)));
            let claimers: Vec<_> = (0..2)
                .map(|who| {
                    let shared = shared.clone();
                    loom::thread::spawn(move || {
                        if shared.0.claim() {
                            // SAFETY: the claim makes us the body's only user.
                            shared.1.with_mut(|body| unsafe { *body = who + 1 });
                            true
                        } else {
                            false
                        }
                    })
                })
                .collect();
            let winners = claimers
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|won| *won)
                .count();
            assert_eq!(winners, 1, "the start was claimed {winners} times");
            // SAFETY: both claimers are joined.
            shared.1.with(|body| assert_ne!(unsafe { *body }, 0));
        });
    }

    /// Two wakers racing on a parked fiber: exactly one schedules it.
    #[test]
    fn loom_two_wakers_schedule_once() {
        loom::model(|| {
            let state = Arc::new(FiberState::new_queued());
            state.start_running();
            assert!(!state.finish_running(Suspend::Park));
            let scheduled = Arc::new(AtomicUsize::new(0));
            let wakers: Vec<_> = (0..2)
                .map(|_| {
                    let (state, scheduled) = (state.clone(), scheduled.clone());
                    loom::thread::spawn(move || {
                        if state.notify() {
                            scheduled.fetch_add(1, crate::loom::Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for w in wakers {
                w.join().unwrap();
            }
            assert_eq!(scheduled.load(crate::loom::Ordering::Relaxed), 1);
        });
    }
}
