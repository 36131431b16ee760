//! Join handles: how a fiber's (or blocking job's) result reaches whoever waits for it.

use super::fiber::{self, FiberRef};
use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

/// Who is waiting for a result, and how to wake them.
pub(crate) enum Waiter {
    /// A fiber: woken through the scheduler.
    Fiber(FiberRef),
    /// A plain thread: woken with `Thread::unpark`.
    Thread(std::thread::Thread),
}

impl Waiter {
    /// The calling fiber, or the calling thread outside fibers.
    pub(crate) fn current() -> Waiter {
        match fiber::current_fiber() {
            Some(f) if !fiber::runtime_shutting_down() => Waiter::Fiber(f),
            _ => Waiter::Thread(std::thread::current()),
        }
    }

    pub(crate) fn wake(self) {
        match self {
            Waiter::Fiber(f) => f.wake(),
            Waiter::Thread(t) => t.unpark(),
        }
    }
}

/// Suspends the calling fiber until woken, or parks the calling thread outside fibers.
/// May return spuriously: callers re-check their condition.
///
/// A fiber whose runtime is shutting down is being unwound and must not suspend: it
/// polls with short thread parks instead (what it waits for is being dropped by the
/// workers, youngest first).
pub(crate) fn wait_for_wake() {
    if fiber::in_fiber() && !fiber::runtime_shutting_down() {
        fiber::park_current();
    } else if fiber::in_fiber() {
        std::thread::park_timeout(std::time::Duration::from_millis(1));
    } else {
        std::thread::park();
    }
}

/// Why a join did not produce a value.
pub struct JoinError {
    repr: JoinErrorRepr,
}

enum JoinErrorRepr {
    Panic(Box<dyn Any + Send>),
    Cancelled,
}

impl JoinError {
    pub(crate) fn panic(payload: Box<dyn Any + Send>) -> Self {
        JoinError {
            repr: JoinErrorRepr::Panic(payload),
        }
    }
    pub(crate) fn cancelled() -> Self {
        JoinError {
            repr: JoinErrorRepr::Cancelled,
        }
    }
    /// Whether the fiber panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, JoinErrorRepr::Panic(_))
    }
    /// Whether the fiber was cancelled: the runtime shut down before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, JoinErrorRepr::Cancelled)
    }
    /// The panic payload, to re-raise with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the fiber did not panic (see [`JoinError::is_panic`]).
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        match self.repr {
            JoinErrorRepr::Panic(p) => p,
            JoinErrorRepr::Cancelled => panic!("fibra: JoinError::into_panic on a cancelled fiber"),
        }
    }
    /// The panic payload, or the error itself if the fiber did not panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, JoinError> {
        match self.repr {
            JoinErrorRepr::Panic(p) => Ok(p),
            JoinErrorRepr::Cancelled => Err(self),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            JoinErrorRepr::Panic(p) => f
                .debug_tuple("Panic")
                .field(&panic_message(p.as_ref()))
                .finish(),
            JoinErrorRepr::Cancelled => f.write_str("Cancelled"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            JoinErrorRepr::Panic(p) => write!(f, "fiber panicked: {}", panic_message(p.as_ref())),
            JoinErrorRepr::Cancelled => {
                f.write_str("fiber was cancelled: its runtime shut down first")
            }
        }
    }
}

impl std::error::Error for JoinError {}

fn panic_message(p: &(dyn Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string payload>")
}

/// `JoinInner::state`: no result and no one waiting.
const EMPTY: u8 = 0;
/// Someone waits: `complete` must wake what `waiters` holds.
const WAITING: u8 = 1;
/// The result is in.
const DONE: u8 = 2;

/// The meeting point of a result and whoever waits for it: the joiner, and the scope that
/// spawned the fiber (both may wait at once).
pub(crate) struct JoinInner<T> {
    /// EMPTY, WAITING or DONE: `complete` is one swap unless someone waits.
    state: AtomicU8,
    /// Written once by the completer before `state` becomes DONE; read once by the joiner
    /// after.
    result: UnsafeCell<Option<Result<T, JoinError>>>,
    /// Who to wake; touched only on the slow paths.
    waiters: Mutex<Waiters>,
}

/// The waiters of one join slot: one inline (the usual case), more in a vector.
#[derive(Default)]
struct Waiters {
    first: Option<Waiter>,
    more: Vec<Waiter>,
}

// SAFETY: `result` is written by exactly one completer before the release swap of `state`
// to DONE and read only after an acquire load observes DONE, by the single JoinHandle;
// T crosses threads, hence T: Send.
unsafe impl<T: Send> Sync for JoinInner<T> {}

impl<T> JoinInner<T> {
    pub(crate) fn new() -> Self {
        JoinInner {
            state: AtomicU8::new(EMPTY),
            result: UnsafeCell::new(None),
            waiters: Mutex::new(Waiters::default()),
        }
    }

    /// Delivers the result and wakes whoever waits. Called once.
    #[inline]
    pub(crate) fn complete(&self, result: Result<T, JoinError>) {
        // SAFETY: the only write; readers read only after seeing DONE.
        unsafe { *self.result.get() = Some(result) };
        // AcqRel: the release half pairs with the acquire loads in `is_done`, publishing the
        // result; the acquire half pairs with the waiter's release when it set WAITING.
        if self.state.swap(DONE, Ordering::AcqRel) == WAITING {
            self.wake_waiters();
        }
    }

    #[cold]
    fn wake_waiters(&self) {
        // Every waiter registered before setting WAITING, under this lock.
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        waiters
            .first
            .into_iter()
            .chain(waiters.more)
            .for_each(Waiter::wake);
    }

    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        // Acquire: pairs with the release half of the swap in `complete`.
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Waits for the result and takes it.
    ///
    /// # Safety
    /// At most one caller ever (the JoinHandle consumes itself).
    pub(crate) unsafe fn join(&self) -> Result<T, JoinError> {
        if !self.is_done() {
            self.wait_slow();
        }
        // SAFETY: `done` was observed with acquire, so the write in `complete` is visible,
        // and we are the only reader.
        unsafe { (*self.result.get()).take() }.expect("fibra: join result taken twice")
    }

    /// Waits until the result is in, without taking it.
    pub(crate) fn wait_done(&self) {
        if !self.is_done() {
            self.wait_slow();
        }
    }

    /// Takes whatever result nobody joined: returns a panic payload, drops a value.
    ///
    /// # Safety
    /// Only after `is_done`, with no concurrent `join`.
    pub(crate) unsafe fn take_unjoined(&self) -> Option<Box<dyn Any + Send>> {
        // SAFETY: done was observed; the caller excludes other readers.
        match unsafe { (*self.result.get()).take() } {
            Some(Err(e)) if e.is_panic() => Some(e.into_panic()),
            _ => None,
        }
    }

    #[cold]
    fn wait_slow(&self) {
        {
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            // Register, then announce: a `complete` that swaps in DONE after our CAS finds
            // WAITING and takes the lock after us, so it sees the waiter; one that came
            // before makes the CAS fail, and we do not wait.
            let me = Waiter::current();
            match waiters.first {
                None => waiters.first = Some(me),
                Some(_) => waiters.more.push(me),
            }
            // Release: pairs with the acquire half of the swap in `complete`. Acquire on
            // failure: the state is DONE, and the result must be visible to our caller.
            if let Err(DONE) =
                self.state
                    .compare_exchange(EMPTY, WAITING, Ordering::Release, Ordering::Acquire)
            {
                // Too late: the result is in. Take back the waiter we just pushed.
                if waiters.more.pop().is_none() {
                    waiters.first = None;
                }
                return;
            }
        }
        while !self.is_done() {
            wait_for_wake();
        }
    }
}

/// Whatever holds a join slot: a fiber (the slot lives in its allocation) or a blocking
/// job's bare slot.
pub(crate) trait HasJoin<T>: Send + Sync {
    fn join_inner(&self) -> &JoinInner<T>;
}

impl<T: Send> HasJoin<T> for JoinInner<T> {
    fn join_inner(&self) -> &JoinInner<T> {
        self
    }
}

/// An owned permission to wait for a fiber's result. Dropping it detaches the fiber.
pub struct JoinHandle<T> {
    target: std::sync::Arc<dyn HasJoin<T>>,
    fiber: Option<super::FiberId>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(
        target: std::sync::Arc<dyn HasJoin<T>>,
        fiber: Option<super::FiberId>,
    ) -> Self {
        JoinHandle { target, fiber }
    }

    fn inner_ref(&self) -> &JoinInner<T> {
        self.target.join_inner()
    }

    /// Waits for the fiber to finish: suspends the calling fiber (its worker runs others),
    /// or blocks the calling thread outside fibers.
    pub fn join(self) -> Result<T, JoinError> {
        // SAFETY: `self` is consumed: this is the only join.
        unsafe { self.inner_ref().join() }
    }

    /// Whether the fiber has finished (a join would not wait).
    pub fn is_finished(&self) -> bool {
        self.inner_ref().is_done()
    }

    pub(crate) fn target(&self) -> &std::sync::Arc<dyn HasJoin<T>> {
        &self.target
    }

    /// The id of the fiber, if this handle belongs to one (not to a blocking job).
    pub fn id(&self) -> Option<super::FiberId> {
        self.fiber
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("fiber", &self.fiber)
            .field("finished", &self.is_finished())
            .finish()
    }
}
