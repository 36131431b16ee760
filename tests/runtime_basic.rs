//! The runtime's basic behaviour: spawn, join, block_on, yield, sleep.

use fibra::Runtime;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

#[test]
fn spawn_and_join_from_outside() {
    let rt = rt();
    let h = rt.spawn(|| 40 + 2);
    assert_eq!(h.join().unwrap(), 42);
}

#[test]
fn block_on_borrows_and_nested_spawns_join() {
    let rt = rt();
    let data = [1u64, 2, 3];
    let sum = rt.block_on(|| {
        let hs: Vec<_> = (0..10u64).map(|i| fibra::spawn(move || i * 2)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>() + data.iter().sum::<u64>()
    });
    assert_eq!(sum, 90 + 6);
}

#[test]
fn panics_reach_the_joiner_and_workers_survive() {
    let rt = rt();
    let err = rt
        .spawn(|| -> u32 { panic!("bad fiber") })
        .join()
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "bad fiber");
    assert_eq!(rt.spawn(|| 5).join().unwrap(), 5);
}

#[test]
fn yield_lets_others_run() {
    let rt = rt();
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    rt.block_on(move || {
        let c2 = c.clone();
        let h = fibra::spawn(move || {
            for _ in 0..100 {
                c2.fetch_add(1, Ordering::Relaxed);
                fibra::yield_now();
            }
        });
        for _ in 0..100 {
            fibra::yield_now();
        }
        h.join().unwrap();
    });
    assert_eq!(counter.load(Ordering::Relaxed), 100);
}

#[test]
fn sleep_waits_at_least_its_duration() {
    let rt = rt();
    let start = Instant::now();
    rt.block_on(|| fibra::sleep(Duration::from_millis(20)));
    assert!(start.elapsed() >= Duration::from_millis(20));
}

#[test]
fn many_fibers_fan_out_fan_in() {
    let rt = rt();
    let total = rt.block_on(|| {
        let hs: Vec<_> = (0..100_000u64).map(|i| fibra::spawn(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(total, (0..100_000u64).sum());
}

#[test]
fn builder_options_take_effect() {
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let (s1, s2) = (started.clone(), stopped.clone());
    for idle in [
        fibra::IdlePolicy::Park,
        fibra::IdlePolicy::Spin(Duration::from_micros(200)),
        fibra::IdlePolicy::Yield(Duration::from_micros(200)),
    ] {
        let (s1, s2) = (s1.clone(), s2.clone());
        let rt = Runtime::builder()
            .workers(2)
            .stack_size(64 * 1024)
            .idle_policy(idle)
            .pin_workers([0])
            .thread_name("tester")
            .on_worker_start(move || {
                s1.fetch_add(1, Ordering::Relaxed);
            })
            .on_worker_stop(move || {
                s2.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap();
        let name = rt
            .spawn(|| std::thread::current().name().map(String::from))
            .join()
            .unwrap();
        assert!(name.unwrap().starts_with("tester-"));
        let v = rt.block_on(|| {
            let hs: Vec<_> = (0..1000u64).map(|i| fibra::spawn(move || i)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        assert_eq!(v, 499_500);
    }
    assert_eq!(started.load(Ordering::Relaxed), 6);
    assert_eq!(stopped.load(Ordering::Relaxed), 6);
}
