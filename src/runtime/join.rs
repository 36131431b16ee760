//! Join handles: how a fiber's (or blocking job's) result reaches whoever waits for it.

use super::fiber::{self, FiberRef};
use super::join_state::{JoinState, WaiterSlot};
use super::rc::Rc;
use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;

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
        match fiber::current_fiber_unless_unwinding() {
            Some(f) => Waiter::Fiber(f),
            None => Waiter::Thread(std::thread::current()),
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
/// A fiber being unwound by its runtime's shutdown must not suspend: it
/// polls with short thread parks instead (what it waits for is being dropped by the
/// workers, youngest first).
pub(crate) fn wait_for_wake() {
    if fiber::in_fiber() && !fiber::being_unwound() {
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

/// The meeting point of a result and whoever waits for it: the joiner, and the scope that
/// spawned the fiber (both may wait at once).
pub(crate) struct JoinInner<T> {
    /// Done or not, and who waits (see `join_state`).
    state: JoinState<Waiter>,
    /// Written once by the completer before `state` becomes done; read once by the joiner
    /// after.
    result: UnsafeCell<Option<Result<T, JoinError>>>,
}

// SAFETY: `result` is written by exactly one completer before `JoinState::complete`
// (a release) and read only after `is_done` (an acquire) observed it, by the single
// JoinHandle; T crosses threads, hence T: Send.
unsafe impl<T: Send> Sync for JoinInner<T> {}

impl<T> JoinInner<T> {
    pub(crate) fn new() -> Self {
        JoinInner {
            state: JoinState::new(),
            result: UnsafeCell::new(None),
        }
    }

    /// Delivers the result and wakes whoever waits. Called once.
    #[inline]
    pub(crate) fn complete(&self, result: Result<T, JoinError>) {
        // SAFETY: the only write; readers read only after seeing the slot done.
        unsafe { *self.result.get() = Some(result) };
        self.state.complete(Waiter::wake);
    }

    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.state.is_done()
    }

    /// Waits for the result and takes it.
    ///
    /// # Safety
    /// At most one caller ever (the JoinHandle consumes itself).
    pub(crate) unsafe fn join(&self) -> Result<T, JoinError> {
        // SAFETY: the one join (the caller's contract) is the joiner's one wait.
        unsafe { self.wait_done(WaiterSlot::Joiner) };
        // SAFETY: `is_done` was observed (an acquire), so the write in `complete` is
        // visible, and we are the only reader.
        unsafe { (*self.result.get()).take() }.expect("fibra: join result taken twice")
    }

    /// Waits until the result is in, without taking it, as the waiter `slot` stands for.
    ///
    /// # Safety
    /// Called at most once per slot: by the one `join`, and by the scope that spawned the
    /// fiber.
    #[inline]
    pub(crate) unsafe fn wait_done(&self, slot: WaiterSlot) {
        // SAFETY: the caller's contract is `register`'s.
        if !self.is_done() && unsafe { self.state.register(slot, Waiter::current()) } {
            while !self.is_done() {
                wait_for_wake();
            }
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
}

/// See [`JoinHandle::run_if_unstarted`]; for a handle or a scope's child.
#[inline]
pub(crate) fn run_if_unstarted<T>(target: &dyn HasJoin<T>) {
    if target.join_inner().is_done() {
        return;
    }
    if let Some(fiber) = target.fiber() {
        super::worker::run_unstarted_now(fiber);
    }
}

/// Whatever holds a join slot: a fiber (the slot lives in its allocation) or a blocking
/// job's bare slot.
pub(crate) trait HasJoin<T>: Send + Sync {
    fn join_inner(&self) -> &JoinInner<T>;

    /// The fiber whose result this is, if it is a fiber's: a joiner may run it at once if
    /// it has not started (`worker::run_unstarted_now`).
    fn fiber(&self) -> Option<&super::fiber::Fiber<dyn super::fiber::Task + '_>> {
        None
    }
}

impl<T: Send> HasJoin<T> for JoinInner<T> {
    fn join_inner(&self) -> &JoinInner<T> {
        self
    }
}

/// An owned permission to wait for a fiber's result. Dropping it detaches the fiber.
pub struct JoinHandle<T> {
    target: Rc<dyn HasJoin<T>>,
    fiber: Option<super::FiberId>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(target: Rc<dyn HasJoin<T>>, fiber: Option<super::FiberId>) -> Self {
        JoinHandle { target, fiber }
    }

    fn inner_ref(&self) -> &JoinInner<T> {
        self.target.join_inner()
    }

    /// Waits for the fiber to finish: suspends the calling fiber (its worker runs others),
    /// or blocks the calling thread outside fibers.
    pub fn join(self) -> Result<T, JoinError> {
        self.run_if_unstarted();
        // SAFETY: `self` is consumed: this is the only join.
        unsafe { self.inner_ref().join() }
    }

    /// About to wait for a fiber that has not started: run it next on this worker instead
    /// of leaving it in a queue (the caller would only wait for it). Joining a tree of
    /// fibers so walks it depth first, with few stacks alive at once.
    #[inline]
    pub(crate) fn run_if_unstarted(&self) {
        run_if_unstarted(&*self.target);
    }

    /// Whether the fiber has finished (a join would not wait).
    pub fn is_finished(&self) -> bool {
        self.inner_ref().is_done()
    }

    pub(crate) fn target(&self) -> &Rc<dyn HasJoin<T>> {
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
