//! Regression: a worker's first park on io_uring armed the eventfd poll inside its PARKED
//! window and drained the eventfd first, swallowing the wake of a fiber injected at that
//! moment; the runtime then slept with the fiber queued (seen as a hanging doc test).
//! Fresh runtimes whose first fiber races the workers' first parks must all finish.

mod common;

#[test]
fn fresh_runtimes_run_their_first_fiber() {
    common::bounded(120, || {
        for i in 0..2000u64 {
            let rt = fibra::Runtime::builder().workers(2).build().unwrap();
            // Let the workers reach their first park some of the time.
            if i % 2 == 1 {
                std::thread::sleep(std::time::Duration::from_micros(i % 97));
            }
            assert_eq!(rt.block_on(|| fibra::spawn(move || i).join().unwrap()), i);
        }
    });
}
