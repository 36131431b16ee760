//! may's side: stackful coroutines on may's scheduler with 2 workers. may has unbounded
//! channels only (`may::sync::mpsc`, `mpmc`, `spsc`): ping-pong uses two `mpsc` channels
//! (with one message in flight, a bound would never be reached), and the throughput row
//! the unbounded `mpmc` channel, so may's producers never wait for room.

use std::panic::resume_unwind;
use std::sync::Arc;
use std::time::{Duration, Instant};

use may::coroutine::JoinHandle;
use may::go;

use crate::{WORKERS, ns_per};

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

pub(crate) fn ping_pong(n: u64) -> f64 {
    on_worker(move || {
        // The pinger is this coroutine; the ponger another.
        let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u64>();
        let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u64>();
        let ponger = go!(move || {
            while let Ok(v) = ping_rx.recv() {
                pong_tx.send(v).expect("the pinger is waiting");
            }
        });
        let rounds = |count: u64| {
            for i in 0..count {
                ping_tx.send(i).expect("the ponger is waiting");
                assert_eq!(pong_rx.recv(), Ok(i));
            }
        };
        rounds(n / 10);
        let start = Instant::now();
        rounds(n);
        let elapsed = start.elapsed();
        drop(ping_tx);
        join(ponger);
        ns_per(elapsed, n)
    })
}

fn mutex_run(n: u64) -> Duration {
    let counter = Arc::new(may::sync::Mutex::new(0u64));
    let per = n / WORKERS;
    let start = Instant::now();
    let coroutines: Vec<_> = (0..WORKERS)
        .map(|_| {
            let counter = counter.clone();
            go!(move || {
                for _ in 0..per {
                    *counter.lock().expect("not poisoned") += 1;
                }
            })
        })
        .collect();
    coroutines.into_iter().for_each(join);
    let elapsed = start.elapsed();
    assert_eq!(*counter.lock().expect("not poisoned"), per * WORKERS);
    elapsed
}

pub(crate) fn mutex(n: u64) -> f64 {
    on_worker(move || {
        mutex_run(n / 10 / WORKERS * WORKERS);
        ns_per(mutex_run(n), n)
    })
}

fn throughput_run(n: u64) -> Duration {
    let (tx, rx) = may::sync::mpmc::channel::<u64>();
    let per = n / WORKERS;
    let start = Instant::now();
    let producers: Vec<_> = (0..WORKERS)
        .map(|p| {
            let tx = tx.clone();
            go!(move || {
                for v in p * per..(p + 1) * per {
                    tx.send(v).expect("the consumers are receiving");
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let rx = rx.clone();
            go!(move || {
                let mut sum = 0u64;
                while let Ok(v) = rx.recv() {
                    sum += v;
                }
                sum
            })
        })
        .collect();
    drop(rx);
    producers.into_iter().for_each(join);
    let sum: u64 = consumers.into_iter().map(join).sum();
    let elapsed = start.elapsed();
    let total = per * WORKERS;
    assert_eq!(sum, total * (total - 1) / 2);
    elapsed
}

pub(crate) fn throughput(n: u64) -> f64 {
    on_worker(move || {
        throughput_run(n / 10 / WORKERS * WORKERS);
        ns_per(throughput_run(n), n)
    })
}
