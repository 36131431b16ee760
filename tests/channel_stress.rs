//! Thousands of fibers and a few threads over rendezvous, bounded and unbounded channels
//! (plain sends, timed sends and receives, select! and dynamic Select), recording what
//! they receive under a `fibra::sync::Mutex`: every message arrives exactly once, and
//! every producer and consumer finishes.

use fibra::Runtime;
use fibra::channel::{self, Receiver, RecvTimeoutError, Select, SendTimeoutError, Sender};
use fibra::sync::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

const THREAD_PRODUCERS: usize = 2;
const PER_PRODUCER: usize = 60;
const THREAD_CONSUMERS: usize = 3;

/// Under emulation (`.ci/cross` sets `FIBRA_CHILD_RUNNER`) everything runs some 30x
/// slower while timers keep real time: a tenth of the fibers, and timeouts 20x longer,
/// so the timed waiters do not turn the run into a churn of expiring timers.
fn emulated() -> bool {
    std::env::var_os("FIBRA_CHILD_RUNNER").is_some()
}

fn fiber_producers() -> usize {
    if emulated() { 300 } else { 3_000 }
}

fn fiber_consumers() -> usize {
    if emulated() { 100 } else { 1_000 }
}

fn timeout_us(us: u64) -> Duration {
    Duration::from_micros(if emulated() { us * 20 } else { us })
}

fn produce(id0: usize, txs: &[Sender<usize>; 3]) {
    for id in id0..id0 + PER_PRODUCER {
        match id % 5 {
            0..=2 => txs[id % 3].send(id).unwrap(),
            3 => fibra::select! {
                send(txs[0], id) -> r => r.unwrap(),
                send(txs[1], id) -> r => r.unwrap(),
                send(txs[2], id) -> r => r.unwrap(),
            },
            _ => {
                let mut v = id;
                loop {
                    match txs[(id / 5) % 3].send_timeout(v, timeout_us(200)) {
                        Ok(()) => break,
                        Err(SendTimeoutError::Timeout(back)) => v = back,
                        Err(SendTimeoutError::Disconnected(_)) => panic!("receivers gone"),
                    }
                }
            }
        }
    }
}

fn consume(c: usize, rxs: &[Receiver<usize>; 3], seen: &Mutex<Vec<u8>>) -> usize {
    let mut got = 0;
    let mut record = |id: usize| {
        seen.lock()[id] += 1;
        got += 1;
    };
    match c % 3 {
        0 => {
            // Dynamic select over the channels still open.
            let mut open: Vec<usize> = vec![0, 1, 2];
            while !open.is_empty() {
                let mut sel = Select::new();
                for &i in &open {
                    sel.recv(&rxs[i]);
                }
                let op = sel.select();
                let k = op.index();
                match op.recv(&rxs[open[k]]) {
                    Ok(id) => record(id),
                    Err(_) => {
                        open.remove(k);
                    }
                }
            }
        }
        1 => loop {
            match rxs[(c / 3) % 3].recv_timeout(timeout_us(300)) {
                Ok(id) => record(id),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        },
        _ => {
            for id in &rxs[(c / 3) % 3] {
                record(id);
            }
        }
    }
    got
}

#[test]
fn every_message_arrives_exactly_once() {
    let t0 = Instant::now();
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (tx0, rx0) = channel::bounded::<usize>(0);
    let (tx1, rx1) = channel::bounded::<usize>(8);
    let (tx2, rx2) = channel::unbounded::<usize>();
    let txs = Arc::new([tx0, tx1, tx2]);
    let rxs = Arc::new([rx0, rx1, rx2]);
    let (fiber_producers, fiber_consumers) = (fiber_producers(), fiber_consumers());
    let producers = fiber_producers + THREAD_PRODUCERS;
    let total = producers * PER_PRODUCER;
    let seen = Arc::new(Mutex::new(vec![0u8; total]));

    let mut consumers_f = vec![];
    let mut consumers_t = vec![];
    for c in 0..fiber_consumers + THREAD_CONSUMERS {
        let (rxs, seen) = (rxs.clone(), seen.clone());
        if c < fiber_consumers {
            consumers_f.push(rt.spawn(move || consume(c, &rxs, &seen)));
        } else {
            consumers_t.push(std::thread::spawn(move || consume(c, &rxs, &seen)));
        }
    }
    drop(rxs);
    let mut producers_f = vec![];
    let mut producers_t = vec![];
    for p in 0..producers {
        let txs = txs.clone();
        if p < fiber_producers {
            producers_f.push(rt.spawn(move || produce(p * PER_PRODUCER, &txs)));
        } else {
            producers_t.push(std::thread::spawn(move || produce(p * PER_PRODUCER, &txs)));
        }
    }
    drop(txs);
    producers_f.into_iter().for_each(|h| h.join().unwrap());
    producers_t.into_iter().for_each(|h| h.join().unwrap());
    let received: usize = consumers_f
        .into_iter()
        .map(|h| h.join().unwrap())
        .sum::<usize>()
        + consumers_t
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum::<usize>();
    assert_eq!(received, total);
    let seen = seen.lock();
    let wrong: Vec<_> = seen
        .iter()
        .enumerate()
        .filter(|(_, n)| **n != 1)
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "ids not received exactly once (id, times): {wrong:?}"
    );
    eprintln!("{total} messages in {:?}", t0.elapsed());
}
