//! [`OnceCell`]: a value initialised once, by whichever caller gets there first, while the
//! others wait.
//!
//! State word: `INCOMPLETE`, `RUNNING` (an initialiser is running) with `WAITERS` while
//! waiters may be queued, or `COMPLETE`. Waiters queue only under the list's lock, after
//! seeing RUNNING there (and setting WAITERS); the runner publishes COMPLETE with one
//! swap and takes the lock only if that swap shows WAITERS. A runner whose initialiser
//! panics puts the state back to INCOMPLETE under the lock and releases every waiter: they
//! race to run their own initialisers.

use super::signal::Signal;
use super::unwind_guard::UnwindGuard;
use super::wait_list::{Node, WaitList};
use super::wake_all::{Chained, Released};
use crate::loom::{AtomicU64, AtomicUsize, Mutex as ListLock, Ordering, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::mem::{self, MaybeUninit};
use std::panic::{RefUnwindSafe, UnwindSafe};

const INCOMPLETE: usize = 0;
const RUNNING: usize = 1;
const WAITERS: usize = 2;
const COMPLETE: usize = 4;

/// A cell written once, for fibers and threads: the first [`get_or_init`] (or [`set`])
/// runs its initialiser; callers that arrive meanwhile wait for it. Like std's
/// `OnceLock`, but a waiting fiber suspends (its worker runs other fibers) instead of
/// blocking its worker; a waiting thread parks.
///
/// If an initialiser panics, the panic propagates to its caller, the cell stays empty,
/// and one of the waiters (or a later caller) runs its own initialiser.
///
/// Calling [`get_or_init`] or [`set`] on the same cell from inside its own initialiser
/// (on the same fiber, or the same thread outside fibers) panics instead of deadlocking.
/// Waiting for the cell from another fiber or thread that the initialiser itself waits for
/// is a deadlock this cannot detect.
///
/// [`get_or_init`]: OnceCell::get_or_init
/// [`set`]: OnceCell::set
///
/// ```
/// use fibra::sync::OnceCell;
///
/// static CONFIG: OnceCell<String> = OnceCell::new();
///
/// fibra::run(|| {
///     let readers: Vec<_> = (0..4)
///         .map(|_| fibra::spawn(|| CONFIG.get_or_init(|| "loaded once".to_string()).len()))
///         .collect();
///     for r in readers {
///         assert_eq!(r.join().unwrap(), 11);
///     }
/// });
/// assert_eq!(CONFIG.get().map(String::as_str), Some("loaded once"));
/// ```
pub struct OnceCell<T> {
    state: AtomicUsize,
    /// A token of the fiber or thread running the initialiser (0: none, or unknown), to
    /// catch re-entrant initialisation. Reset to 0 before a failed run publishes
    /// INCOMPLETE; a waiter reads it after an acquire load of RUNNING, which synchronises
    /// with that reset (the next runner's CAS extends its release sequence), so it never
    /// sees a token of an earlier, failed run.
    runner: AtomicU64,
    waiters: ListLock<WaitList<Chained>>,
    value: UnsafeCell<MaybeUninit<T>>,
    /// The cell owns a `T` (for the drop check).
    _owns: PhantomData<T>,
}

// SAFETY: the cell owns its value and gives it out only by value or unique borrow when
// moved or borrowed mutably: T: Send, as std's OnceLock.
unsafe impl<T: Send> Send for OnceCell<T> {}
// SAFETY: shared callers get `&T` (T: Sync), and the value may be written by any thread
// that shares the cell and read or dropped by another (T: Send); the value is written
// once, before the release that publishes COMPLETE, and only read after.
unsafe impl<T: Send + Sync> Sync for OnceCell<T> {}

impl<T: RefUnwindSafe + UnwindSafe> RefUnwindSafe for OnceCell<T> {}
impl<T: UnwindSafe> UnwindSafe for OnceCell<T> {}

impl<T> OnceCell<T> {
    /// An empty cell.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        OnceCell {
            state: AtomicUsize::new(INCOMPLETE),
            runner: AtomicU64::new(0),
            waiters: ListLock::new(WaitList::new()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            _owns: PhantomData,
        }
    }

    /// An empty cell (not `const` under loom, whose locks are not).
    #[cfg(loom)]
    pub fn new() -> Self {
        OnceCell {
            state: AtomicUsize::new(INCOMPLETE),
            runner: AtomicU64::new(0),
            waiters: ListLock::new(WaitList::new()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            _owns: PhantomData,
        }
    }

    /// The value, if the cell is initialised. Does not wait for a running initialiser.
    #[inline]
    pub fn get(&self) -> Option<&T> {
        // Acquire: pairs with the release that published COMPLETE (`run`), so the value
        // written before it is visible.
        if self.state.load(Ordering::Acquire) == COMPLETE {
            // SAFETY: COMPLETE, seen with acquire.
            Some(unsafe { self.value_unchecked() })
        } else {
            None
        }
    }

    /// The value, through a unique borrow, if the cell is initialised.
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.state.load(Ordering::Relaxed) != COMPLETE {
            return None;
        }
        // SAFETY: initialised, and `&mut self` rules out every other access.
        Some(self.value.with_mut(|v| unsafe { (*v).assume_init_mut() }))
    }

    /// The value, initialising the cell with `f` first if it is empty. If another caller
    /// is running its initialiser, waits for it (and runs `f` only if that one panics).
    ///
    /// # Panics
    /// If `f` panics (the cell stays empty), or if called on this cell from inside its
    /// own initialiser (see [`OnceCell`]).
    #[inline]
    pub fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        self.initialize(f);
        // SAFETY: `initialize` returns once COMPLETE is seen with acquire.
        unsafe { self.value_unchecked() }
    }

    /// Initialises the cell with `value`, or gives it back if the cell was initialised
    /// already. Waits for an initialiser that is running.
    ///
    /// # Panics
    /// If called on this cell from inside its own initialiser.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("runs at most once"));
        value.map_or(Ok(()), Err)
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        if self.state.load(Ordering::Relaxed) != COMPLETE {
            return None;
        }
        self.state.store(INCOMPLETE, Ordering::Relaxed);
        // SAFETY: it was initialised, and is no longer marked so: it is read out once.
        Some(self.value.with(|v| unsafe { (*v).assume_init_read() }))
    }

    /// The value, if initialised, consuming the cell.
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// # Safety
    /// COMPLETE was seen with acquire (or through `&mut self`).
    #[inline]
    unsafe fn value_unchecked(&self) -> &T {
        // SAFETY: per the contract the value is initialised and never written again
        // while the cell is shared.
        self.value.with(|v| unsafe { (*v).assume_init_ref() })
    }

    #[cold]
    fn initialize(&self, f: impl FnOnce() -> T) {
        loop {
            // Acquire (both): on failure, a COMPLETE pairs with the release in `run`;
            // on success, pairs with a failed run's release (see `runner`).
            match self.state.compare_exchange(
                INCOMPLETE,
                RUNNING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return self.run(f),
                Err(COMPLETE) => return,
                Err(_) => self.wait_for_runner(),
            }
        }
    }

    /// Runs the initialiser, holding RUNNING.
    fn run(&self, f: impl FnOnce() -> T) {
        self.runner.store(caller_token(), Ordering::Relaxed);
        let on_panic = AbortRun(self);
        let value = f();
        mem::forget(on_panic);
        // SAFETY: we hold RUNNING: nobody else touches the value until we publish COMPLETE.
        self.value.with_mut(|v| unsafe { (*v).write(value) });
        // Release: pairs with the acquire loads that see COMPLETE (`get`, `initialize`),
        // publishing the value. Clears WAITERS: nobody queues once COMPLETE is published.
        let prev = self.state.swap(COMPLETE, Ordering::Release);
        if prev & WAITERS != 0 {
            self.release_waiters();
        }
    }

    /// Wakes every waiter once COMPLETE is published.
    #[cold]
    fn release_waiters(&self) {
        let mut list = super::lock_list(&self.waiters);
        let released = Released::claim_all(&mut list);
        drop(list);
        released.wake_all();
    }

    /// Waits (once; the caller re-checks) for the running initialiser to finish.
    #[cold]
    fn wait_for_runner(&self) {
        let me = caller_token();
        let signal = Signal::new();
        let node = Node::new(&signal, 0, Chained::END);
        let mut list = super::lock_list(&self.waiters);
        // Acquire: for reading `runner` (see there).
        let mut s = self.state.load(Ordering::Acquire);
        if s & RUNNING != 0 && me != 0 && self.runner.load(Ordering::Relaxed) == me {
            drop(list);
            reentrant_init();
        }
        loop {
            if s & RUNNING == 0 {
                return; // finished or failed meanwhile: the caller tries again
            }
            if s & WAITERS != 0 {
                break;
            }
            // Relaxed: WAITERS only tells the runner to take the lock, which orders the rest.
            match self.state.compare_exchange_weak(
                RUNNING,
                RUNNING | WAITERS,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        // SAFETY: the node stays on our stack until the runner pops it: we wait below for
        // its claim to complete before the frame ends. Only a wait that unwinds cancels
        // the claim, and then its `UnwindGuard` unlinks the node before the frame ends.
        unsafe { list.push_back(&node) };
        drop(list);
        // A release granted nothing to give back (every released waiter races to run its
        // own initialiser, none is chosen); a cancelled wait backs out.
        let guard = UnwindGuard::new(&signal, |claimed| {
            if claimed.is_none() {
                self.withdraw(&node);
            }
        });
        signal.wait();
        guard.disarm();
    }

    /// A waiter unwound out of its wait, having cancelled its claim: unlinks its node, and
    /// clears WAITERS if the list is empty (so the runner need not take the lock).
    #[cold]
    fn withdraw(&self, node: &Node<Chained>) {
        let mut list = super::lock_list(&self.waiters);
        // SAFETY: our node, alive; if linked, it is in this list.
        unsafe { list.remove(node) };
        if list.is_empty() {
            // Relaxed: as setting it in `wait_for_runner`. Fails if the runner finished or
            // failed meanwhile: it clears WAITERS itself (and finds nobody under the lock).
            let _ = self.state.compare_exchange(
                RUNNING | WAITERS,
                RUNNING,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }
}

/// Puts a cell whose initialiser panicked back to INCOMPLETE and wakes its waiters.
struct AbortRun<'a, T>(&'a OnceCell<T>);

impl<T> Drop for AbortRun<'_, T> {
    #[cold]
    fn drop(&mut self) {
        let cell = self.0;
        let mut list = super::lock_list(&cell.waiters);
        cell.runner.store(0, Ordering::Relaxed);
        // Release: pairs with the next runner's acquire CAS (see `runner`). Clears WAITERS:
        // the list is drained below, under the same lock.
        cell.state.swap(INCOMPLETE, Ordering::Release);
        let released = Released::claim_all(&mut list);
        drop(list);
        released.wake_all();
    }
}

/// A token for the calling fiber, or thread outside fibers, never reused (0 under loom,
/// whose model threads all run on one OS thread: the re-entrancy check is off there).
#[cfg(not(loom))]
fn caller_token() -> u64 {
    if let Some(fiber) = crate::runtime::fiber::current_fiber() {
        return fiber.id.as_u64() << 1 | 1;
    }
    static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
    std::thread_local! {
        // Relaxed: only uniqueness matters.
        static THREAD_TOKEN: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) << 1;
    }
    THREAD_TOKEN.with(|t| *t)
}

#[cfg(loom)]
fn caller_token() -> u64 {
    0
}

#[cold]
fn reentrant_init() -> ! {
    panic!(
        "fibra: OnceCell initialised re-entrantly (get_or_init or set called from its own initialiser)"
    );
}

impl<T> Drop for OnceCell<T> {
    fn drop(&mut self) {
        if self.state.load(Ordering::Relaxed) == COMPLETE {
            // SAFETY: initialised, and dropped once: the cell goes away.
            self.value.with_mut(|v| unsafe { (*v).assume_init_drop() });
        }
    }
}

impl<T> Default for OnceCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> From<T> for OnceCell<T> {
    fn from(value: T) -> Self {
        let cell = Self::new();
        // SAFETY: the cell is ours alone and empty; marking it COMPLETE below publishes
        // the value when the cell is shared (which needs a synchronising move).
        cell.value.with_mut(|v| unsafe { (*v).write(value) });
        cell.state.store(COMPLETE, Ordering::Relaxed);
        cell
    }
}

impl<T: Clone> Clone for OnceCell<T> {
    fn clone(&self) -> Self {
        match self.get() {
            Some(value) => Self::from(value.clone()),
            None => Self::new(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceCell");
        match self.get() {
            Some(value) => d.field(value),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize as Runs;
    use loom::thread;

    /// Two initialisers race while a third caller waits: one initialiser runs, everyone
    /// sees its value (loom checks the value cell's accesses), the word ends COMPLETE.
    #[test]
    fn loom_once_cell_init_race_with_a_waiter() {
        crate::sync::loom_model(3, || {
            let cell = Arc::new(OnceCell::new());
            let runs = Arc::new(Runs::new(0));
            let init = |v: usize, cell: &OnceCell<usize>, runs: &Runs| {
                *cell.get_or_init(|| {
                    runs.fetch_add(1, Ordering::Relaxed);
                    v
                })
            };
            let others: Vec<_> = (1..=2)
                .map(|v| {
                    let (cell, runs) = (cell.clone(), runs.clone());
                    thread::spawn(move || init(v, &cell, &runs))
                })
                .collect();
            let mine = init(3, &cell, &runs);
            for t in others {
                assert_eq!(t.join().unwrap(), mine);
            }
            assert_eq!(runs.load(Ordering::Relaxed), 1);
            assert_eq!(cell.state.load(Ordering::Relaxed), COMPLETE);
            assert!(super::super::lock_list(&cell.waiters).is_empty());
        });
    }

    /// An initialiser that panics races one that succeeds: the survivor's value wins
    /// whichever ran first, and a waiter queued behind the failing one is not lost.
    #[test]
    fn loom_once_cell_panicking_initialiser_hands_on() {
        crate::sync::loom_model(3, || {
            let cell = Arc::new(OnceCell::new());
            let failing = {
                let cell = cell.clone();
                thread::spawn(move || {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        *cell.get_or_init(|| std::panic::resume_unwind(Box::new("init failed")))
                    }))
                    .ok()
                })
            };
            let value = *cell.get_or_init(|| 2);
            assert_eq!(value, 2);
            if let Some(v) = failing.join().unwrap() {
                assert_eq!(v, 2);
            }
            assert_eq!(cell.state.load(Ordering::Relaxed), COMPLETE);
        });
    }
}
