//! tokio's side: the multi-thread runtime with 2 workers; stackless tasks. tokio has no
//! rendezvous channel (its bounded mpsc needs a capacity of at least 1) and no
//! multi-consumer channel, so ping-pong uses `tokio::sync::mpsc::channel(1)` and the
//! throughput row `async_channel::bounded` (an MPMC channel for any async runtime).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{CAPACITY, WORKERS, ns_per};

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

pub(crate) fn ping_pong(n: u64) -> f64 {
    on_worker(async move {
        // The pinger is this task; the ponger another.
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let ponger = tokio::spawn(async move {
            while let Some(v) = ping_rx.recv().await {
                pong_tx.send(v).await.expect("the pinger is waiting");
            }
        });
        let mut rounds = async |count: u64| {
            for i in 0..count {
                ping_tx.send(i).await.expect("the ponger is waiting");
                assert_eq!(pong_rx.recv().await, Some(i));
            }
        };
        rounds(n / 10).await;
        let start = Instant::now();
        rounds(n).await;
        let elapsed = start.elapsed();
        drop(ping_tx);
        ponger.await.expect("the ponger panicked");
        ns_per(elapsed, n)
    })
}

async fn mutex_run(n: u64) -> Duration {
    let counter = Arc::new(tokio::sync::Mutex::new(0u64));
    let per = n / WORKERS;
    let start = Instant::now();
    let tasks: Vec<_> = (0..WORKERS)
        .map(|_| {
            let counter = counter.clone();
            tokio::spawn(async move {
                for _ in 0..per {
                    *counter.lock().await += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a task panicked");
    }
    let elapsed = start.elapsed();
    assert_eq!(*counter.lock().await, per * WORKERS);
    elapsed
}

pub(crate) fn mutex(n: u64) -> f64 {
    on_worker(async move {
        mutex_run(n / 10 / WORKERS * WORKERS).await;
        ns_per(mutex_run(n).await, n)
    })
}

async fn throughput_run(n: u64) -> Duration {
    let (tx, rx) = async_channel::bounded::<u64>(CAPACITY);
    let per = n / WORKERS;
    let start = Instant::now();
    let producers: Vec<_> = (0..WORKERS)
        .map(|p| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for v in p * per..(p + 1) * per {
                    tx.send(v).await.expect("the consumers are receiving");
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                let mut sum = 0u64;
                while let Ok(v) = rx.recv().await {
                    sum += v;
                }
                sum
            })
        })
        .collect();
    drop(rx);
    for p in producers {
        p.await.expect("a producer panicked");
    }
    let mut sum = 0;
    for c in consumers {
        sum += c.await.expect("a consumer panicked");
    }
    let elapsed = start.elapsed();
    let total = per * WORKERS;
    assert_eq!(sum, total * (total - 1) / 2);
    elapsed
}

pub(crate) fn throughput(n: u64) -> f64 {
    on_worker(async move {
        throughput_run(n / 10 / WORKERS * WORKERS).await;
        ns_per(throughput_run(n).await, n)
    })
}
