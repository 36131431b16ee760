//! `spawn_blocking`: a process-wide pool of threads for calls that would block a worker.

use super::join::{HasJoin, JoinError, JoinHandle, JoinInner};
use super::rc::{Rc, RcInner};
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Most threads the pool runs at once; further jobs queue.
const MAX_THREADS: usize = 512;
/// An idle pool thread exits after this long without work.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

struct Pool {
    state: Mutex<State>,
    work: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State::default()),
        work: Condvar::new(),
    })
}

/// Runs `f` on the blocking pool. Joining the handle from a fiber suspends only that fiber;
/// its worker keeps running others. Works outside fibers too.
pub fn spawn_blocking<T, F>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let inner = Rc::new(JoinInner::new());
    let done = inner.clone();
    let job: Job = Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::panic);
        done.complete(result);
    });
    let pool = pool();
    let mut state = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    state.queue.push_back(job);
    if state.idle > 0 {
        pool.work.notify_one();
    } else if state.threads < MAX_THREADS {
        let spawned = std::thread::Builder::new()
            .name("fibra-blocking".into())
            .spawn(pool_thread);
        if spawned.is_ok() {
            state.threads += 1;
        }
        // If no thread could be started the job waits for a running one; with none at all
        // it waits for the next spawn_blocking to try again.
    }
    JoinHandle::new(
        Rc::unsize(inner, |p| p as *mut RcInner<dyn HasJoin<T>>),
        None,
    )
}

fn pool_thread() {
    let pool = pool();
    let mut state = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            job();
            state = pool.state.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        state.idle += 1;
        let (s, timeout) = pool
            .work
            .wait_timeout(state, KEEP_ALIVE)
            .unwrap_or_else(|e| e.into_inner());
        state = s;
        state.idle -= 1;
        if timeout.timed_out() && state.queue.is_empty() {
            state.threads -= 1;
            return;
        }
    }
}
