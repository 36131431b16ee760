//! `fibra::sync::Event` (manual- and auto-reset) from fibers, from threads, and mixed;
//! timeouts.

use fibra::Runtime;
use fibra::sync::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

/// Polls `f` until it holds, for up to 10 s.
fn eventually(mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "condition never held"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn manual_reset_releases_every_fiber_and_thread() {
    let rt = rt();
    let ev = Arc::new(Event::new_manual_reset());
    let released = Arc::new(AtomicUsize::new(0));
    let fibers: Vec<_> = (0..8)
        .map(|_| {
            let (ev, released) = (ev.clone(), released.clone());
            rt.spawn(move || {
                ev.wait();
                released.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (ev, released) = (ev.clone(), released.clone());
            std::thread::spawn(move || {
                ev.wait();
                released.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(released.load(Ordering::Relaxed), 0);
    assert!(!ev.is_set());
    ev.set();
    fibers.into_iter().for_each(|h| h.join().unwrap());
    threads.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(released.load(Ordering::Relaxed), 11);
    // It stays set: later waits return at once, from fibers too.
    assert!(ev.is_set());
    ev.wait();
    let ev2 = ev.clone();
    rt.spawn(move || ev2.wait()).join().unwrap();
    ev.set(); // already set: no-op
    ev.reset();
    assert!(!ev.is_set());
    assert!(!ev.wait_timeout(Duration::from_millis(5)));
}

#[test]
fn auto_reset_releases_exactly_one_waiter_per_set() {
    let rt = rt();
    let ev = Arc::new(Event::new_auto_reset());
    let released = Arc::new(AtomicUsize::new(0));
    let fibers: Vec<_> = (0..3)
        .map(|_| {
            let (ev, released) = (ev.clone(), released.clone());
            rt.spawn(move || {
                ev.wait();
                released.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (ev, released) = (ev.clone(), released.clone());
            std::thread::spawn(move || {
                ev.wait();
                released.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    for i in 1..=6 {
        ev.set();
        eventually(|| released.load(Ordering::SeqCst) >= i);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(released.load(Ordering::SeqCst), i, "one set released two");
        assert!(!ev.is_set(), "the released waiter consumed the event");
    }
    fibers.into_iter().for_each(|h| h.join().unwrap());
    threads.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn auto_reset_without_waiter_stays_set_until_consumed() {
    let ev = Event::new_auto_reset();
    ev.set();
    ev.set(); // no-op: still one
    assert!(ev.is_set());
    assert!(ev.wait_timeout(Duration::ZERO));
    assert!(!ev.is_set());
    assert!(!ev.wait_timeout(Duration::from_millis(5)));
    ev.set();
    ev.reset();
    assert!(!ev.wait_timeout(Duration::ZERO));
    let rt = rt();
    let ev = Arc::new(ev);
    ev.set();
    let ev2 = ev.clone();
    rt.spawn(move || ev2.wait()).join().unwrap();
    assert!(!ev.is_set());
}

#[test]
fn timeouts_from_fibers_and_threads() {
    let rt = rt();
    for ev in [Event::new_auto_reset(), Event::new_manual_reset()] {
        let ev = Arc::new(ev);
        let t0 = Instant::now();
        assert!(!ev.wait_timeout(Duration::from_millis(30)));
        assert!(t0.elapsed() >= Duration::from_millis(30));
        let ev2 = ev.clone();
        let in_fiber = rt
            .spawn(move || {
                let t0 = Instant::now();
                !ev2.wait_timeout(Duration::from_millis(20))
                    && t0.elapsed() >= Duration::from_millis(20)
            })
            .join()
            .unwrap();
        assert!(in_fiber);
        // A timed waiter set before its deadline reports it.
        let ev2 = ev.clone();
        let waiter = rt.spawn(move || ev2.wait_timeout(Duration::from_secs(10)));
        let ev3 = ev.clone();
        let thread_waiter = std::thread::spawn(move || ev3.wait_timeout(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(10));
        ev.set();
        ev.set(); // for the auto-reset flavour's second waiter
        assert!(waiter.join().unwrap());
        assert!(thread_waiter.join().unwrap());
    }
}

#[test]
fn auto_reset_timeouts_racing_sets_never_double_consume() {
    let rt = rt();
    let ev = Arc::new(Event::new_auto_reset());
    let consumers: Vec<_> = (0..16)
        .map(|i| {
            let ev = ev.clone();
            rt.spawn(move || {
                let mut got = 0;
                for _ in 0..200 {
                    if ev.wait_timeout(Duration::from_micros(i % 5 * 20)) {
                        got += 1;
                    }
                }
                got
            })
        })
        .collect();
    let sets = 500;
    let setter = {
        let ev = ev.clone();
        std::thread::spawn(move || {
            for i in 0..sets {
                ev.set();
                if i % 8 == 0 {
                    std::thread::sleep(Duration::from_micros(50));
                } else {
                    std::thread::yield_now();
                }
            }
        })
    };
    setter.join().unwrap();
    let consumed: usize = consumers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(consumed <= sets, "{consumed} consumed from {sets} sets");
    assert!(consumed > 0 || ev.is_set());
    // Still usable.
    ev.reset();
    ev.set();
    assert!(ev.wait_timeout(Duration::ZERO));
}

#[test]
fn a_fiber_waiting_lets_its_worker_run_others() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let ev = Arc::new(Event::new_manual_reset());
    let waiter = {
        let ev = ev.clone();
        rt.spawn(move || ev.wait())
    };
    // The only worker is free although the waiter is blocked; this fiber sets the event.
    let ev2 = ev.clone();
    rt.spawn(move || ev2.set()).join().unwrap();
    waiter.join().unwrap();
    assert_eq!(format!("{ev:?}"), "Event { manual_reset: true, set: true }");
}
