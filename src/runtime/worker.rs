//! Worker threads: the loop that runs fibers, the queues it takes them from, and the
//! thread-local context fibers use to reach their worker.

use super::Config;
use super::fiber::{Body, Fiber, FiberId, FiberRef, Suspend};
use super::inbox::Inbox;
use super::park::{Driver, Idle};
use super::queue::{self, Local, Steal};
use super::rc::Rc;
use super::timers::{TimerKey, Timers};
use crate::io::{IoBackend, WorkerDriver, WorkerIo};
use crate::{Builder as CoroutineBuilder, CoroutineResult, StackPool, StackPoolConfig, Yielder};
use crossbeam_utils::CachePadded;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How often (in scheduling rounds) a worker looks at the global queue first, so that
/// nothing there starves behind busy local queues.
const GLOBAL_QUEUE_INTERVAL: u64 = 61;
/// Consecutive runs from the next-to-run slots (`urgent`, `ready_next`, `lifo`) before the FIFO
/// queues get a turn. tokio allows 3; Go lets a chain of next-to-run goroutines share one
/// 10 ms time slice. 256 runs (tens of microseconds) keeps a chain of wakes and joins on
/// its warm data (a tree of joins stays depth first: skynet ran ~0.55x Go's time at 3,
/// often with twice the memory, and ~0.42x at 256) while still bounding how long a pair
/// of fibers waking each other can hold off the queues.
const MAX_LIFO_STREAK: u32 = 256;
/// The global queue is purged of stale entries when it reaches at least this length.
const INJECT_PURGE_MIN: usize = 4 * queue::CAPACITY;
/// Idle stacks a worker's pool keeps per size class (instead of the default 1024).
const WORKER_IDLE_STACKS: usize = 1 << 16;
/// How long a worker sleeps before its idle stacks give their memory back.
const TRIM_STACKS_AFTER_IDLE: std::time::Duration = std::time::Duration::from_millis(20);
/// How often (in scheduling rounds) a busy worker flushes its I/O submissions and
/// reaps completions, so fibers that keep it busy cannot starve I/O.
const IO_POLL_INTERVAL: u64 = 32;
/// Idle stack bytes a sleeping worker keeps resident (the default pool's watermark).
const KEEP_RESIDENT_WHEN_IDLE: usize = StackPoolConfig::DEFAULT.resident_idle_bytes;

/// What every worker and every handle shares.
///
/// The fields that threads write often sit on cache lines of their own
/// (`CachePadded`), so that a worker bumping one does not slow down readers of another.
pub(crate) struct Shared {
    pub(crate) workers: Box<[CachePadded<WorkerShared>]>,
    /// Fibers spawned from outside the runtime, and overflow.
    inject: Mutex<VecDeque<FiberRef>>,
    /// Overflow purges stale entries from `inject` once it grows to this length (changed
    /// only under `inject`'s lock).
    inject_purge_at: AtomicUsize,
    inject_len: CachePadded<AtomicUsize>,
    /// Which workers search and which sleep, and whom a notifier wakes.
    idle: CachePadded<Idle>,
    /// `drivers[i]` is what worker `i` sleeps in when idle.
    drivers: Box<[CachePadded<WorkerDriver>]>,
    /// Each worker's poller, until the worker thread takes it.
    worker_io: Box<[Mutex<Option<WorkerIo>>]>,
    /// The I/O backend the workers' pollers use.
    pub(crate) io_backend: IoBackend,
    pub(crate) shutdown: AtomicBool,
    pub(crate) config: Config,
    next_id: CachePadded<AtomicU64>,
    /// Started, unfinished migratable fibers (they belong to no one worker).
    migratable_live: Mutex<std::collections::BTreeMap<FiberId, FiberRef>>,
}

/// The part of a worker other threads reach.
pub(crate) struct WorkerShared {
    /// Not-yet-started fibers: the only ones other workers may steal.
    run_queue: Steal<FiberRef>,
    /// The owner's half of `run_queue`, until the worker thread takes it.
    local: Mutex<Option<Local<FiberRef>>>,
    /// Started fibers of this worker woken from other threads.
    inbox: Inbox<FiberRef>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> std::io::Result<Arc<Shared>> {
        let io_backend = crate::io::process_backend()?;
        let (drivers, worker_io): (Vec<_>, Vec<_>) = (0..config.workers)
            .map(|_| crate::io::new_worker(io_backend))
            .collect::<std::io::Result<Vec<_>>>()?
            .into_iter()
            .map(|(driver, io)| (CachePadded::new(driver), Mutex::new(Some(io))))
            .unzip();
        let workers = (0..config.workers)
            .map(|_| {
                let (local, steal) = queue::local();
                (local, steal)
            })
            .map(|(local, steal)| {
                CachePadded::new(WorkerShared {
                    run_queue: steal,
                    local: Mutex::new(Some(local)),
                    inbox: Inbox::new(),
                })
            })
            .collect();
        Ok(Arc::new(Shared {
            workers,
            inject: Mutex::new(VecDeque::new()),
            inject_purge_at: AtomicUsize::new(INJECT_PURGE_MIN),
            inject_len: CachePadded::new(AtomicUsize::new(0)),
            idle: CachePadded::new(Idle::new(config.workers)),
            drivers: drivers.into_boxed_slice(),
            worker_io: worker_io.into_boxed_slice(),
            io_backend,
            shutdown: AtomicBool::new(false),
            config,
            next_id: CachePadded::new(AtomicU64::new(1)),
            migratable_live: Mutex::new(Default::default()),
        }))
    }

    /// A fresh fiber id. Ids grow with spawn order, which shutdown relies on (it unwinds
    /// younger fibers first, so a parent waiting for its children never waits forever).
    pub(crate) fn next_fiber_id(&self) -> FiberId {
        FiberId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Queues a fiber from outside any worker of this runtime.
    pub(crate) fn inject(&self, fiber: FiberRef) {
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        inject.push_back(fiber);
        // Release: pairs with the acquire in `pop_injected`'s and `has_visible_work`'s
        // empty checks. The length changes only under the lock, so it is exact there.
        self.inject_len.store(inject.len(), Ordering::Release);
        drop(inject);
        self.notify_one();
    }

    fn pop_injected(&self) -> Option<FiberRef> {
        if self.inject_len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        let found = inject.pop_front();
        // Relaxed: the length only changes under the lock; it is a hint for the empty
        // check above, whose acquire pairs with the release in `inject`.
        self.inject_len.store(inject.len(), Ordering::Relaxed);
        found
    }

    /// Moves a worker's run-queue overflow to the global queue in one lock. Entries queued
    /// here may turn stale later (a joiner claims them) and wait for a pop; each time the
    /// queue doubles, those are dropped, so a busy joining program cannot make it grow
    /// without bound.
    fn inject_overflow(&self, fibers: Vec<FiberRef>) {
        if fibers.is_empty() {
            return;
        }
        let mut inject = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        inject.extend(fibers);
        let mut purged = VecDeque::new();
        // Relaxed: written only under the lock we hold.
        if inject.len() >= self.inject_purge_at.load(Ordering::Relaxed) {
            let (stale, live): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut *inject)
                .into_iter()
                .partition(|f| f.is_stale());
            *inject = live;
            purged = stale;
            self.inject_purge_at
                .store((2 * inject.len()).max(INJECT_PURGE_MIN), Ordering::Relaxed);
        }
        // Release: as in `inject`.
        self.inject_len.store(inject.len(), Ordering::Release);
        drop(inject);
        drop(purged);
    }

    /// Call after publishing work any worker may take: wakes a sleeping worker to look
    /// for it unless one is searching already (see `park`'s module docs).
    #[inline]
    pub(crate) fn notify_one(&self) {
        self.idle.notify_one(&self.drivers);
    }

    /// Wakes every worker (shutdown).
    pub(crate) fn unpark_all(&self) {
        for d in self.drivers.iter() {
            d.unpark();
        }
    }

    fn has_visible_work(&self) -> bool {
        self.inject_len.load(Ordering::Acquire) > 0
            || self.workers.iter().any(|w| !w.run_queue.is_empty())
    }

    /// Drops every queued fiber and unwinds the unfinished migratable ones, youngest first
    /// (at shutdown, after the workers stopped, on the thread dropping the runtime).
    pub(crate) fn drain_all(&self) {
        loop {
            let youngest = self
                .migratable_live
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_last();
            let Some((_, fiber)) = youngest else { break };
            // SAFETY: the workers are gone, so nothing else touches the fiber's body; the
            // fiber's spawner accepted that it may run (and unwind) on any thread.
            let body = unsafe { std::mem::replace(&mut *fiber.body.get(), Body::Finished) };
            drop(body);
            fiber.mark_done_unwound();
        }
        let injected: Vec<_> = self
            .inject
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for fiber in injected {
            // SAFETY: the workers are gone; taken from the global run queue.
            unsafe { fiber.cancel_queued() };
        }
        for w in self.workers.iter() {
            // The worker put its queue back when it stopped (or never took it).
            if let Some(local) = w.local.lock().unwrap_or_else(|e| e.into_inner()).take() {
                while let Some(fiber) = local.pop() {
                    // SAFETY: as above, from a worker's run queue.
                    unsafe { fiber.cancel_queued() };
                }
            }
            let (mut woken, mut urgent) = (VecDeque::new(), VecDeque::new());
            w.inbox.drain_into(&mut woken, &mut urgent);
            drop((woken, urgent));
        }
    }
}

/// A worker's started, unfinished fibers: a slab, so tracking costs no allocation in
/// steady state. Each fiber remembers its slot.
#[derive(Default)]
struct LiveSet {
    slots: Vec<Option<FiberRef>>,
    free: Vec<usize>,
}

impl LiveSet {
    fn insert(&mut self, fiber: FiberRef) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(fiber);
                i
            }
            None => {
                self.slots.push(Some(fiber));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) {
        if self.slots.get_mut(slot).and_then(Option::take).is_some() {
            self.free.push(slot);
        }
    }

    /// The youngest (highest id) fiber, removed. Shutdown only: a linear scan.
    fn take_youngest(&mut self) -> Option<FiberRef> {
        let (i, _) = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, f)| Some((i, f.as_ref()?.id)))
            .max_by_key(|&(_, id)| id)?;
        self.free.push(i);
        self.slots[i].take()
    }
}

/// A worker's own state, on its thread's stack. Fibers reach it through `CORE` while the
/// worker loop is suspended in a resume, so everything mutable is in a Cell or RefCell and
/// no borrow is held across a switch.
pub(crate) struct Core {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    /// This worker's run queue of not-yet-started fibers (its owner half).
    local: Local<FiberRef>,
    /// Started fibers ready to run (never stolen).
    ready: RefCell<VecDeque<FiberRef>>,
    lifo: RefCell<Option<FiberRef>>,
    lifo_streak: Cell<u32>,
    /// Which of the ready queue and the run queue goes first at the next FIFO pick.
    ready_turn: Cell<bool>,
    /// A fiber whose start a joiner claimed (`run_unstarted_now`): runs next.
    run_next: RefCell<Option<FiberRef>>,
    /// The fiber most recently woken by this worker itself: runs next, within the LIFO
    /// streak limit (the woken-fiber counterpart of `lifo`).
    ready_next: RefCell<Option<FiberRef>>,
    /// Fibers woken to something others wait for (a lock handed over, permits granted:
    /// `schedule_first`), and fibers woken before they could park, oldest first: they run
    /// before everything else ready, within the LIFO streak limit, and nothing displaces
    /// them. Sent to the back of `ready` instead, each step of a chain of hand-overs would
    /// cost a whole cycle of a busy worker's queue (`tests/issue_hand_over_convoy.rs`).
    urgent: RefCell<VecDeque<FiberRef>>,
    timers: RefCell<Timers<FiberRef>>,
    tick: Cell<u64>,
    /// Started, unfinished fibers of this worker, for shutdown.
    live: RefCell<LiveSet>,
    /// Whether this worker is searching (counted in `Shared::idle`).
    searching: Cell<bool>,
    /// The fiber running right now, or null. Not an owning reference: `run_fiber` (or
    /// `shutdown`) holds one for as long as the pointer is set.
    pub(crate) current: Cell<Option<NonNull<Fiber>>>,
    /// Set while `shutdown` unwinds the current fiber: code running on its stack then (its
    /// destructors) must not suspend, so its waits poll instead.
    pub(crate) unwinding: Cell<bool>,
    /// This worker's poller (io_uring or epoll on Linux).
    io: WorkerIo,
}

thread_local! {
    /// The worker running on this thread, if it is a worker thread.
    static CORE: Cell<*const Core> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with the current worker, if this thread is one. Not inlined: a fiber must not
/// reuse a thread-local address computed before a switch.
#[inline(never)]
pub(crate) fn with_core<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
    let p = CORE.get();
    // SAFETY: CORE points at the worker's Core for as long as its loop runs on this thread,
    // and is reset before the Core goes away.
    f(unsafe { p.as_ref() })
}

/// Runs `f` with the fiber currently running on this thread.
#[inline(never)]
pub(crate) fn with_current_fiber<R>(f: impl FnOnce(Option<&Fiber>) -> R) -> R {
    with_core(|core| {
        let current = core.and_then(|c| c.current.get());
        // SAFETY: while `current` is set, the worker holds a reference to that fiber (see
        // `Core::current`), and `f` runs before the worker can clear it.
        f(current.map(|p| unsafe { p.as_ref() }))
    })
}

/// Runs `f` with the poller of the worker running the calling fiber; None outside a
/// fiber, or in a fiber being unwound (which must not suspend).
#[inline]
#[cfg(all(target_os = "linux", not(loom)))]
pub(crate) fn with_fiber_io<R>(f: impl FnOnce(&WorkerIo) -> R) -> Option<R> {
    with_core(|core| {
        let core = core?;
        if core.current.get().is_none() || core.unwinding.get() {
            return None;
        }
        Some(f(&core.io))
    })
}

/// Runs `f` with this worker thread's poller, if this is a worker thread (also while it
/// unwinds a fiber).
#[cfg(all(target_os = "linux", not(loom)))]
pub(crate) fn with_worker_io<R>(f: impl FnOnce(&WorkerIo) -> R) -> Option<R> {
    with_core(|core| core.map(|c| f(&c.io)))
}

/// Makes a woken (previously parked) fiber runnable on its home worker.
#[inline]
pub(crate) fn schedule(fiber: FiberRef) {
    schedule_to(fiber, false);
}

/// As [`schedule`], for a fiber woken to something others wait for (a lock handed over
/// to it, permits granted): it goes in front of its worker's ready fibers, so a chain of
/// hand-overs moves at the pace of a switch rather than of a busy worker's whole queue.
#[inline]
pub(crate) fn schedule_first(fiber: FiberRef) {
    schedule_to(fiber, true);
}

fn schedule_to(fiber: FiberRef, first: bool) {
    if fiber.migratable {
        let shared = fiber.shared().clone();
        shared.inject(fiber);
        return;
    }
    let home = fiber.home();
    let mut fiber = Some(fiber);
    with_core(|core| match (core, &fiber) {
        (Some(core), Some(f)) if core.index == home && Arc::ptr_eq(&core.shared, f.shared()) => {
            let fiber = fiber.take().expect("matched Some");
            if first {
                core.urgent.borrow_mut().push_back(fiber);
                return;
            }
            // Woken on its own worker: it runs next (what it waited for just happened, and
            // its data is warm), displacing an earlier one to the back of the ready queue.
            // `MAX_LIFO_STREAK` keeps a pair of fibers waking each other from starving the
            // rest.
            if let Some(earlier) = core.ready_next.replace(Some(fiber)) {
                core.ready.borrow_mut().push_back(earlier);
            }
        }
        _ => {}
    });
    let Some(fiber) = fiber else { return };
    let shared = fiber.shared().clone();
    let inbox = &shared.workers[home].inbox;
    // The pusher that makes the inbox non-empty wakes its owner; later pushers know the
    // owner's next drain takes theirs too.
    let became_non_empty = if first {
        inbox.push_first(fiber)
    } else {
        inbox.push(fiber)
    };
    if became_non_empty {
        shared.drivers[home].unpark();
    }
}

/// Where a spawned fiber goes on the spawning worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// The back of the worker's queue (the default): fair.
    #[default]
    Back,
    /// The worker's next-to-run (LIFO) slot: runs soon, good for fork-join.
    NextToRun,
    /// Switch to it at once; the spawning fiber is requeued.
    RunNow,
}

impl Core {
    /// Queues a new fiber spawned on this worker.
    pub(crate) fn push_new(&self, fiber: FiberRef, placement: Placement) {
        match placement {
            Placement::Back => self.push_run_queue(fiber),
            Placement::NextToRun | Placement::RunNow => {
                let displaced = self.lifo.borrow_mut().replace(fiber);
                if let Some(old) = displaced {
                    self.push_run_queue(old);
                }
            }
        }
        self.shared.notify_one();
    }

    fn push_run_queue(&self, fiber: FiberRef) {
        let mut requeue = Vec::new();
        self.local.push_back(fiber, |batch| {
            // Full: the older half of the queue (and the new fiber) come out; or, while a
            // stealer is mid-steal, the new fiber alone. Entries of fibers a joiner
            // started already (`run_unstarted_now`) are stale: dropped. When dropping them
            // made room and few live ones are left, those go back to the end of this queue
            // instead of the global queue, where other workers' regular checks would start
            // them ahead of the joins about to claim them (and stale ones would pile up).
            let (stale, live): (Vec<_>, Vec<_>) = batch.partition(|f| f.is_stale());
            if !stale.is_empty() && live.len() <= queue::CAPACITY / 4 {
                // Pushed once the overflow is over (the ring frees the slots then).
                requeue = live;
            } else {
                self.shared.inject_overflow(live);
            }
            drop(stale);
        });
        for f in requeue {
            // Not recursive: if the ring is full again (a stealer is mid-steal), the
            // rest goes to the global queue.
            self.local
                .push_back(f, |batch| self.shared.inject_overflow(batch.collect()));
        }
    }

    #[inline]
    fn drain_inbox(&self) {
        let inbox = &self.shared.workers[self.index].inbox;
        if !inbox.is_empty() {
            inbox.drain_into(&mut self.ready.borrow_mut(), &mut self.urgent.borrow_mut());
        }
    }

    /// Records a started fiber for shutdown: per worker, or runtime-wide for migratable
    /// fibers (which any worker may finish).
    fn track(&self, fiber: &FiberRef) {
        if fiber.migratable {
            self.shared
                .migratable_live
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(fiber.id, fiber.clone());
        } else {
            let slot = self.live.borrow_mut().insert(fiber.clone());
            fiber.set_live_slot(slot);
        }
    }

    fn untrack(&self, fiber: &FiberRef) {
        if fiber.migratable {
            self.shared
                .migratable_live
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&fiber.id);
        } else {
            self.live.borrow_mut().remove(fiber.live_slot());
        }
    }

    /// Registers a timer that wakes `fiber` (one of this worker's) at `deadline`.
    pub(crate) fn add_timer(&self, deadline: Instant, fiber: FiberRef) -> TimerKey {
        self.timers.borrow_mut().add(deadline, fiber)
    }

    /// Cancels a timer of this worker; returns false if it had fired already.
    pub(crate) fn cancel_timer(&self, key: TimerKey) -> bool {
        // Dropped outside the borrow: the last reference to a fiber may go with it.
        let fiber = self.timers.borrow_mut().cancel(key);
        fiber.is_some()
    }

    /// Wakes the fibers whose timers expired; returns the next deadline.
    #[inline]
    fn fire_timers(&self) -> Option<Instant> {
        if self.timers.borrow().len() == 0 {
            return None;
        }
        let mut expired = Vec::new();
        let next = self
            .timers
            .borrow_mut()
            .expire(Instant::now(), &mut expired);
        for f in expired {
            f.wake();
        }
        next
    }

    /// The next fiber to run, and whether it came from a run queue (so its start must be
    /// claimed: a joiner may have started it already, see `run_unstarted_now`) rather
    /// than from the ready queue or a joiner's claim.
    fn next_fiber(&self) -> Option<(FiberRef, bool)> {
        if let Some(f) = self.run_next.borrow_mut().take() {
            return Some((f, false));
        }
        let tick = self.tick.get();
        self.tick.set(tick + 1);
        self.drain_inbox();
        if tick % GLOBAL_QUEUE_INTERVAL == 0 {
            if let Some(f) = self.shared.pop_injected() {
                return Some((f, true));
            }
        }
        if self.lifo_streak.get() < MAX_LIFO_STREAK {
            if let Some(f) = self.urgent.borrow_mut().pop_front() {
                self.lifo_streak.set(self.lifo_streak.get() + 1);
                return Some((f, false));
            }
            if let Some(f) = self.ready_next.borrow_mut().take() {
                self.lifo_streak.set(self.lifo_streak.get() + 1);
                return Some((f, false));
            }
            if let Some(f) = self.lifo.borrow_mut().take() {
                self.lifo_streak.set(self.lifo_streak.get() + 1);
                return Some((f, true));
            }
        }
        self.lifo_streak.set(0);
        let ready = || self.ready.borrow_mut().pop_front().map(|f| (f, false));
        let local = || self.local.pop().map(|f| (f, true));
        // Alternate between woken fibers and new ones so neither starves the other (a
        // toggle of its own: a fiber yielding in a loop must not always find the same
        // parity here, or the fibers behind it never run).
        let ready_first = !self.ready_turn.get();
        self.ready_turn.set(ready_first);
        let found = if ready_first {
            ready().or_else(local)
        } else {
            local().or_else(ready)
        };
        found
            .or_else(|| self.urgent.borrow_mut().pop_front().map(|f| (f, false)))
            .or_else(|| self.ready_next.borrow_mut().take().map(|f| (f, false)))
            .or_else(|| self.lifo.borrow_mut().take().map(|f| (f, true)))
            .or_else(|| self.shared.pop_injected().map(|f| (f, true)))
    }

    /// Takes a not-yet-started fiber from another worker.
    fn steal(&self) -> Option<FiberRef> {
        let n = self.shared.workers.len();
        for k in 1..n {
            let victim = &self.shared.workers[(self.index + k) % n];
            // Half of the victim's queue moves to ours; we run the oldest at once.
            if let Some(f) = victim.run_queue.steal_into(&self.local) {
                return Some(f);
            }
        }
        None
    }

    fn run_fiber(&self, fiber: FiberRef, from_run_queue: bool) {
        // A fiber in a run queue has not started, unless a joiner claimed it and ran it
        // (its entry here is stale), or it is migratable (entries in the global queue may
        // be resumptions; those fibers are never claimed by joiners).
        if from_run_queue && !fiber.migratable && !fiber.claim_start() {
            return;
        }
        fiber.start_running();
        // SAFETY: we popped the fiber from a queue, so this worker alone runs it now.
        let body = unsafe { &mut *fiber.body.get() };
        if let Body::NotStarted = body {
            fiber.set_home(self.index);
            match start_coroutine(&fiber) {
                Some(co) => {
                    *body = Body::Running(co);
                    self.track(&fiber);
                }
                None => {
                    // SAFETY: we hold the fiber to run it.
                    unsafe { fiber.cancel_if_unstarted() };
                    return;
                }
            }
        }
        let Body::Running(co) = body else {
            return;
        };
        self.current.set(Some(NonNull::from(&*fiber)));
        let mut result = co.resume(());
        // A fiber that yields while nothing else could run here is resumed at once: no
        // requeue, no state change (it stays RUNNING, as a queued yielder would), for a
        // bounded number of rounds so the worker still polls I/O.
        let mut resumed_alone = 0;
        while matches!(result, CoroutineResult::Yield(Suspend::Yield))
            && !fiber.migratable
            && resumed_alone < IO_POLL_INTERVAL
            && self.nothing_else_to_run()
        {
            resumed_alone += 1;
            result = co.resume(());
        }
        self.current.set(None);
        match result {
            CoroutineResult::Yield(why) => {
                if fiber.finish_running(why) {
                    if fiber.migratable {
                        self.shared.inject(fiber);
                    } else if why == Suspend::Park {
                        // Woken while it ran, before it could park: the waker could not
                        // tell whether it handed over a lock (it found the fiber running),
                        // so it runs before the other ready fibers, as an urgent wake.
                        self.urgent.borrow_mut().push_back(fiber);
                    } else {
                        // Yielded fibers go behind the others.
                        self.ready.borrow_mut().push_back(fiber);
                    }
                } else {
                    // Parked: our reference becomes the count the fiber holds on itself
                    // until a waker takes it over (see `fiber`'s module docs). The fiber
                    // may already be queued elsewhere: do not touch it any more.
                    std::mem::forget(fiber);
                }
            }
            CoroutineResult::Return(()) => {
                fiber.mark_done();
                self.untrack(&fiber);
                // SAFETY: as above; the coroutine finished, drop it (its stack goes back to
                // this thread's pool).
                unsafe { *fiber.body.get() = Body::Finished };
            }
        }
    }

    /// Whether a yielding fiber is alone: nothing else is queued on this worker or in the
    /// global queue, no timer is due, the runtime is not stopping.
    #[inline]
    pub(crate) fn nothing_else_to_run(&self) -> bool {
        self.ready.borrow().is_empty()
            && self.urgent.borrow().is_empty()
            && self.ready_next.borrow().is_none()
            && self.run_next.borrow().is_none()
            && self.lifo.borrow().is_none()
            && self.local.is_empty()
            && self.shared.inject_len.load(Ordering::Relaxed) == 0
            && !self.has_own_work()
    }

    /// Whether this worker has work only it can run: woken fibers (by I/O completions, or
    /// in its inbox), a due timer, or the runtime stopping.
    fn has_own_work(&self) -> bool {
        self.ready_next.borrow().is_some()
            || !self.ready.borrow().is_empty()
            || !self.urgent.borrow().is_empty()
            || !self.shared.workers[self.index].inbox.is_empty()
            || self.shared.shutdown.load(Ordering::Acquire)
            || self
                .timers
                .borrow_mut()
                .next_deadline()
                .is_some_and(|deadline| deadline <= Instant::now())
    }

    /// Under a spinning or yielding idle policy, looks for work for a while before the
    /// worker parks. Returns true if work showed up.
    fn idle_spin(&self) -> bool {
        let (limit, yield_thread) = match self.shared.config.idle {
            super::IdlePolicy::Park => return false,
            super::IdlePolicy::Spin(d) => (d, false),
            super::IdlePolicy::Yield(d) => (d, true),
        };
        let until = Instant::now() + limit;
        while Instant::now() < until {
            // Flush and reap I/O while spinning: completions are own work.
            self.io.poll_now(&self.shared.drivers[self.index]);
            if self.shared.has_visible_work() || self.has_own_work() {
                return true;
            }
            if yield_thread {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        false
    }

    /// Stops searching because this worker is about to run something (rule 3 of the
    /// `park` module docs): the last searcher hands the search on.
    #[inline]
    fn stop_searching(&self) {
        if self.searching.replace(false) && self.shared.idle.transition_worker_from_searching() {
            self.shared.notify_one();
        }
    }

    /// Out of local work: search the other workers' queues, if allowed (rule 2).
    fn search(&self) -> Option<(FiberRef, bool)> {
        if !self.searching.get() {
            self.searching
                .set(self.shared.idle.transition_worker_to_searching());
        }
        if !self.searching.get() {
            return None;
        }
        self.steal()
            .or_else(|| self.shared.pop_injected())
            .map(|f| (f, true))
    }

    /// Sleeps until this worker has something to do: work of its own, or a notifier's
    /// request to search (rules 4 and 5 of the `park` module docs).
    #[cold]
    fn park(&self, next_timer: Option<Instant>) {
        let idle = &self.shared.idle;
        // Rule 4: after joining the sleepers, look once more if told to.
        if idle.worker_to_parked(self.index, self.searching.replace(false))
            && self.shared.has_visible_work()
        {
            self.shared.notify_one();
        }
        // Idle stacks' memory is given back once the worker has slept for a while, not
        // at every park: a busy worker parks briefly many times, and each give-back is
        // a TLB shootdown.
        let mut trim_at = StackPool::with_current_thread(|pool| {
            (pool.resident_idle_bytes() > KEEP_RESIDENT_WHEN_IDLE)
                .then(|| Instant::now() + TRIM_STACKS_AFTER_IDLE)
        });
        // Own work last; then rule 5 sorts out each wake-up.
        while !self.has_own_work() {
            let now = Instant::now();
            if trim_at.is_some_and(|t| t <= now) {
                trim_at = None;
                StackPool::with_current_thread(|pool| {
                    pool.trim_resident(KEEP_RESIDENT_WHEN_IDLE);
                });
            }
            let wake_at = match (next_timer, trim_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let timeout = wake_at.map(|t| t.saturating_duration_since(now));
            if timeout == Some(std::time::Duration::ZERO) {
                break; // the next timer is due: own work
            }
            self.io.park(&self.shared.drivers[self.index], timeout);
            if !idle.is_parked(self.index) {
                // A notifier took us off the list to search for its work.
                self.searching.set(true);
                return;
            }
        }
        // Off the list with work of our own; if a notifier took us off first, it
        // counted us as searching.
        self.searching.set(!idle.unpark_worker_by_id(self.index));
    }

    /// The worker loop.
    fn run(&self) {
        let mut rounds: u64 = 0;
        while !self.shared.shutdown.load(Ordering::Acquire) {
            rounds = rounds.wrapping_add(1);
            if rounds % IO_POLL_INTERVAL == 0 {
                self.io.poll_now(&self.shared.drivers[self.index]);
            }
            let next_timer = self.fire_timers();
            if let Some((f, from_run_queue)) = self.next_fiber().or_else(|| self.search()) {
                self.stop_searching();
                self.run_fiber(f, from_run_queue);
                continue;
            }
            if !self.idle_spin() {
                self.park(next_timer);
            }
        }
        self.shutdown();
    }

    /// Unwinds this worker's unfinished fibers, youngest first, and drops queued ones.
    fn shutdown(&self) {
        self.timers.borrow_mut().clear();
        if let Some(fiber) = self.lifo.borrow_mut().take() {
            // SAFETY: taken from our LIFO slot, a run queue.
            unsafe { fiber.cancel_queued() };
        }
        if let Some(fiber) = self.run_next.borrow_mut().take() {
            // SAFETY: its start was claimed for this worker, which alone may run it.
            unsafe { fiber.cancel_if_unstarted() };
        }
        let mut ready: Vec<_> = self.ready.borrow_mut().drain(..).collect();
        ready.extend(self.urgent.borrow_mut().drain(..));
        drop(ready);
        drop(self.ready_next.borrow_mut().take());
        loop {
            let youngest = self.live.borrow_mut().take_youngest();
            let Some(fiber) = youngest else { break };
            self.current.set(Some(NonNull::from(&*fiber)));
            self.unwinding.set(true);
            // SAFETY: our own started fiber, not running: dropping its coroutine unwinds it.
            let body = unsafe { std::mem::replace(&mut *fiber.body.get(), Body::Finished) };
            drop(body);
            self.unwinding.set(false);
            self.current.set(None);
            fiber.mark_done_unwound();
        }
    }
}

/// Creates the coroutine of a fiber that starts now (None if no stack can be had).
fn start_coroutine(fiber: &FiberRef) -> Option<crate::Coroutine<(), Suspend, ()>> {
    let mut builder = CoroutineBuilder::new().stack_size(fiber.stack_size);
    if let Some(name) = &fiber.name {
        builder = builder.name(name.to_string());
    }
    let me = FiberPtr(Rc::as_ptr(fiber));
    let built = builder.build(move |y: &Yielder<(), Suspend>, ()| {
        // SAFETY: the coroutine runs only inside `run_fiber` or `shutdown`, which hold a
        // reference to the fiber throughout, so it outlives every use below.
        let me = unsafe { &*me.0 };
        me.set_yielder(y);
        // Fiber-locals are dropped on the fiber's own stack when it ends, however it ends
        // (returned, or unwound by shutdown).
        // They are dropped before the result is delivered too, so a joiner sees them gone.
        let guard = ClearLocalsOnDrop(me);
        // SAFETY: the fiber's one run, on its own stack, by its worker.
        unsafe {
            guard.0.task.run(&mut || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| guard.clear())).err()
            })
        };
    });
    match built {
        Ok(co) => Some(co),
        Err(e) => {
            eprintln!("fibra: cannot start fiber {}: {e}", fiber.id.0);
            None
        }
    }
}

/// A fiber's address, moved into its own coroutine (which the fiber owns, so an owning
/// reference there would be a cycle).
struct FiberPtr(*const Fiber);

// SAFETY: only a pointer to a `Fiber`, which is `Sync`; the coroutine holding it runs on
// the fiber's worker, while that worker holds an owning reference.
unsafe impl Send for FiberPtr {}

struct ClearLocalsOnDrop<'a>(&'a Fiber);

impl ClearLocalsOnDrop<'_> {
    /// Drops the fiber's locals (each of them once: a later call finds none).
    fn clear(&self) {
        // SAFETY: runs on the fiber's own stack, on its home thread, with no other borrow
        // of its locals live (the fiber's function has returned or is unwinding).
        let mut locals = std::mem::take(unsafe { &mut *self.0.locals.get() });
        locals.clear();
    }
}

impl Drop for ClearLocalsOnDrop<'_> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Body of a worker thread.
pub(crate) fn worker_main(shared: Arc<Shared>, index: usize) {
    if let Some(cpus) = &shared.config.pin_to {
        super::builder::pin_current_thread(cpus[index % cpus.len()]);
    }
    if let Some(hook) = &shared.config.on_start {
        hook();
    }
    // A worker's stacks come from its thread's pool. Bursts of fibers (a wave of jobs, a
    // fan-out) return stacks by the thousand: keep them mapped for the next burst instead
    // of unmapping all but a few, and keep their memory until the worker goes idle
    // (`Core::park` trims it) instead of giving it back one stack at a time on the hot
    // path: each munmap or madvise is a TLB shootdown across the process. The pool so
    // never holds more memory than the worker's own peak of live fibers did.
    StackPool::configure_current_thread(StackPoolConfig {
        max_idle_per_class: WORKER_IDLE_STACKS,
        resident_idle_bytes: usize::MAX,
        ..StackPoolConfig::DEFAULT
    });
    let local = shared.workers[index]
        .local
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("each worker takes its queue once");
    let io = shared.worker_io[index]
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("each worker takes its poller once");
    let core = Core {
        index,
        shared: shared.clone(),
        local,
        ready: RefCell::new(VecDeque::new()),
        lifo: RefCell::new(None),
        lifo_streak: Cell::new(0),
        ready_turn: Cell::new(false),
        run_next: RefCell::new(None),
        ready_next: RefCell::new(None),
        urgent: RefCell::new(VecDeque::new()),
        timers: RefCell::new(Timers::new()),
        tick: Cell::new(0),
        live: RefCell::new(LiveSet::default()),
        searching: Cell::new(false),
        current: Cell::new(None),
        unwinding: Cell::new(false),
        io,
    };
    CORE.set(&core);
    core.run();
    CORE.set(std::ptr::null());
    // Hand the queue back: `drain_all` cancels what is left in it.
    let Core { local, .. } = core;
    *shared.workers[index]
        .local
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some(local);
    if let Some(hook) = &shared.config.on_stop {
        hook();
    }
}

/// A fiber about to wait for `fiber` runs it next on this worker if it has not started:
/// it claims the start, so the run-queue entry that holds the fiber becomes stale (its
/// popper drops it), and puts the fiber in `run_next`. Only from a fiber of the same
/// runtime (on its worker), for a fiber that is not migratable. Returns whether it did.
pub(crate) fn run_unstarted_now(fiber: &Fiber<dyn super::fiber::Task + '_>) -> bool {
    with_core(|core| {
        let Some(core) = core else { return false };
        if core.current.get().is_none()
            || fiber.migratable
            || !Arc::ptr_eq(&core.shared, fiber.shared())
            || core.shared.shutdown.load(Ordering::Relaxed)
            || !fiber.claim_start()
        {
            return false;
        }
        // SAFETY: every fiber lives in the `Rc` `Fiber::new` made, alive while `fiber` is
        // borrowed; only the trait object's lifetime bound changes, as when it was queued
        // (`spawn_unchecked`): whoever spawned it keeps what it borrows alive until it ends.
        let fiber: FiberRef = unsafe {
            std::mem::transmute::<Rc<Fiber<dyn super::fiber::Task + '_>>, FiberRef>(
                Rc::increment_and_get(fiber),
            )
        };
        if let Some(earlier) = core.run_next.borrow_mut().replace(fiber) {
            // Not expected (the claimer waits right after), but never lose a fiber.
            core.ready.borrow_mut().push_front(earlier);
        }
        true
    })
}

/// Spawns a fiber running `f` on the runtime `shared`, from wherever the caller is.
pub(crate) fn spawn_fiber(shared: &Arc<Shared>, fiber: FiberRef, placement: Placement) {
    let queued_locally = with_core(|core| match core {
        Some(core) if Arc::ptr_eq(&core.shared, shared) => {
            core.push_new(fiber.clone(), placement);
            true
        }
        _ => false,
    });
    if !queued_locally {
        shared.inject(fiber);
    } else if placement == Placement::RunNow && super::fiber::in_fiber() {
        super::fiber::yield_current();
    }
}
