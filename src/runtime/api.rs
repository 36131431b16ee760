//! The functions fibers call: spawn, yield, sleep, current, and the default runtime.

use super::builder::{Runtime, SpawnOptions, spawn_on};
use super::fiber::{self, FiberId, not_in_fiber};
use super::join::JoinHandle;
use super::worker::Placement;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Spawns a fiber on the runtime of the calling fiber.
///
/// # Panics
/// Outside a fiber: use [`Runtime::spawn`] there.
pub fn spawn<T, F>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f)
}

/// Lets the other ready fibers of this worker run, then continues.
///
/// # Panics
/// Outside a fiber.
pub fn yield_now() {
    fiber::yield_current();
}

/// Suspends the calling fiber for at least `d`.
///
/// # Panics
/// Outside a fiber.
pub fn sleep(d: Duration) {
    sleep_until(Instant::now() + d);
}

/// Suspends the calling fiber until `deadline`.
///
/// # Panics
/// Outside a fiber.
pub fn sleep_until(deadline: Instant) {
    if !fiber::in_fiber() {
        not_in_fiber();
    }
    while Instant::now() < deadline {
        fiber::park_until(deadline);
    }
}

/// The calling fiber's identity.
#[derive(Debug, Clone)]
pub struct Current {
    id: FiberId,
    name: Option<Box<str>>,
}

impl Current {
    /// Its id.
    pub fn id(&self) -> FiberId {
        self.id
    }
    /// Its name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// The calling fiber.
///
/// # Panics
/// Outside a fiber.
pub fn current() -> Current {
    let f = fiber::current_fiber().unwrap_or_else(|| not_in_fiber());
    Current {
        id: f.id,
        name: f.name.clone(),
    }
}

/// Runs `f` as a fiber on the default runtime (started on first use, one worker per CPU)
/// and waits for it, like [`Runtime::block_on`].
pub fn run<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    static DEFAULT: OnceLock<Runtime> = OnceLock::new();
    DEFAULT
        .get_or_init(|| Runtime::new().expect("fibra: cannot start the default runtime"))
        .block_on(f)
}

/// Spawn settings for one fiber: name, stack size, placement.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    opts: SpawnOptions,
}

impl Builder {
    /// Default settings: the runtime's stack size, no name, back of the queue.
    pub fn new() -> Self {
        Self::default()
    }
    /// Names the fiber (see [`current`] and overflow reports).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.opts.name = Some(name.into());
        self
    }
    /// The fiber's stack size.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.opts.stack_size = Some(bytes);
        self
    }
    /// Where the new fiber goes on the spawning worker.
    pub fn placement(mut self, placement: Placement) -> Self {
        self.opts.placement = placement;
        self
    }
    /// Lets the fiber resume on any worker after it has started, not only on the one that
    /// started it, so an idle worker can take over a woken fiber.
    ///
    /// # Safety
    /// A fiber that changes threads between two suspension points sees a different
    /// thread-local storage, while compilers cache thread-local addresses across calls
    /// (including the calls that suspend a fiber). The caller promises that the fiber's
    /// code, and everything it calls, neither uses thread-local storage across a fiber
    /// switch (yield, sleep, join, any blocking fibra call) nor holds `!Send` values (such
    /// as `Rc`, `RefCell` borrows of thread-local data, or `MutexGuard`s of std mutexes)
    /// across one, and that its fiber-locals are safe to move between threads.
    pub unsafe fn migratable(mut self) -> Self {
        self.opts.migratable = true;
        self
    }

    /// Spawns on the calling fiber's runtime.
    ///
    /// # Panics
    /// Outside a fiber.
    pub fn spawn<T, F>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = fiber::current_fiber()
            .unwrap_or_else(|| not_in_fiber())
            .shared()
            .clone();
        spawn_on(&shared, self.opts, f)
    }
    /// Spawns on `rt`, from anywhere.
    pub fn spawn_on<T, F>(self, rt: &Runtime, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        rt.spawn_with(self.opts, f)
    }
}
