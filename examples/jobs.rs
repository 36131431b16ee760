//! A game-frame job system on fibra: each frame is a graph of a few hundred small jobs in
//! dependent stages, synchronised through `WaitGroup` counters the way fiber job systems in
//! game engines do it (a job waits on the counter of the stage it depends on; a waiting
//! job suspends and its worker runs other jobs).
//!
//! Run with `cargo run --release --example jobs [frames]`. Prints each of the first frames'
//! times, then a summary (mean, p50, p99, jobs per frame).

use fibra::Runtime;
use fibra::sync::{Mutex, WaitGroup};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One stage of the frame: `jobs` jobs of about `work` units each, started after every job
/// of the previous stage finished.
struct Stage {
    name: &'static str,
    jobs: usize,
    work: u32,
}

const STAGES: [Stage; 5] = [
    Stage {
        name: "input+ai",
        jobs: 32,
        work: 2_000,
    },
    Stage {
        name: "physics",
        jobs: 128,
        work: 3_000,
    },
    Stage {
        name: "animation",
        jobs: 128,
        work: 2_000,
    },
    Stage {
        name: "culling",
        jobs: 64,
        work: 1_500,
    },
    Stage {
        name: "render cmds",
        jobs: 96,
        work: 1_000,
    },
];

/// A stand-in for a job's real work: some arithmetic the optimiser cannot remove.
fn simulate(work: u32, seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..work {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

/// Runs one frame: spawns every job up front; each waits on its stage's dependency counter.
fn frame(frame_no: u64, checksum: &Arc<Mutex<u64>>) -> usize {
    let counters: Arc<Vec<WaitGroup>> = Arc::new(STAGES.iter().map(|_| WaitGroup::new()).collect());
    for (s, stage) in STAGES.iter().enumerate() {
        counters[s].add(stage.jobs);
    }
    let mut jobs = 0;
    for (s, stage) in STAGES.iter().enumerate() {
        for j in 0..stage.jobs {
            let counters = counters.clone();
            let checksum = checksum.clone();
            let work = stage.work;
            // Jobs are detached: the counters are how the frame knows they are done.
            drop(fibra::spawn(move || {
                if s > 0 {
                    counters[s - 1].wait(); // dependency: the previous stage
                }
                let mut r = simulate(work, frame_no << 32 | (s as u64) << 16 | j as u64);
                if j % 16 == 0 {
                    // Every 16th job fans out into 4 sub-jobs and waits for them on a
                    // counter of its own, as a job can in a fiber job system.
                    let sub = WaitGroup::new();
                    sub.add(4);
                    let parts = Arc::new(Mutex::new(0u64));
                    for k in 0..4u64 {
                        let (sub, parts) = (sub.clone(), parts.clone());
                        drop(fibra::spawn(move || {
                            let v = simulate(work / 4, r ^ k);
                            let mut p = parts.lock();
                            *p = p.wrapping_add(v);
                            sub.done();
                        }));
                    }
                    sub.wait();
                    r ^= *parts.lock();
                }
                {
                    let mut c = checksum.lock();
                    *c = c.wrapping_add(r);
                }
                counters[s].done();
            }));
            jobs += 1 + if j % 16 == 0 { 4 } else { 0 };
        }
    }
    counters[STAGES.len() - 1].wait();
    jobs
}

fn main() {
    let frames: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("frames must be a number"))
        .unwrap_or(300);
    let rt = Runtime::new().expect("runtime");
    println!(
        "fibra job system: {} workers, {} stages per frame ({})",
        rt.workers(),
        STAGES.len(),
        STAGES
            .iter()
            .map(|s| format!("{} x{}", s.name, s.jobs))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let checksum = Arc::new(Mutex::new(0u64));
    let mut times: Vec<Duration> = Vec::with_capacity(frames);
    let mut jobs = 0;
    rt.block_on(|| {
        for f in 0..frames as u64 {
            let t0 = Instant::now();
            jobs = frame(f, &checksum);
            let dt = t0.elapsed();
            if f < 5 {
                println!("  frame {f}: {:>8.1} µs", dt.as_secs_f64() * 1e6);
            }
            times.push(dt);
        }
    });
    times.sort();
    let mean = times.iter().sum::<Duration>() / frames as u32;
    let pct = |p: f64| times[((frames as f64 - 1.0) * p).round() as usize];
    println!(
        "{frames} frames, {jobs} jobs per frame: mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs, worst {:.1} µs (checksum {:x})",
        mean.as_secs_f64() * 1e6,
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        times[frames - 1].as_secs_f64() * 1e6,
        *checksum.lock()
    );
}
