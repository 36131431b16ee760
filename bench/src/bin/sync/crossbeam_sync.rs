//! crossbeam-channel between OS threads: the reference the throughput row's target is set
//! against (a fiber runtime's channel should not be slower than the best channel between
//! plain threads).

use std::time::{Duration, Instant};

use crate::{CAPACITY, WORKERS, ns_per};

fn throughput_run(n: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    let per = n / WORKERS;
    let start = Instant::now();
    let producers: Vec<_> = (0..WORKERS)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
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
            std::thread::spawn(move || rx.iter().sum::<u64>())
        })
        .collect();
    drop(rx);
    for p in producers {
        p.join().expect("a producer panicked");
    }
    let sum: u64 = consumers
        .into_iter()
        .map(|c| c.join().expect("a consumer panicked"))
        .sum();
    let elapsed = start.elapsed();
    let total = per * WORKERS;
    assert_eq!(sum, total * (total - 1) / 2);
    elapsed
}

pub(crate) fn throughput(n: u64) -> f64 {
    throughput_run(n / 10 / WORKERS * WORKERS);
    ns_per(throughput_run(n), n)
}
