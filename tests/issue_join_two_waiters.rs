//! Regression: a join slot can have two waiters at once, the fiber holding the handle and
//! the scope that spawned the fiber. The slot used to remember one waiter only, so the
//! second to register replaced the first, which then slept forever.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on a thread and fails the test if it has not finished within a generous bound
/// (a hang is the bug; the bound is not a timing assertion).
fn finishes(f: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("a waiter was never woken");
}

#[test]
fn a_scope_and_a_sibling_both_wait_for_one_child() {
    finishes(|| {
        for workers in [1, 2] {
            let rt = fibra::Runtime::builder().workers(workers).build().unwrap();
            for _ in 0..50 {
                let got = AtomicU32::new(0);
                rt.block_on(|| {
                    fibra::scope(|s| {
                        let slow = s.spawn(|| {
                            fibra::sleep(Duration::from_millis(1));
                            7
                        });
                        let got = &got;
                        s.spawn(move || got.store(slow.join().unwrap(), Ordering::Relaxed));
                        // Returning now: the scope waits for `slow` while the sibling
                        // waits for it too.
                    });
                });
                assert_eq!(got.load(Ordering::Relaxed), 7);
            }
        }
    });
}
