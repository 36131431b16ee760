//! Regression: a fiber yielding in a loop while waiting for a queued fiber must let that
//! fiber run. The worker alternated between its ready queue and its run queue by the
//! parity of a round counter that a yield advanced twice, so the yielder could always find
//! the same parity and the queued fiber never ran (seen under qemu as a hang).

#[test]
fn a_yield_loop_lets_queued_fibers_run() {
    let rt = fibra::Runtime::builder().workers(1).build().unwrap();
    // Different numbers of earlier fibers start the round counter at different parities.
    for earlier in 0..6 {
        let yields = rt.block_on(move || {
            for _ in 0..earlier {
                fibra::spawn(|| ()).join().unwrap();
            }
            let queued = fibra::spawn(|| ());
            let mut yields = 0u32;
            while !queued.is_finished() {
                fibra::yield_now();
                yields += 1;
                assert!(yields < 10_000, "the queued fiber never ran");
            }
            yields
        });
        // The ready and run queues take turns, so a few rounds at most (3 when written).
        assert!(yields <= 8, "the queued fiber waited {yields} yields");
    }
}
