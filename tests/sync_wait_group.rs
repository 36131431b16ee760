//! `fibra::sync::WaitGroup` from fibers, from threads, and mixed; reuse; timeouts; misuse.

use fibra::Runtime;
use fibra::sync::WaitGroup;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

#[test]
fn wait_on_zero_returns_at_once() {
    let wg = WaitGroup::new();
    wg.wait();
    assert!(wg.wait_timeout(Duration::ZERO));
    assert_eq!(wg.count(), 0);
    let rt = rt();
    let wg2 = wg.clone();
    rt.spawn(move || wg2.wait()).join().unwrap();
}

#[test]
fn job_system_a_fiber_waits_for_a_thousand_jobs() {
    let rt = rt();
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    rt.spawn(move || {
        for frame in 0..5 {
            let wg = WaitGroup::new();
            wg.add(1000);
            for i in 0..1000 {
                let (wg, ran) = (wg.clone(), ran2.clone());
                fibra::spawn(move || {
                    if i % 97 == 0 {
                        fibra::yield_now();
                    }
                    ran.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
            wg.wait();
            // Every job's effects are visible once the wait returns.
            assert_eq!(ran2.load(Ordering::Relaxed), (frame + 1) * 1000);
            assert_eq!(wg.count(), 0);
        }
    })
    .join()
    .unwrap();
    assert_eq!(ran.load(Ordering::Relaxed), 5000);
}

#[test]
fn threads_and_fibers_mixed_as_jobs_and_waiters() {
    let rt = rt();
    let wg = WaitGroup::new();
    let ran = Arc::new(AtomicUsize::new(0));
    wg.add(8 + 4);
    // Waiters first: fibers and threads.
    let fiber_waiters: Vec<_> = (0..4)
        .map(|_| {
            let (wg, ran) = (wg.clone(), ran.clone());
            rt.spawn(move || {
                wg.wait();
                ran.load(Ordering::Relaxed)
            })
        })
        .collect();
    let thread_waiters: Vec<_> = (0..2)
        .map(|_| {
            let (wg, ran) = (wg.clone(), ran.clone());
            std::thread::spawn(move || {
                wg.wait();
                ran.load(Ordering::Relaxed)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(10));
    let fiber_jobs: Vec<_> = (0..8)
        .map(|_| {
            let (wg, ran) = (wg.clone(), ran.clone());
            rt.spawn(move || {
                fibra::sleep(Duration::from_millis(2));
                ran.fetch_add(1, Ordering::Relaxed);
                wg.done();
            })
        })
        .collect();
    let thread_jobs: Vec<_> = (0..4)
        .map(|_| {
            let (wg, ran) = (wg.clone(), ran.clone());
            std::thread::spawn(move || {
                ran.fetch_add(1, Ordering::Relaxed);
                wg.done();
            })
        })
        .collect();
    for h in fiber_waiters {
        assert_eq!(h.join().unwrap(), 12);
    }
    for h in thread_waiters {
        assert_eq!(h.join().unwrap(), 12);
    }
    fiber_jobs.into_iter().for_each(|h| h.join().unwrap());
    thread_jobs.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn reused_across_rounds() {
    let rt = rt();
    let wg = WaitGroup::new();
    let ran = Arc::new(AtomicUsize::new(0));
    for round in 1..=50 {
        wg.add(5);
        for j in 0..5 {
            let (wg, ran) = (wg.clone(), ran.clone());
            if j % 2 == 0 {
                drop(rt.spawn(move || {
                    ran.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                }));
            } else {
                std::thread::spawn(move || {
                    ran.fetch_add(1, Ordering::Relaxed);
                    wg.done();
                });
            }
        }
        if round % 2 == 0 {
            wg.wait();
        } else {
            let wg = wg.clone();
            rt.spawn(move || wg.wait()).join().unwrap();
        }
        assert_eq!(ran.load(Ordering::Relaxed), round * 5);
    }
}

#[test]
fn timeouts_from_fibers_and_threads() {
    let rt = rt();
    let wg = WaitGroup::new();
    wg.add(1);
    let t0 = Instant::now();
    assert!(!wg.wait_timeout(Duration::from_millis(30)));
    assert!(t0.elapsed() >= Duration::from_millis(30));
    let wg2 = wg.clone();
    assert!(
        !rt.spawn(move || wg2.wait_timeout(Duration::from_millis(20)))
            .join()
            .unwrap()
    );
    // A timed waiter released before its deadline reports it.
    let wg2 = wg.clone();
    let waiter = rt.spawn(move || wg2.wait_timeout(Duration::from_secs(10)));
    let wg3 = wg.clone();
    let thread_waiter = std::thread::spawn(move || wg3.wait_timeout(Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(10));
    wg.done();
    assert!(waiter.join().unwrap());
    assert!(thread_waiter.join().unwrap());
}

#[test]
fn many_timeouts_racing_done_leave_it_consistent() {
    let rt = rt();
    for _ in 0..20 {
        let wg = WaitGroup::new();
        wg.add(64);
        let waiters: Vec<_> = (0..8)
            .map(|i| {
                let wg = wg.clone();
                rt.spawn(move || while !wg.wait_timeout(Duration::from_micros(i * 10)) {})
            })
            .collect();
        let jobs: Vec<_> = (0..64)
            .map(|_| {
                let wg = wg.clone();
                rt.spawn(move || wg.done())
            })
            .collect();
        jobs.into_iter().for_each(|h| h.join().unwrap());
        waiters.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(wg.count(), 0);
        wg.add(1);
        assert!(!wg.wait_timeout(Duration::ZERO));
        wg.done();
        wg.wait();
    }
}

#[test]
fn clones_share_the_counter() {
    let a = WaitGroup::default();
    let b = a.clone();
    a.add(3);
    assert_eq!(b.count(), 3);
    b.done();
    assert_eq!(a.count(), 2);
    assert_eq!(format!("{a:?}"), "WaitGroup { count: 2 }");
    a.add(0);
    a.done();
    b.done();
    a.wait();
}

#[test]
#[should_panic(expected = "fibra: WaitGroup::done called more times than add")]
fn done_below_zero_panics() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();
    wg.done();
}

#[test]
fn done_below_zero_in_a_fiber_panics_and_leaves_the_group_usable() {
    let rt = rt();
    let wg = WaitGroup::new();
    let wg2 = wg.clone();
    let err = rt.spawn(move || wg2.done()).join().unwrap_err();
    let msg = err.into_panic();
    let msg = msg
        .downcast_ref::<&str>()
        .copied()
        .or(msg.downcast_ref::<String>().map(String::as_str))
        .unwrap()
        .to_owned();
    assert!(msg.starts_with("fibra: WaitGroup::done called more times than add"));
    assert_eq!(wg.count(), 0);
    wg.add(1);
    wg.done();
    wg.wait();
}
