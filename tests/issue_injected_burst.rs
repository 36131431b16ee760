//! A burst of fibers spawned from outside the runtime (a C host, a plain thread) must
//! start at the pace of the worker's own queue. A busy worker used to take one fiber from
//! the global queue every 61 scheduling rounds, so the last of 200 such fibers waited for
//! some 12 000 turns of the fibers already running; it now moves a share of the queue
//! into its run queue each time it looks (as Go's scheduler does).
//!
//! One worker runs `YIELDERS` fibers that yield in a loop, counting their turns; the test
//! counts the turns between the end of the burst and the start of its last fiber (a count
//! of scheduling decisions, not a timing).

use fibra::Runtime;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

const YIELDERS: usize = 8;
const BURST: usize = 200;

#[test]
fn a_burst_spawned_from_outside_starts_within_a_few_rounds() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let turns = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let yielders: Vec<_> = (0..YIELDERS)
        .map(|_| {
            let (turns, started, stop) = (turns.clone(), started.clone(), stop.clone());
            rt.spawn(move || {
                started.fetch_add(1, SeqCst);
                while !stop.load(SeqCst) {
                    turns.fetch_add(1, SeqCst);
                    fibra::yield_now();
                }
            })
        })
        .collect();
    while started.load(SeqCst) < YIELDERS {
        std::thread::sleep(Duration::from_millis(1));
    }
    let burst: Vec<_> = (0..BURST)
        .map(|_| {
            let turns = turns.clone();
            rt.spawn(move || turns.load(SeqCst))
        })
        .collect();
    // Counted once the whole burst is queued: spawning it takes this thread longer than
    // many turns, and the worker starts the early ones meanwhile.
    let before = turns.load(SeqCst);
    let last_start = burst.into_iter().map(|h| h.join().unwrap()).max().unwrap();
    stop.store(true, SeqCst);
    for h in yielders {
        h.join().unwrap();
    }
    let waited = last_start.saturating_sub(before);
    // Starting what is left takes a run of each, interleaved with the yielders' turns (the
    // worker alternates between woken and new fibers): at most about BURST turns, plus
    // the rounds before the worker next looks at the global queue. One at a time it was up
    // to BURST x 61.
    assert!(
        waited < 4 * BURST,
        "the last of {BURST} fibers spawned from outside started after {waited} turns of the \
         {YIELDERS} running ones"
    );
}
