//! fibra's side: the work-stealing runtime with 2 workers, `fibra::sync::Mutex` (feature
//! `fibra-runtime`) and `fibra::channel` (feature `fibra-channel`: crossbeam's shape,
//! `bounded(n) -> (Sender<T>, Receiver<T>)`, both ends `Clone + Send`, `send`/`recv`
//! failing only once the other side is gone).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fibra::JoinHandle;

use crate::{WORKERS, ns_per};

fn runtime() -> fibra::Runtime {
    fibra::Runtime::builder()
        .workers(2)
        .build()
        .expect("build the fibra runtime")
}

fn join<T>(h: JoinHandle<T>) -> T {
    h.join().expect("fiber panicked")
}

/// Ping-pong over two rendezvous channels. The pinger is a spawned fiber; it spawns the
/// ponger into its worker's next-to-run slot, so the pair starts on one worker, and as
/// fibra never moves a started fiber to another worker, they stay there: each wake-up is
/// a local one.
#[cfg(feature = "fibra-channel")]
pub(crate) fn ping_pong(n: u64) -> f64 {
    use fibra::fiber::{Builder, Placement};
    let rt = runtime();
    rt.block_on(|| {
        join(fibra::spawn(move || {
            let (ping_tx, ping_rx) = fibra::channel::bounded::<u64>(0);
            let (pong_tx, pong_rx) = fibra::channel::bounded::<u64>(0);
            let ponger = Builder::new()
                .placement(Placement::NextToRun)
                .spawn(move || {
                    while let Ok(v) = ping_rx.recv() {
                        pong_tx.send(v).expect("the pinger is waiting");
                    }
                });
            let rounds = |count: u64| {
                for i in 0..count {
                    ping_tx.send(i).expect("the ponger is waiting");
                    assert_eq!(pong_rx.recv().ok(), Some(i));
                }
            };
            rounds(n / 10);
            let start = Instant::now();
            rounds(n);
            let elapsed = start.elapsed();
            drop(ping_tx);
            join(ponger);
            ns_per(elapsed, n)
        }))
    })
}

fn mutex_run(n: u64) -> Duration {
    let counter = Arc::new(fibra::sync::Mutex::new(0u64));
    let per = n / WORKERS;
    let start = Instant::now();
    let fibers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let counter = counter.clone();
            fibra::spawn(move || {
                for _ in 0..per {
                    *counter.lock() += 1;
                }
            })
        })
        .collect();
    fibers.into_iter().for_each(join);
    let elapsed = start.elapsed();
    assert_eq!(*counter.lock(), per * WORKERS);
    elapsed
}

pub(crate) fn mutex(n: u64) -> f64 {
    let rt = runtime();
    rt.block_on(|| {
        mutex_run(n / 10 / WORKERS * WORKERS);
        ns_per(mutex_run(n), n)
    })
}

#[cfg(feature = "fibra-channel")]
fn throughput_run(n: u64) -> Duration {
    let (tx, rx) = fibra::channel::bounded::<u64>(crate::CAPACITY);
    let per = n / WORKERS;
    let start = Instant::now();
    let producers: Vec<_> = (0..WORKERS)
        .map(|p| {
            let tx = tx.clone();
            fibra::spawn(move || {
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
            fibra::spawn(move || {
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

#[cfg(feature = "fibra-channel")]
pub(crate) fn throughput(n: u64) -> f64 {
    let rt = runtime();
    rt.block_on(|| {
        throughput_run(n / 10 / WORKERS * WORKERS);
        ns_per(throughput_run(n), n)
    })
}
