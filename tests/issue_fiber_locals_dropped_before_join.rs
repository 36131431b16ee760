//! Regression: a fiber's fiber-locals are dropped before its result reaches the joiner, as
//! a thread's thread-locals are before `JoinHandle::join` returns. They used to be dropped
//! after the result was delivered, so a joiner on another worker could see them alive
//! (seen under qemu as a failed count in `fiber_locals_are_per_fiber_and_dropped_at_the_end`).

use std::sync::atomic::{AtomicUsize, Ordering};

static DROPPED: AtomicUsize = AtomicUsize::new(0);

struct CountsDrop;
impl Drop for CountsDrop {
    fn drop(&mut self) {
        // Widen the window in which the old order let the joiner run ahead.
        std::thread::sleep(std::time::Duration::from_micros(50));
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

fibra::fiber_local! {
    static LOCAL: CountsDrop = CountsDrop;
}

#[test]
fn fiber_locals_are_gone_when_join_returns() {
    let rt = fibra::Runtime::builder().workers(2).build().unwrap();
    for round in 1..=50 {
        // Joined from a plain thread, so the fiber runs on a worker and the join wakes
        // this thread: the two run in parallel.
        rt.spawn(|| LOCAL.with(|_| {})).join().unwrap();
        assert_eq!(
            DROPPED.load(Ordering::SeqCst),
            round,
            "a local outlived the join"
        );
    }
}
