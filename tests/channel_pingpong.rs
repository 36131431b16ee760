//! A quick release-mode gauge of a ping-pong round trip between two fibers on one worker
//! (not a timed assertion). Run with
//! `cargo test --release --test channel_pingpong -- --ignored --nocapture`.

use fibra::Runtime;
use fibra::channel::{self, Receiver, Sender};
use std::time::Instant;

fn round_trips(cap: usize, n: u64) -> f64 {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let (ping_tx, ping_rx): (Sender<u64>, Receiver<u64>) = channel::bounded(cap);
    let (pong_tx, pong_rx): (Sender<u64>, Receiver<u64>) = channel::bounded(cap);
    rt.block_on(move || {
        let echo = fibra::spawn(move || {
            for v in ping_rx.iter() {
                pong_tx.send(v + 1).unwrap();
            }
        });
        // Warm up.
        for i in 0..10_000 {
            ping_tx.send(i).unwrap();
            pong_rx.recv().unwrap();
        }
        let t0 = Instant::now();
        for i in 0..n {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i + 1);
        }
        let ns = t0.elapsed().as_nanos() as f64 / n as f64;
        drop(ping_tx);
        echo.join().unwrap();
        ns
    })
}

#[test]
#[ignore = "a performance gauge: run in release mode with --ignored --nocapture"]
fn ping_pong_round_trip() {
    for cap in [0, 1] {
        let mut best = f64::MAX;
        for _ in 0..5 {
            best = best.min(round_trips(cap, 1_000_000));
        }
        println!("bounded({cap}) ping-pong: {best:.1} ns per round trip (best of 5)");
    }
}

#[test]
fn ping_pong_works() {
    for cap in [0, 1] {
        round_trips(cap, 1000);
    }
}

#[test]
#[ignore = "a profiling loop"]
fn ping_pong_profile() {
    let n = std::env::var("PINGPONG_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000_000);
    println!("{:.1} ns", round_trips(0, n));
}
