//! Scopes, blocking offload, fiber-locals, placement hints, fairness, sleep order, shutdown.

use fibra::{Placement, Runtime};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn rt(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().unwrap()
}

#[test]
fn scope_children_borrow_and_are_joined() {
    let rt = rt(2);
    let mut slots = vec![0u64; 64];
    let total = AtomicUsize::new(0);
    rt.block_on(|| {
        fibra::scope(|s| {
            for (i, slot) in slots.iter_mut().enumerate() {
                let total = &total;
                s.spawn(move || {
                    fibra::yield_now();
                    *slot = i as u64 * 3;
                    total.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
    });
    assert_eq!(total.load(Ordering::Relaxed), 64);
    assert!(slots.iter().enumerate().all(|(i, &v)| v == i as u64 * 3));
}

#[test]
fn scope_reraises_an_unjoined_child_panic_after_joining_all() {
    let rt = rt(2);
    let finished = AtomicUsize::new(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(|| {
            fibra::scope(|s| {
                s.spawn(|| panic!("child failed"));
                for _ in 0..8 {
                    s.spawn(|| {
                        fibra::sleep(Duration::from_millis(5));
                        finished.fetch_add(1, Ordering::Relaxed);
                    });
                }
            })
        })
    }));
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"child failed"));
    assert_eq!(
        finished.load(Ordering::Relaxed),
        8,
        "every child finished before the panic"
    );
}

#[test]
fn scope_joined_panic_is_the_joiners() {
    let rt = rt(1);
    let got = rt.block_on(|| {
        fibra::scope(|s| {
            let h = s.spawn(|| -> u32 { panic!("mine") });
            h.join().unwrap_err().is_panic()
        })
    });
    assert!(got);
}

#[test]
fn spawn_blocking_keeps_other_fibers_running() {
    let rt = rt(1); // one worker: a blocking call on it would stall everything
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let during = rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let t2 = t.clone();
        let ticker = fibra::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                t2.fetch_add(1, Ordering::Relaxed);
                fibra::sleep(Duration::from_millis(1));
            }
        });
        let before = t.load(Ordering::Relaxed);
        let v = fibra::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(100));
            7
        })
        .join()
        .unwrap();
        assert_eq!(v, 7);
        let during = t.load(Ordering::Relaxed) - before;
        stop.store(true, Ordering::Relaxed);
        ticker.join().unwrap();
        during
    });
    assert!(
        during >= 10,
        "the other fiber ran only {during} times while the blocking call ran"
    );
}

#[test]
fn spawn_blocking_outside_fibers_and_panics() {
    assert_eq!(fibra::spawn_blocking(|| 3).join().unwrap(), 3);
    assert!(
        fibra::spawn_blocking(|| -> u8 { panic!("x") })
            .join()
            .unwrap_err()
            .is_panic()
    );
}

fibra::fiber_local! {
    static COUNT: Cell<u32> = Cell::new(0);
    static DROPS: DropCounter = DropCounter;
}

static LOCALS_DROPPED: AtomicUsize = AtomicUsize::new(0);
struct DropCounter;
impl Drop for DropCounter {
    fn drop(&mut self) {
        LOCALS_DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn fiber_locals_are_per_fiber_and_dropped_at_the_end() {
    let rt = rt(2);
    let seen = rt.block_on(|| {
        let hs: Vec<_> = (0..20u32)
            .map(|i| {
                fibra::spawn(move || {
                    DROPS.with(|_| {});
                    for _ in 0..i {
                        COUNT.with(|c| c.set(c.get() + 1));
                        fibra::yield_now();
                    }
                    COUNT.with(|c| c.get())
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    assert_eq!(LOCALS_DROPPED.load(Ordering::Relaxed), 20);
}

#[test]
fn next_to_run_placement_runs_before_queued_fibers() {
    let rt = rt(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    rt.block_on(move || {
        let o1 = o.clone();
        let a = fibra::fiber::Builder::new().spawn(move || o1.lock().unwrap().push("back"));
        let o2 = o.clone();
        let b = fibra::fiber::Builder::new()
            .placement(Placement::NextToRun)
            .spawn(move || o2.lock().unwrap().push("next"));
        // Let the queue run: joining first would run the joined fiber at once (below).
        while !(a.is_finished() && b.is_finished()) {
            fibra::yield_now();
        }
    });
    assert_eq!(*order.lock().unwrap(), ["next", "back"]);
}

#[test]
fn joining_a_fiber_that_has_not_started_runs_it_next() {
    let rt = rt(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    rt.block_on(move || {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let o = o.clone();
                fibra::spawn(move || o.lock().unwrap().push(i))
            })
            .collect();
        // Joined last-spawned first: each runs when joined, ahead of the queue.
        for h in handles.into_iter().rev() {
            h.join().unwrap();
        }
    });
    assert_eq!(*order.lock().unwrap(), [3, 2, 1, 0]);
}

#[test]
fn a_tree_joined_depth_first_keeps_few_fibers_alive() {
    // Each node spawns its children and joins them; since a join runs a child that has
    // not started, the walk is depth first: at most about one branch of nodes is alive
    // (started and waiting) at once, not a whole level.
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    fn node(depth: u32) -> u64 {
        let live = LIVE.fetch_add(1, Ordering::Relaxed) + 1;
        PEAK.fetch_max(live, Ordering::Relaxed);
        let sum = if depth == 0 {
            1
        } else {
            let children: Vec<_> = (0..4)
                .map(|_| fibra::spawn(move || node(depth - 1)))
                .collect();
            children.into_iter().map(|h| h.join().unwrap()).sum()
        };
        LIVE.fetch_sub(1, Ordering::Relaxed);
        sum
    }
    let rt = rt(1);
    assert_eq!(rt.block_on(|| node(6)), 4u64.pow(6));
    let peak = PEAK.load(Ordering::Relaxed);
    // Breadth first, a whole level would be alive: 1024 nodes at depth 5. Depth first,
    // about one branch (7), plus the branches of queued siblings that start when the LIFO
    // streak limit gives the queue its turn (fairness): 76 when this was written.
    assert!(
        peak < 256,
        "{peak} nodes alive at once for a tree of depth 6"
    );
    // With two workers the other one steals queued children while joiners claim theirs:
    // every node still runs exactly once.
    let rt = Runtime::builder().workers(2).build().unwrap();
    for _ in 0..20 {
        assert_eq!(rt.block_on(|| node(6)), 4u64.pow(6));
    }
}

#[test]
fn run_now_placement_switches_at_once() {
    let rt = rt(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    rt.block_on(move || {
        let o1 = o.clone();
        let h = fibra::fiber::Builder::new()
            .placement(Placement::RunNow)
            .spawn(move || o1.lock().unwrap().push("child"));
        o.lock().unwrap().push("parent");
        h.join().unwrap();
    });
    assert_eq!(*order.lock().unwrap(), ["child", "parent"]);
}

#[test]
fn a_fiber_spinning_on_yield_does_not_starve_others() {
    let rt = rt(1);
    let done = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let spinner = fibra::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                fibra::yield_now();
            }
        });
        // Fresh fibers, a sleeper and a woken fiber all get to run while it spins.
        let quick: Vec<_> = (0..100).map(|i| fibra::spawn(move || i)).collect();
        let sleeper = fibra::spawn(|| fibra::sleep(Duration::from_millis(5)));
        let sum: i32 = quick.into_iter().map(|h| h.join().unwrap()).sum();
        sleeper.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        spinner.join().unwrap();
        sum
    });
    assert_eq!(done, 4950);
}

#[test]
fn sleepers_wake_in_deadline_order_and_not_early() {
    let rt = rt(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let start = Instant::now();
    rt.block_on(move || {
        let hs: Vec<_> = [30u64, 10, 20, 0]
            .into_iter()
            .map(|ms| {
                let o = o.clone();
                fibra::spawn(move || {
                    let t = Instant::now();
                    fibra::sleep(Duration::from_millis(ms));
                    assert!(t.elapsed() >= Duration::from_millis(ms), "woke early");
                    o.lock().unwrap().push(ms);
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
    assert_eq!(*order.lock().unwrap(), [0, 10, 20, 30]);
    // Generous upper bound: this checks for a lost timer, not precision.
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn current_reports_id_and_name() {
    let rt = rt(1);
    let (name, a, b) = rt.block_on(|| {
        let h = fibra::fiber::Builder::new()
            .name("reader")
            .spawn(|| fibra::current().name().map(String::from));
        (
            h.join().unwrap(),
            fibra::current().id(),
            fibra::spawn(|| fibra::current().id()).join().unwrap(),
        )
    });
    assert_eq!(name.as_deref(), Some("reader"));
    assert_ne!(a, b);
}

#[test]
#[should_panic(expected = "must be called from inside a fiber")]
fn fiber_only_functions_panic_outside() {
    fibra::yield_now();
}

/// Records drops, to prove shutdown unwinds parked fibers.
struct Flag(Arc<AtomicUsize>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn dropping_the_runtime_unwinds_parked_fibers() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = rt(2);
    let mut handles = Vec::new();
    for _ in 0..50 {
        let d = dropped.clone();
        handles.push(rt.spawn(move || {
            let _flag = Flag(d);
            fibra::sleep(Duration::from_secs(3600)); // parked until shutdown
        }));
    }
    // Let them all start and park.
    rt.block_on(|| fibra::sleep(Duration::from_millis(20)));
    drop(rt);
    assert_eq!(
        dropped.load(Ordering::Relaxed),
        50,
        "destructors on parked fibers ran"
    );
    for h in handles {
        assert!(h.join().unwrap_err().is_cancelled());
    }
}

#[test]
fn shutdown_with_a_scope_waiting_on_children() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = rt(2);
    let d = dropped.clone();
    let h = rt.spawn(move || {
        let outer = Flag(d.clone());
        fibra::scope(|s| {
            for _ in 0..4 {
                let d = d.clone();
                s.spawn(move || {
                    let _f = Flag(d);
                    fibra::sleep(Duration::from_secs(3600));
                });
            }
        });
        drop(outer);
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(rt);
    assert_eq!(dropped.load(Ordering::Relaxed), 5);
    assert!(h.join().unwrap_err().is_cancelled());
}

#[test]
fn fibers_that_never_started_are_cancelled_at_shutdown() {
    let rt = rt(1);
    let dropped = Arc::new(AtomicUsize::new(0));
    // Occupy the only worker so the next spawns stay queued.
    let busy = rt.spawn(|| std::thread::sleep(Duration::from_millis(100)));
    std::thread::sleep(Duration::from_millis(20));
    let mut handles = Vec::new();
    for _ in 0..100 {
        let flag = Flag(dropped.clone()); // dropped with the closure, which never runs
        handles.push(rt.spawn(move || drop(flag)));
    }
    rt.shutdown_timeout(Duration::from_secs(10));
    busy.join().unwrap();
    let cancelled = handles
        .into_iter()
        .map(|h| h.join())
        .filter(|r| r.as_ref().is_err_and(|e| e.is_cancelled()))
        .count();
    // Either the worker got to some of them before it saw the shutdown, or they were
    // cancelled; every closure was dropped exactly once.
    assert_eq!(dropped.load(Ordering::Relaxed), 100);
    assert!(cancelled > 0);
}
