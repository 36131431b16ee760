//! loom models of the park protocol. Each counts its executions (printed with
//! `--nocapture`) and fails if loom explored only one.
//!
//! loom 0.7 can stop exploring a spawned thread whose first operation is an atomic load
//! (tokio-rs/loom#392), which is how `Sim::worker` opens (`transition_worker_to_searching`
//! loads the state word). Checked: opening the workers with a read-modify-write of a
//! thread-local loom atomic explores exactly as many executions (186 / 35 658 / 14 678 /
//! 79 853 for the four `loom_idle` models), so these models are not affected.

use super::sim::Sim;
use super::*;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use std::cell::Cell;

std::thread_local! {
    /// Executions of the model running on this test thread (loom runs a model's threads
    /// as coroutines on the thread that called it).
    static EXECUTIONS: Cell<usize> = const { Cell::new(0) };
}

/// Starts one loom thread per worker of `sim`, each running the worker loop.
fn start_workers(sim: &Arc<Sim>) -> Vec<loom::thread::JoinHandle<()>> {
    (0..sim.drivers.len())
        .map(|id| {
            let sim = sim.clone();
            loom::thread::spawn(move || sim.worker(id))
        })
        .collect()
}

fn join_all(workers: Vec<loom::thread::JoinHandle<()>>) {
    for w in workers {
        w.join().unwrap();
    }
}

/// Checks `model` under loom with a preemption bound; prints and returns how many
/// executions loom explored, and fails if that is one.
fn explore(name: &str, preemptions: usize, model: impl Fn() + Sync + Send + 'static) -> usize {
    EXECUTIONS.set(0);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(move || {
        EXECUTIONS.set(EXECUTIONS.get() + 1);
        model();
    });
    let n = EXECUTIONS.get();
    println!("{name}: {n} executions");
    assert!(n > 1, "{name}: loom explored a single execution");
    n
}

/// The unparker publishes data and unparks; the parker's `park(None)` (which under loom
/// never returns spuriously: the condvar has no spurious wake-ups and the driver waits out
/// PARKED) must return, whether the unpark lands before it, while it moves into PARKED, or
/// while it sleeps, and must then see the data (a race on the cell fails the model).
#[test]
fn loom_park_unpark_no_lost_wakeup() {
    explore("loom_park_unpark_no_lost_wakeup", 3, || {
        let driver = Arc::new(ThreadDriver::new());
        let data = Arc::new(UnsafeCell::new(0));
        let unparker = {
            let (driver, data) = (driver.clone(), data.clone());
            loom::thread::spawn(move || {
                // SAFETY: the parker reads the cell only after the park this unpark ends.
                data.with_mut(|p| unsafe { *p = 42 });
                driver.unpark();
            })
        };
        driver.park(None);
        // SAFETY: park(None) returned, so the unpark happened-before this point.
        assert_eq!(data.with(|p| unsafe { *p }), 42);
        unparker.join().unwrap();
    });
}

/// A timed park (loom's condvar never times out, so this is the timed path's protocol with
/// the unpark as the only way out), then a second park that an earlier, merged unpark
/// must not leave hanging: two unparkers, two parks, each park guarded by a flag.
#[test]
fn loom_park_timeout_two_unparkers() {
    explore("loom_park_timeout_two_unparkers", 2, || {
        let driver = Arc::new(ThreadDriver::new());
        let sent = Arc::new(AtomicUsize::new(0));
        let unparkers: Vec<_> = (0..2)
            .map(|_| {
                let (driver, sent) = (driver.clone(), sent.clone());
                loom::thread::spawn(move || {
                    sent.fetch_add(1, Ordering::Relaxed);
                    driver.unpark();
                })
            })
            .collect();
        // Relaxed: the driver orders the counter (its acquire pairs with unpark's release).
        while sent.load(Ordering::Relaxed) < 2 {
            driver.park(Some(core::time::Duration::from_secs(1)));
        }
        for u in unparkers {
            u.join().unwrap();
        }
    });
}

/// One worker going to sleep races an outside thread pushing a task and notifying: the
/// task always runs (a worker left asleep with it queued deadlocks the model).
#[test]
fn loom_idle_one_worker_push_races_sleep() {
    explore("loom_idle_one_worker_push_races_sleep", 3, || {
        let sim = Arc::new(Sim::new(1, 1, |_, _| {}));
        let worker = {
            let sim = sim.clone();
            loom::thread::spawn(move || sim.worker(0))
        };
        sim.push();
        worker.join().unwrap();
        assert_eq!(sim.done(), 1);
    });
}

/// Two workers going to sleep (one of them searching, the other refused the search or
/// parking as the last searcher) race an outside push: some worker runs the task.
#[test]
fn loom_idle_two_workers_push_races_sleep() {
    explore("loom_idle_two_workers_push_races_sleep", 2, || {
        let sim = Arc::new(Sim::new(2, 1, |_, _| {}));
        let workers = start_workers(&sim);
        sim.push();
        join_all(workers);
        assert_eq!(sim.done(), 1);
    });
}

/// A worker pushes a task from inside a running task while the other worker goes to
/// sleep: the spawned task is not stranded.
#[test]
fn loom_idle_worker_spawns_while_other_sleeps() {
    explore("loom_idle_worker_spawns_while_other_sleeps", 2, || {
        // Task 1 (pushed below) spawns task 2.
        let sim = Arc::new(Sim::new(2, 2, |sim, n| {
            if n == 1 {
                sim.push();
            }
        }));
        sim.push();
        let workers = start_workers(&sim);
        join_all(workers);
        assert_eq!(sim.done(), 2);
    });
}

/// Two tasks pushed from outside (one before the workers start); the first blocks its worker until the second has
/// started (a long-running fiber). The worker that takes the first may stop searching as
/// the last searcher after the second push saw it searching and woke no one, while the
/// other worker, refused the search, heads for sleep: only the hand-off `notify_one`
/// (rule 3) and the search request it makes get the second task run. Stranding it
/// deadlocks the model.
#[test]
fn loom_idle_busy_worker_hands_search_on() {
    explore("loom_idle_busy_worker_hands_search_on", 2, || {
        let second_started = Arc::new(loom::sync::Notify::new());
        let sim = Arc::new(Sim::new(2, 2, move |_, n| match n {
            1 => second_started.wait(),
            _ => second_started.notify(),
        }));
        sim.push();
        let workers = start_workers(&sim);
        sim.push();
        join_all(workers);
        assert_eq!(sim.done(), 2);
    });
}

/// A wake-up through the inbox of a sleeping worker races a notify for shared work: both
/// tasks run, whether the notifier takes the worker off the sleepers list first (it then
/// runs its inbox task as a searcher and hands the search on) or the worker takes itself
/// off (rule 5). (One worker: with two the model takes minutes.)
#[test]
fn loom_idle_inbox_wake_races_notify() {
    explore("loom_idle_inbox_wake_races_notify", 2, || {
        let sim = Arc::new(Sim::new(1, 2, |_, _| {}));
        let worker = {
            let sim = sim.clone();
            loom::thread::spawn(move || sim.worker(0))
        };
        let sender = {
            let sim = sim.clone();
            loom::thread::spawn(move || sim.send(0))
        };
        sim.push();
        sender.join().unwrap();
        worker.join().unwrap();
        assert_eq!(sim.done(), 2);
    });
}
