//! `fibra::sync::Mutex` from fibers, from threads, and mixed; timeouts; hand-over.

use fibra::Runtime;
use fibra::sync::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

const ROUNDS: u64 = 2_000;

#[test]
fn fibers_exclude_each_other() {
    let rt = rt();
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..16)
        .map(|_| {
            let m = m.clone();
            rt.spawn(move || {
                for i in 0..ROUNDS {
                    let mut g = m.lock();
                    let v = *g;
                    if i % 64 == 0 {
                        fibra::yield_now(); // hold the lock across a suspension
                    }
                    *g = v + 1;
                }
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(*m.lock(), 16 * ROUNDS);
}

#[test]
fn threads_and_fibers_mixed() {
    let rt = rt();
    let m = Arc::new(Mutex::new(0u64));
    let fibers: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            rt.spawn(move || {
                for _ in 0..ROUNDS {
                    *m.lock() += 1;
                }
            })
        })
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    *m.lock() += 1;
                }
            })
        })
        .collect();
    fibers.into_iter().for_each(|h| h.join().unwrap());
    threads.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(*m.lock(), 11 * ROUNDS);
}

#[test]
fn a_fiber_waiting_for_a_thread_lets_its_worker_run_others() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let m = Arc::new(Mutex::new(()));
    let g = m.lock();
    let waiter = {
        let m = m.clone();
        rt.spawn(move || drop(m.lock()))
    };
    // The only worker is free for this fiber although the waiter is blocked.
    assert_eq!(rt.spawn(|| 7).join().unwrap(), 7);
    drop(g);
    waiter.join().unwrap();
}

#[test]
fn try_lock_and_timeouts() {
    let rt = rt();
    let m = Arc::new(Mutex::new(5));
    let g = m.lock();
    assert!(m.try_lock().is_none());
    assert!(m.is_locked());
    let t0 = Instant::now();
    assert!(m.lock_timeout(Duration::from_millis(30)).is_none());
    assert!(t0.elapsed() >= Duration::from_millis(30));
    let m2 = m.clone();
    let timed_out_in_fiber = rt
        .spawn(move || m2.lock_timeout(Duration::from_millis(20)).is_none())
        .join()
        .unwrap();
    assert!(timed_out_in_fiber);
    // A timed-out waiter leaves the lock usable and unlocks hand to the next one.
    let m3 = m.clone();
    let later = rt.spawn(move || *m3.lock_timeout(Duration::from_secs(10)).unwrap() + 1);
    std::thread::sleep(Duration::from_millis(10));
    drop(g);
    assert_eq!(later.join().unwrap(), 6);
    assert!(!m.is_locked());
    assert_eq!(*m.try_lock().unwrap(), 5);
}

#[test]
fn many_timeouts_racing_unlocks_leave_it_consistent() {
    let rt = rt();
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..32)
        .map(|i| {
            let m = m.clone();
            rt.spawn(move || {
                let mut got = 0;
                for _ in 0..300 {
                    if let Some(mut g) = m.lock_timeout(Duration::from_micros(i % 7)) {
                        *g += 1;
                        got += 1;
                    }
                }
                got
            })
        })
        .collect();
    let total: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(*m.lock(), total);
    assert!(!m.is_locked() || m.try_lock().is_none());
}

#[test]
fn a_long_waiter_is_not_starved() {
    // Two threads hammer the lock; a third must still get it within a bounded time thanks
    // to the hand-over after a millisecond of waiting.
    let m = Arc::new(Mutex::new(()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammers: Vec<_> = (0..2)
        .map(|_| {
            let (m, stop) = (m.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _g = m.lock();
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    for _ in 0..50 {
        drop(m.lock());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    hammers.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn guard_derefs_and_into_inner() {
    let mut m = Mutex::new(vec![1]);
    m.lock().push(2);
    m.get_mut().push(3);
    assert_eq!(format!("{:?}", m), "Mutex { data: [1, 2, 3] }");
    assert_eq!(m.into_inner(), [1, 2, 3]);
}
