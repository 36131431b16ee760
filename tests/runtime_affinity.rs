//! The soundness rule: a fiber that has started never changes thread, unless its spawner
//! opted in through the unsafe `migratable`.

use fibra::Runtime;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn started_fibers_never_change_thread() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let moved = rt.block_on(|| {
        let hs: Vec<_> = (0..200)
            .map(|i| {
                fibra::spawn(move || {
                    let home = std::thread::current().id();
                    let mut moved = 0;
                    for k in 0..50 {
                        if (i + k) % 7 == 0 {
                            fibra::sleep(Duration::from_micros(50));
                        } else {
                            fibra::yield_now();
                        }
                        // Keep the other worker hungry enough to steal.
                        if std::thread::current().id() != home {
                            moved += 1;
                        }
                    }
                    moved
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
    });
    assert_eq!(moved, 0, "a started fiber resumed on another thread");
}

#[test]
fn migratable_fibers_finish_and_may_use_any_worker() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let t = threads.clone();
    let total = rt.block_on(move || {
        let hs: Vec<_> = (0..100u64)
            .map(|i| {
                let t = t.clone();
                // SAFETY: the fiber body uses no thread-locals and holds nothing !Send
                // across its yields.
                let b = unsafe { fibra::fiber::Builder::new().migratable() };
                b.spawn(move || {
                    for _ in 0..20 {
                        t.lock().unwrap().insert(std::thread::current().id());
                        fibra::yield_now();
                    }
                    i
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(total, 4950);
    assert!(!threads.lock().unwrap().is_empty());
}

#[test]
fn parked_migratable_fibers_are_unwound_at_shutdown() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let flag = Arc::new(Mutex::new(0));
    struct Bump(Arc<Mutex<i32>>);
    impl Drop for Bump {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += 1;
        }
    }
    let f = flag.clone();
    // SAFETY: as above.
    let b = unsafe { fibra::fiber::Builder::new().migratable() };
    let h = b.spawn_on(&rt, move || {
        let _b = Bump(f);
        fibra::sleep(Duration::from_secs(3600));
    });
    std::thread::sleep(Duration::from_millis(30));
    drop(rt);
    assert_eq!(*flag.lock().unwrap(), 1);
    assert!(h.join().unwrap_err().is_cancelled());
}
