//! `Runtime` and its `Builder`.

use super::fiber::{Fiber, Task};
use super::join::{HasJoin, JoinError, JoinHandle, JoinInner};
use super::park::MAX_WORKERS;
use super::rc::{Rc, RcInner};
use super::worker::{self, Placement, Shared};
use std::any::Any;
use std::cell::UnsafeCell;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

/// What an idle worker does before it sleeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdlePolicy {
    /// Park the thread at once (the default): no CPU burnt while idle.
    #[default]
    Park,
    /// Spin looking for work for this long, then park: lower wake-up latency.
    Spin(Duration),
    /// Yield the thread to the OS between looks for work, then park after this long.
    Yield(Duration),
}

type Hook = Arc<dyn Fn() + Send + Sync>;

/// Runtime settings, fixed at build time.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) stack_size: usize,
    pub(crate) idle: IdlePolicy,
    pub(crate) pin_to: Option<Vec<usize>>,
    pub(crate) thread_name: String,
    pub(crate) on_start: Option<Hook>,
    pub(crate) on_stop: Option<Hook>,
}

/// Configures a [`Runtime`].
pub struct Builder {
    config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Defaults: one worker per available CPU, 128 KiB fiber stacks, idle workers park.
    pub fn new() -> Self {
        Builder {
            config: Config {
                workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
                stack_size: 128 * 1024,
                idle: IdlePolicy::Park,
                pin_to: None,
                thread_name: "fibra-worker".into(),
                on_start: None,
                on_stop: None,
            },
        }
    }

    /// Number of worker threads (at least 1, at most the platform's limit, 65 535 on
    /// 64-bit targets; `build` rejects more).
    pub fn workers(mut self, n: usize) -> Self {
        self.config.workers = n.max(1);
        self
    }

    /// Default stack size of this runtime's fibers.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.config.stack_size = bytes;
        self
    }

    /// What idle workers do before sleeping.
    pub fn idle_policy(mut self, policy: IdlePolicy) -> Self {
        self.config.idle = policy;
        self
    }

    /// Pins worker `i` to CPU `cpus[i % cpus.len()]` (Linux `sched_setaffinity`; ignored
    /// elsewhere).
    pub fn pin_workers(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        let cpus: Vec<usize> = cpus.into_iter().collect();
        self.config.pin_to = (!cpus.is_empty()).then_some(cpus);
        self
    }

    /// Prefix of the worker threads' names (`<prefix>-<index>`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.config.thread_name = name.into();
        self
    }

    /// Runs on each worker thread when it starts.
    pub fn on_worker_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.config.on_start = Some(Arc::new(f));
        self
    }

    /// Runs on each worker thread when it stops.
    pub fn on_worker_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.config.on_stop = Some(Arc::new(f));
        self
    }

    /// Starts the worker threads.
    ///
    /// Fails with `InvalidInput` if more workers were asked for than a runtime can count
    /// (tens of thousands; see [`workers`](Self::workers)), or with the OS's error if a
    /// thread cannot be started.
    pub fn build(self) -> io::Result<Runtime> {
        if self.config.workers > MAX_WORKERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "fibra: a runtime has at most {MAX_WORKERS} workers, not {}",
                    self.config.workers
                ),
            ));
        }
        let shared = Shared::new(self.config)?;
        let mut threads = Vec::with_capacity(shared.workers.len());
        for i in 0..shared.workers.len() {
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{i}", shared.config.thread_name))
                .spawn(move || worker::worker_main(s, i));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    stop(&shared, &mut threads);
                    return Err(e);
                }
            }
        }
        Ok(Runtime { shared, threads })
    }
}

/// Pins the calling thread to one CPU, where the platform allows.
pub(crate) fn pin_current_thread(cpu: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays within it for cpu < CPU_SETSIZE,
    // which we check; sched_setaffinity(0, ..) affects only the calling thread.
    unsafe {
        if cpu < libc::CPU_SETSIZE as usize {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}

fn stop(shared: &Arc<Shared>, threads: &mut Vec<ThreadHandle<()>>) {
    shared.shutdown.store(true, Ordering::Release);
    shared.unpark_all();
    for t in threads.drain(..) {
        let _ = t.join();
    }
    shared.drain_all();
}

/// A pool of worker threads running fibers.
///
/// ```
/// let rt = fibra::Runtime::builder().workers(2).build()?;
/// let h = rt.spawn(|| 40 + 2);
/// assert_eq!(h.join().unwrap(), 42);
/// let v = rt.block_on(|| fibra::spawn(|| 7).join().unwrap());
/// assert_eq!(v, 7);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<ThreadHandle<()>>,
}

impl Runtime {
    /// A [`Builder`].
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A runtime with the default settings.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// Spawns a fiber on this runtime, from any thread.
    pub fn spawn<T, F>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn_on(&self.shared, SpawnOptions::default(), f)
    }

    pub(crate) fn spawn_with<T, F>(&self, opts: SpawnOptions, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn_on(&self.shared, opts, f)
    }

    /// Runs `f` as a fiber and blocks the calling thread until it returns. `f` may borrow
    /// from the caller (it finishes before this returns). A panic in `f` is re-raised here.
    ///
    /// # Panics
    /// If called from inside a fiber (that would block a worker): spawn and join instead.
    pub fn block_on<T, F>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        match self.try_block_on(f) {
            Ok(v) => v,
            Err(e) if e.is_panic() => resume_unwind(e.into_panic()),
            Err(e) => panic!("fibra: block_on: {e}"),
        }
    }

    /// As [`Runtime::block_on`], but hands back the join error (a panic or a cancellation)
    /// instead of raising it: for the C ABI.
    ///
    /// # Panics
    /// If called from inside a fiber.
    pub(crate) fn try_block_on<T, F>(&self, f: F) -> Result<T, JoinError>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        if super::fiber::in_fiber() {
            panic!("fibra: block_on called from inside a fiber; use fibra::spawn(..).join() there");
        }
        // SAFETY: we join the fiber before returning, so everything `f` borrows outlives it;
        // and if the runtime shuts down first, the fiber is unwound (its borrows released)
        // before its join completes as cancelled.
        let handle = unsafe { spawn_unchecked(&self.shared, SpawnOptions::default(), f) };
        handle.join()
    }

    /// The I/O backend this runtime's fibers use for [`net`](crate::net) and
    /// [`fs`](crate::fs) (chosen once per process; see [`IoBackend`](crate::IoBackend)).
    pub fn io_backend(&self) -> crate::IoBackend {
        self.shared.io_backend
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.workers.len()
    }

    /// Stops the runtime: unfinished fibers are unwound (their destructors run, joins get
    /// a cancelled error) and the worker threads are joined. Returns false if that took
    /// longer than `timeout` (the workers are then left to finish on their own).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.unpark_all();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && self.threads.iter().any(|t| !t.is_finished()) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if self.threads.iter().all(|t| t.is_finished()) {
            stop(&self.shared, &mut self.threads);
            true
        } else {
            self.threads.clear(); // detach
            false
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        stop(&self.shared, &mut self.threads);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.shared.workers.len())
            .finish()
    }
}

/// Per-spawn settings (see [`crate::fiber::Builder`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct SpawnOptions {
    pub(crate) name: Option<String>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) placement: Placement,
    pub(crate) migratable: bool,
}

/// Spawns `f` on `shared`.
pub(crate) fn spawn_on<T, F>(shared: &Arc<Shared>, opts: SpawnOptions, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: F and T are 'static.
    unsafe { spawn_unchecked(shared, opts, f) }
}

/// Spawns `f` without requiring `'static`.
///
/// # Safety
/// Whatever `f` and `T` borrow must outlive the fiber: the caller joins the handle (or
/// otherwise waits for the fiber to finish or be dropped) before those borrows end.
pub(crate) unsafe fn spawn_unchecked<T, F>(
    shared: &Arc<Shared>,
    opts: SpawnOptions,
    f: F,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let id = shared.next_fiber_id();
    let task = SpawnTask {
        func: UnsafeCell::new(Some(f)),
        join: JoinInner::<T>::new(),
    };
    let fiber: Rc<Fiber<SpawnTask<F, T>>> = Fiber::new(
        shared.clone(),
        id,
        opts.name.map(String::into_boxed_str),
        opts.stack_size.unwrap_or(shared.config.stack_size),
        opts.migratable,
        task,
    );
    let target = Rc::unsize(fiber.clone(), |p| p as *mut RcInner<dyn HasJoin<T> + '_>);
    let fiber = Rc::unsize(fiber, |p| p as *mut RcInner<Fiber<dyn Task + '_>>);
    // SAFETY: only lifetimes change. The caller's contract keeps what F and T borrow alive
    // until the fiber finished or was cancelled, which is when F is consumed and the
    // result handed over (or dropped by the scope); what outlives that in the allocation
    // is `None` and an emptied slot.
    let fiber = unsafe {
        std::mem::transmute::<Rc<Fiber<dyn Task + '_>>, Rc<Fiber<dyn Task + 'static>>>(fiber)
    };
    // SAFETY: as above.
    let target = unsafe {
        std::mem::transmute::<Rc<dyn HasJoin<T> + '_>, Rc<dyn HasJoin<T> + 'static>>(target)
    };
    worker::spawn_fiber(shared, fiber, opts.placement);
    JoinHandle::new(target, Some(id))
}

/// A spawned fiber's typed part: its function until it runs, and its join slot.
struct SpawnTask<F, T> {
    func: UnsafeCell<Option<F>>,
    join: JoinInner<T>,
}

// SAFETY: `func` is touched once, by the one thread that starts or cancels the fiber (the
// Task contract); F: Send lets it move there. The join slot is Sync for T: Send.
unsafe impl<F: Send, T: Send> Sync for SpawnTask<F, T> {}

impl<F, T> Task for SpawnTask<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    unsafe fn run(&self, before_complete: &mut dyn FnMut() -> Option<Box<dyn Any + Send>>) {
        // SAFETY: the Task contract: one call, by the thread running the fiber.
        let f = unsafe { (*self.func.get()).take() }.expect("fibra: a fiber ran twice");
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => {
                let result = match before_complete() {
                    None => Ok(v),
                    Some(p) => Err(JoinError::panic(p)),
                };
                self.join.complete(result);
            }
            Err(p) if crate::coroutine::is_forced_unwind(&p) => {
                // The runtime is dropping this fiber: report it and let the unwind go on.
                let _ = before_complete();
                self.join.complete(Err(JoinError::cancelled()));
                resume_unwind(p)
            }
            Err(p) => {
                let _ = before_complete();
                self.join.complete(Err(JoinError::panic(p)));
            }
        }
    }

    unsafe fn cancel(&self) {
        // SAFETY: the Task contract: instead of `run`, by the one thread holding the fiber.
        drop(unsafe { (*self.func.get()).take() });
        self.join.complete(Err(JoinError::cancelled()));
    }
}

impl<F, T> HasJoin<T> for Fiber<SpawnTask<F, T>>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn join_inner(&self) -> &JoinInner<T> {
        &self.task.join
    }

    fn fiber(&self) -> Option<&Fiber<dyn Task + '_>> {
        Some(self)
    }
}
