//! fibra's side: the work-stealing runtime of issue 3 with 2 workers and its default
//! fiber stacks. Compiled only with the `fibra-runtime` feature; written against the API
//! in the issue (`Runtime::builder().workers(2).build()`, `Runtime::block_on`,
//! `fibra::spawn -> JoinHandle<T>`, `JoinHandle::join -> Result<T, JoinError>`,
//! `fibra::yield_now`, `fibra::spawn_blocking`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fibra::JoinHandle;

use crate::{BATCH, CHUNK, ns_per, rss};

fn runtime() -> fibra::Runtime {
    fibra::Runtime::builder()
        .workers(2)
        .build()
        .expect("build the fibra runtime")
}

fn join<T>(h: JoinHandle<T>) -> T {
    h.join().expect("fiber panicked")
}

fn spawn_join_run(total: u64) -> u64 {
    let mut handles: Vec<JoinHandle<u64>> = Vec::with_capacity(BATCH as usize);
    let mut sum = 0;
    for base in (0..total).step_by(BATCH as usize) {
        for v in base..base + BATCH {
            handles.push(fibra::spawn(move || v * 2));
        }
        for h in handles.drain(..) {
            sum += join(h);
        }
    }
    sum
}

pub(crate) fn spawn_join(n: u64) -> f64 {
    let rt = runtime();
    rt.block_on(|| {
        spawn_join_run(n / 10 / BATCH * BATCH);
        let start = Instant::now();
        let sum = spawn_join_run(n);
        let elapsed = start.elapsed();
        assert_eq!(sum, n * (n - 1));
        ns_per(elapsed, n)
    })
}

fn yield_run(n: u64) -> Duration {
    // One spawned fiber yields; the block_on fiber waits in join, so nothing else is
    // runnable (as for the peers).
    join(fibra::spawn(move || {
        let start = Instant::now();
        for _ in 0..n {
            fibra::yield_now();
        }
        start.elapsed()
    }))
}

pub(crate) fn yield_loop(n: u64) -> f64 {
    let rt = runtime();
    rt.block_on(|| {
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
        fibra::spawn(move || skynet_node(cnum, child))
    });
    handles.into_iter().map(join).sum()
}

pub(crate) fn skynet(n: u64) -> f64 {
    let rt = runtime();
    rt.block_on(|| {
        let start = Instant::now();
        let sum = skynet_node(0, n);
        let elapsed = start.elapsed();
        assert_eq!(sum, n * (n - 1) / 2);
        ns_per(elapsed, crate::skynet_fibers(n))
    })
}

struct Parked {
    release: fibra::sync::Event,
    parked: AtomicU64,
    finished: AtomicU64,
}

/// Every fiber parks on one manual-reset `fibra::sync::Event`, set once at the end, as the
/// peers park on one channel / semaphore / flag. The spawner detaches them (dropping a
/// handle does not cancel a fiber) and counts them out instead.
pub(crate) fn parked(n: u64) {
    let rt = runtime();
    rt.block_on(|| {
        let shared = Arc::new(Parked {
            release: fibra::sync::Event::new_manual_reset(),
            parked: AtomicU64::new(0),
            finished: AtomicU64::new(0),
        });
        rss::baseline();
        let mut spawned = 0;
        while spawned < n {
            let step = CHUNK.min(n - spawned);
            for _ in 0..step {
                let s = shared.clone();
                drop(fibra::spawn(move || {
                    s.parked.fetch_add(1, Ordering::Relaxed);
                    s.release.wait();
                    s.finished.fetch_add(1, Ordering::Release);
                }));
            }
            spawned += step;
            while shared.parked.load(Ordering::Relaxed) < spawned {
                fibra::yield_now();
            }
            rss::checkpoint(spawned, n);
        }
        shared.release.set();
        while shared.finished.load(Ordering::Acquire) < n {
            fibra::yield_now();
        }
    })
}
