//! A fiber handed a lock (or granted permits) must run before the other ready fibers of
//! its worker. It used to be queued behind them: with the mutex in hand-over mode every
//! waiter then held the lock, unused, for a whole cycle of its worker's ready queue, and
//! `channel_stress` under machine load crawled at ~50 messages a second (a "hang": the
//! consumers queued on its mutex while a thousand producers kept the workers busy with
//! timed retries). The same happened to a fiber woken just before it parked.
//!
//! Each case: one worker, `YIELDERS` fibers yielding in a loop and counting their turns,
//! and a fiber waiting long enough (well over the mutex's 1 ms) to be handed the lock.
//! Between the hand-over and the waiter's first instruction, far fewer than `YIELDERS`
//! turns may pass (a count of scheduling decisions, not a timing). The old order fails
//! each case with 60 or more.

use fibra::Runtime;
use fibra::sync::{Event, Mutex, Semaphore};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

const YIELDERS: usize = 64;
/// Turns allowed between the hand-over and the waiter running: the yielder running at the
/// hand-over may finish its turn, and a few more are fine; a place at the back of the
/// queue would take `YIELDERS`.
const FEW: usize = YIELDERS / 4;

struct Yielders {
    turns: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handles: Vec<fibra::JoinHandle<()>>,
}

fn start_yielders(rt: &Runtime) -> Yielders {
    let turns = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let handles = (0..YIELDERS)
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
    // Every yielder has started: spawned from outside, they start one per few dozen
    // turns of those already running (the worker polls the global queue that often).
    while started.load(SeqCst) < YIELDERS {
        std::thread::sleep(Duration::from_millis(1));
    }
    Yielders {
        turns,
        stop,
        handles,
    }
}

impl Yielders {
    fn stop(self) {
        self.stop.store(true, SeqCst);
        for h in self.handles {
            h.join().unwrap();
        }
    }
}

fn assert_ran_soon(what: &str, before: usize, after: usize) {
    // A late count (this thread preempted after the unlock) only makes the check easier.
    let waited = after.saturating_sub(before);
    assert!(
        waited < FEW,
        "{what}: {waited} other turns ran between the hand-over and the waiter \
         ({YIELDERS} fibers ready: it was queued behind them)"
    );
}

#[test]
fn a_mutex_handed_over_by_a_thread_runs_its_fiber_first() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let yielders = start_yielders(&rt);
    let lock = Arc::new(Mutex::new(0usize));
    let guard = lock.lock();
    let (lock2, turns) = (lock.clone(), yielders.turns.clone());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let waiter = rt.spawn(move || {
        started_tx.send(()).unwrap();
        let _g = lock2.lock();
        turns.load(SeqCst)
    });
    started_rx.recv().unwrap();
    // Long enough for the waiter (which goes straight from the send to its wait) to queue,
    // and for the mutex to hand the lock over.
    std::thread::sleep(Duration::from_millis(20));
    drop(guard);
    // Counted once the unlock has returned (the waiter is queued by then): the worker
    // runs on while this thread unlocks, so counting before would include those turns.
    let before = yielders.turns.load(SeqCst);
    let after = waiter.join().unwrap();
    yielders.stop();
    assert_ran_soon("mutex, thread to fiber", before, after);
}

/// The holder, on the waiter's worker, wakes another fiber right after the hand-over: that
/// wake used to take the run-next slot and push the waiter to the back of the queue.
#[test]
fn a_mutex_handed_over_on_the_same_worker_is_not_displaced_by_a_later_wake() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let yielders = start_yielders(&rt);
    let lock = Arc::new(Mutex::new(0usize));
    let event = Arc::new(Event::new_manual_reset());
    let sleeper = {
        let event = event.clone();
        rt.spawn(move || event.wait())
    };
    let (lock1, turns1, event1) = (lock.clone(), yielders.turns.clone(), event.clone());
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = rt.spawn(move || {
        let guard = lock1.lock();
        locked_tx.send(()).unwrap();
        fibra::sleep(Duration::from_millis(20));
        let before = turns1.load(SeqCst);
        drop(guard);
        event1.set();
        before
    });
    locked_rx.recv().unwrap();
    let (lock2, turns2) = (lock.clone(), yielders.turns.clone());
    let waiter = rt.spawn(move || {
        let _g = lock2.lock();
        turns2.load(SeqCst)
    });
    let before = holder.join().unwrap();
    let after = waiter.join().unwrap();
    sleeper.join().unwrap();
    yielders.stop();
    assert_ran_soon("mutex, fiber to fiber", before, after);
}

#[test]
fn permits_granted_by_a_thread_run_their_fiber_first() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let yielders = start_yielders(&rt);
    let sem = Arc::new(Semaphore::new(0));
    let (sem2, turns) = (sem.clone(), yielders.turns.clone());
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let waiter = rt.spawn(move || {
        started_tx.send(()).unwrap();
        let _permit = sem2.acquire();
        turns.load(SeqCst)
    });
    started_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    sem.add_permits(1);
    let before = yielders.turns.load(SeqCst);
    let after = waiter.join().unwrap();
    yielders.stop();
    assert_ran_soon("semaphore, thread to fiber", before, after);
}
