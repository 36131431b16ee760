//! A parked fiber holds the count of its own reference that its waker takes over (no
//! count is taken per park or wake): every fiber allocation must still be freed, whether
//! its fiber parked and was woken many times, or was parked when the runtime shut down.
//! Freed is observed through the fiber's result, which lives in the fiber's allocation
//! when nobody joins it.

use fibra::Runtime;
use fibra::sync::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn fibers_woken_many_times_are_freed() {
    let freed = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (tx, rx) = fibra::channel::bounded::<u32>(0);
    const N: usize = 200;
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (rx, freed) = (rx.clone(), freed.clone());
            rt.spawn(move || {
                for _ in 0..10 {
                    rx.recv().unwrap(); // parks, is woken by a thread
                }
                Counted(freed)
            })
        })
        .collect();
    for i in 0..(N * 10) as u32 {
        tx.send(i).unwrap();
    }
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::yield_now();
    }
    // Unjoined: each result stays in its fiber's allocation until that is freed.
    drop(handles);
    drop(rt);
    // The last references go when the workers drop their queues; give them a moment.
    for _ in 0..100 {
        if freed.load(Ordering::Relaxed) == N {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(freed.load(Ordering::Relaxed), N, "fiber allocations leaked");
}

#[test]
fn fibers_parked_at_shutdown_are_freed() {
    // A fiber unwound at shutdown has no result, but a joiner's handle and the fiber's own
    // count both go: dropping the handle afterwards frees the allocation, which drops the
    // function's captured state if it never ran; for fibers that ran and parked, the
    // captured state moved onto their stacks and was dropped by the unwinding.
    let dropped = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::builder().workers(2).build().unwrap();
    let event = Arc::new(Event::new_manual_reset());
    let started = Arc::new(AtomicUsize::new(0));
    const N: usize = 100;
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (event, started) = (event.clone(), started.clone());
            let guard = Counted(dropped.clone());
            rt.spawn(move || {
                let _guard = guard;
                started.fetch_add(1, Ordering::Relaxed);
                event.wait(); // never set: parked at shutdown
            })
        })
        .collect();
    while started.load(Ordering::Relaxed) < N {
        std::thread::yield_now();
    }
    drop(rt);
    assert_eq!(dropped.load(Ordering::Relaxed), N);
    for h in handles {
        assert!(h.join().unwrap_err().is_cancelled());
    }
    // The event's waiters are gone with their stacks: it works for a plain thread.
    event.set();
    event.wait();
}
