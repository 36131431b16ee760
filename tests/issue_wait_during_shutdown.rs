//! A fiber that starts to wait while its runtime is shutting down (but before its worker
//! unwinds it) must not hang the shutdown. It used to poll with thread parks instead of
//! suspending, for as long as what it waited for did not happen: forever, for an event
//! nobody sets, so dropping the runtime never returned.

use fibra::Runtime;
use fibra::sync::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn a_wait_begun_during_shutdown_does_not_hang_it() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let event = Arc::new(Event::new_manual_reset());
    let started = Arc::new(AtomicBool::new(false));
    let handle = {
        let (event, started) = (event.clone(), started.clone());
        rt.spawn(move || {
            started.store(true, Ordering::Release);
            // Hold the worker while the runtime starts shutting down...
            std::thread::sleep(Duration::from_millis(200));
            // ...then wait for something that never happens.
            event.wait();
        })
    };
    while !started.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(rt);
        done_tx.send(()).unwrap();
    });
    // Not a timing assertion: a generous bound that turns a hang into a failure.
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("dropping the runtime hung on a fiber waiting during shutdown");
    assert!(handle.join().unwrap_err().is_cancelled());
}
