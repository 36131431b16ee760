//! `fibra::sync::Semaphore` from fibers, from threads, and mixed; FIFO order; timeouts.

use fibra::Runtime;
use fibra::sync::{Mutex, Semaphore};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

const PERMITS: usize = 3;
const ROUNDS: usize = 500;

/// Never more than `PERMITS` inside at once, counted with an atomic; some holders yield or
/// sleep while inside so that others queue up.
fn bounds_concurrency(fibers: usize, threads: usize) {
    let rt = rt();
    let sem = Arc::new(Semaphore::new(PERMITS));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let body = |in_fiber: bool| {
        let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
        move || {
            for i in 0..ROUNDS {
                let _permit = sem.acquire();
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                assert!(now <= PERMITS, "{now} inside a semaphore of {PERMITS}");
                most.fetch_max(now, Ordering::Relaxed);
                if i % 16 == 0 {
                    if in_fiber {
                        fibra::yield_now();
                    } else {
                        std::thread::yield_now();
                    }
                }
                inside.fetch_sub(1, Ordering::SeqCst);
            }
        }
    };
    let fs: Vec<_> = (0..fibers).map(|_| rt.spawn(body(true))).collect();
    let ts: Vec<_> = (0..threads)
        .map(|_| std::thread::spawn(body(false)))
        .collect();
    fs.into_iter().for_each(|h| h.join().unwrap());
    ts.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(sem.available_permits(), PERMITS);
    assert!(most.load(Ordering::Relaxed) >= 1);
}

#[test]
fn bounds_concurrency_of_fibers() {
    bounds_concurrency(12, 0);
}

#[test]
fn bounds_concurrency_of_threads() {
    bounds_concurrency(0, 5);
}

#[test]
fn bounds_concurrency_of_fibers_and_threads() {
    bounds_concurrency(8, 3);
}

#[test]
fn a_waiting_fiber_lets_its_worker_run_others() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let sem = Arc::new(Semaphore::new(0));
    let waiter = {
        let sem = sem.clone();
        rt.spawn(move || sem.acquire().forget())
    };
    assert_eq!(rt.spawn(|| 7).join().unwrap(), 7);
    sem.add_permits(1);
    waiter.join().unwrap();
    assert_eq!(sem.available_permits(), 0);
}

/// Waits (politely) until `cond` holds, for at most ten seconds.
fn eventually(mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < Duration::from_secs(10), "timed out waiting");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_big_request_at_the_front_is_not_overtaken() {
    let rt = rt();
    let sem = Arc::new(Semaphore::new(1));
    let order = Arc::new(Mutex::new(Vec::new()));
    let held = sem.acquire();
    // A thread asks for three and queues.
    let big = {
        let (sem, order) = (sem.clone(), order.clone());
        std::thread::spawn(move || {
            let p = sem.acquire_many(3);
            order.lock().push("big");
            assert_eq!(p.num_permits(), 3);
        })
    };
    // Even zero permits are refused once someone queues.
    eventually(|| sem.try_acquire_many(0).is_none());
    // Two more permits: three are there in all only once `held` is back.
    sem.add_permits(2);
    assert_eq!(sem.available_permits(), 2);
    assert!(
        sem.try_acquire().is_none(),
        "try_acquire overtook a queued request"
    );
    // A small request from a fiber queues behind the big one.
    let small = {
        let (sem, order) = (sem.clone(), order.clone());
        rt.spawn(move || {
            let _p = sem.acquire();
            order.lock().push("small");
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        order.lock().is_empty(),
        "the small request overtook the big one"
    );
    drop(held);
    big.join().unwrap();
    small.join().unwrap();
    assert_eq!(*order.lock(), ["big", "small"]);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn timeouts_leave_it_consistent() {
    let rt = rt();
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.acquire();
    let t0 = Instant::now();
    assert!(sem.acquire_timeout(Duration::from_millis(30)).is_none());
    assert!(t0.elapsed() >= Duration::from_millis(30));
    let in_fiber = {
        let sem = sem.clone();
        rt.spawn(move || sem.acquire_timeout(Duration::from_millis(20)).is_none())
            .join()
            .unwrap()
    };
    assert!(in_fiber);
    drop(held);
    assert_eq!(sem.available_permits(), 1);
    assert!(sem.try_acquire().is_some());
}

#[test]
fn a_big_request_that_gives_up_lets_the_small_ones_behind_it_in() {
    let rt = rt();
    let sem = Arc::new(Semaphore::new(2));
    let big = {
        let sem = sem.clone();
        std::thread::spawn(move || {
            sem.acquire_many_timeout(5, Duration::from_millis(50))
                .is_none()
        })
    };
    eventually(|| sem.try_acquire_many(0).is_none());
    let smalls: Vec<_> = (0..2)
        .map(|_| {
            let sem = sem.clone();
            rt.spawn(move || sem.acquire().forget())
        })
        .collect();
    assert!(big.join().unwrap(), "five permits were never there");
    smalls.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn add_permits_racing_timeouts() {
    let rt = rt();
    let sem = Arc::new(Semaphore::new(0));
    let got = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..16u64)
        .map(|i| {
            let (sem, got) = (sem.clone(), got.clone());
            let body = move || {
                for _ in 0..300 {
                    if let Some(p) =
                        sem.acquire_many_timeout(1 + (i % 2) as usize, Duration::from_micros(i % 7))
                    {
                        got.fetch_add(p.num_permits(), Ordering::Relaxed);
                        p.forget();
                    }
                }
            };
            if i % 4 == 0 {
                Err(std::thread::spawn(body))
            } else {
                Ok(rt.spawn(body))
            }
        })
        .collect();
    let mut added = 0;
    while waiters.iter().any(|w| match w {
        Ok(h) => !h.is_finished(),
        Err(h) => !h.is_finished(),
    }) {
        sem.add_permits(1);
        added += 1;
        std::thread::yield_now();
    }
    for w in waiters {
        match w {
            Ok(h) => h.join().unwrap(),
            Err(h) => h.join().unwrap(),
        }
    }
    // Every permit was either taken (and forgotten) or is still there.
    assert_eq!(got.load(Ordering::Relaxed) + sem.available_permits(), added);
    // Nothing is left queued: the fast path works again.
    let all = sem.available_permits();
    assert!(sem.try_acquire_many(all).is_some());
}

#[test]
fn permits_forget_and_add() {
    let sem = Semaphore::new(2);
    let p = sem.try_acquire_many(2).unwrap();
    assert_eq!(sem.available_permits(), 0);
    assert!(sem.try_acquire().is_none());
    p.forget();
    assert_eq!(sem.available_permits(), 0);
    sem.add_permits(3);
    let p = sem.acquire_many(3);
    assert!(sem.try_acquire().is_none());
    drop(p);
    assert_eq!(sem.available_permits(), 3);
    assert!(sem.try_acquire_many(0).is_some());
    assert!(format!("{sem:?}").contains("available_permits: 3"));
    assert_eq!(Semaphore::default().available_permits(), 0);
    static STATIC: Semaphore = Semaphore::new(1);
    drop(STATIC.acquire());
}

#[test]
fn too_many_permits_panic() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    let err = std::panic::catch_unwind(|| sem.add_permits(1)).unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.starts_with("fibra:"), "{msg}");
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
    let empty = Semaphore::new(0);
    let err = std::panic::catch_unwind(|| empty.acquire_many(usize::MAX)).unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.starts_with("fibra:"), "{msg}");
}
