//! tokio's side: the multi-thread runtime with 2 workers; stackless tasks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::{BATCH, CHUNK, ns_per, rss};

/// Builds the runtime, runs `f` as a task on one of its workers (`block_on`'s own future
/// would run on this thread, outside the workers) and returns its output.
fn on_worker<F>(f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("build the tokio runtime");
    rt.block_on(async move { tokio::spawn(f).await.expect("the benchmark task panicked") })
}

async fn spawn_join_run(total: u64) -> u64 {
    let mut handles: Vec<JoinHandle<u64>> = Vec::with_capacity(BATCH as usize);
    let mut sum = 0;
    for base in (0..total).step_by(BATCH as usize) {
        for v in base..base + BATCH {
            handles.push(tokio::spawn(async move { v * 2 }));
        }
        for h in handles.drain(..) {
            sum += h.await.expect("task panicked");
        }
    }
    sum
}

pub(crate) fn spawn_join(n: u64) -> f64 {
    on_worker(async move {
        spawn_join_run(n / 10 / BATCH * BATCH).await;
        let start = Instant::now();
        let sum = spawn_join_run(n).await;
        let elapsed = start.elapsed();
        assert_eq!(sum, n * (n - 1));
        ns_per(elapsed, n)
    })
}

async fn yield_run(n: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
    start.elapsed()
}

pub(crate) fn yield_loop(n: u64) -> f64 {
    on_worker(async move {
        yield_run(n / 10).await;
        ns_per(yield_run(n).await, n)
    })
}

/// A node over `size` leaves numbered from `num`. Inner nodes are boxed (a recursive
/// future has to be); leaves are plain `async move { num }` tasks.
fn skynet_node(num: u64, size: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        let child = size / 10;
        let handles: [JoinHandle<u64>; 10] = std::array::from_fn(|i| {
            let cnum = num + i as u64 * child;
            if child == 1 {
                tokio::spawn(async move { cnum })
            } else {
                tokio::spawn(skynet_node(cnum, child))
            }
        });
        let mut sum = 0;
        for h in handles {
            sum += h.await.expect("task panicked");
        }
        sum
    })
}

pub(crate) fn skynet(n: u64) -> f64 {
    on_worker(async move {
        let start = Instant::now();
        let sum = skynet_node(0, n).await;
        let elapsed = start.elapsed();
        assert_eq!(sum, n * (n - 1) / 2);
        ns_per(elapsed, crate::skynet_fibers(n))
    })
}

struct Parked {
    gate: Semaphore,
    parked: AtomicU64,
    finished: AtomicU64,
}

pub(crate) fn parked(n: u64) {
    on_worker(async move {
        let shared = Arc::new(Parked {
            gate: Semaphore::new(0),
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
                tokio::spawn(async move {
                    s.parked.fetch_add(1, Ordering::Relaxed);
                    // Closing the semaphore wakes every waiter with an error.
                    let _ = s.gate.acquire().await;
                    s.finished.fetch_add(1, Ordering::Release);
                });
            }
            spawned += step;
            while shared.parked.load(Ordering::Relaxed) < spawned {
                tokio::task::yield_now().await;
            }
            rss::checkpoint(spawned, n);
        }
        shared.gate.close();
        while shared.finished.load(Ordering::Acquire) < n {
            tokio::task::yield_now().await;
        }
    })
}
