//! may's side: stackful coroutines on may's work-stealing scheduler with 2 workers and
//! its default stacks (0x1000 words = 32 KiB, each its own mapping with a guard page).

use std::panic::resume_unwind;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use may::coroutine::JoinHandle;
use may::go;
use may::sync::SyncFlag;

use crate::{BATCH, CHUNK, ns_per, rss};

/// Runs `f` as a coroutine on may's scheduler (configured to 2 workers before its first
/// use) and waits for it on this thread.
fn on_worker<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    may::config().set_workers(2);
    go!(f).join().unwrap_or_else(|panic| resume_unwind(panic))
}

fn join<T>(h: JoinHandle<T>) -> T {
    h.join().unwrap_or_else(|panic| resume_unwind(panic))
}

fn spawn_join_run(total: u64) -> u64 {
    let mut handles: Vec<JoinHandle<u64>> = Vec::with_capacity(BATCH as usize);
    let mut sum = 0;
    for base in (0..total).step_by(BATCH as usize) {
        for v in base..base + BATCH {
            handles.push(go!(move || v * 2));
        }
        for h in handles.drain(..) {
            sum += join(h);
        }
    }
    sum
}

pub(crate) fn spawn_join(n: u64) -> f64 {
    on_worker(move || {
        spawn_join_run(n / 10 / BATCH * BATCH);
        let start = Instant::now();
        let sum = spawn_join_run(n);
        let elapsed = start.elapsed();
        assert_eq!(sum, n * (n - 1));
        ns_per(elapsed, n)
    })
}

fn yield_run(n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        may::coroutine::yield_now();
    }
    start.elapsed()
}

pub(crate) fn yield_loop(n: u64) -> f64 {
    on_worker(move || {
        yield_run(n / 10);
        ns_per(yield_run(n), n)
    })
}

fn skynet_node(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let child = size / 10;
    let handles: [JoinHandle<u64>; 10] = std::array::from_fn(|i| {
        let cnum = num + i as u64 * child;
        go!(move || skynet_node(cnum, child))
    });
    handles.into_iter().map(join).sum()
}

pub(crate) fn skynet(n: u64) -> f64 {
    on_worker(move || {
        let start = Instant::now();
        let sum = skynet_node(0, n);
        let elapsed = start.elapsed();
        assert_eq!(sum, n * (n - 1) / 2);
        ns_per(elapsed, crate::skynet_fibers(n))
    })
}

struct Parked {
    gate: SyncFlag,
    parked: AtomicU64,
    finished: AtomicU64,
}

pub(crate) fn parked(n: u64) {
    on_worker(move || {
        let shared = Arc::new(Parked {
            gate: SyncFlag::new(),
            parked: AtomicU64::new(0),
            finished: AtomicU64::new(0),
        });
        rss::baseline();
        let mut spawned = 0;
        while spawned < n {
            let step = CHUNK.min(n - spawned);
            for _ in 0..step {
                let s = shared.clone();
                // Detached: the JoinHandle is dropped at once.
                go!(move || {
                    s.parked.fetch_add(1, Ordering::Relaxed);
                    s.gate.wait();
                    s.finished.fetch_add(1, Ordering::Release);
                });
            }
            spawned += step;
            while shared.parked.load(Ordering::Relaxed) < spawned {
                may::coroutine::yield_now();
            }
            rss::checkpoint(spawned, n);
        }
        shared.gate.fire();
        while shared.finished.load(Ordering::Acquire) < n {
            may::coroutine::yield_now();
        }
    })
}
