use super::sim::Sim;
use super::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn unpark_before_park_returns_at_once() {
    let d = ThreadDriver::new();
    d.unpark();
    d.park(None); // would hang if the notification were lost
    d.unpark();
    d.unpark(); // merged with the previous one
    d.park(Some(Duration::from_secs(3600)));
}

#[test]
fn zero_timeout_polls_and_consumes() {
    let d = ThreadDriver::new();
    d.park(Some(Duration::ZERO)); // nothing pending: returns anyway
    d.unpark();
    d.park(Some(Duration::ZERO)); // consumes the notification
    // The notification is gone: a short timed park must wait out its timeout (asserting
    // only that it returns; how long it took is not checked).
    d.park(Some(Duration::from_millis(5)));
}

#[test]
fn timeout_is_honoured() {
    let d = ThreadDriver::new();
    for ms in [1, 10, 30] {
        d.park(Some(Duration::from_millis(ms)));
    }
    // Huge timeouts are clamped, not an error; with a notification pending they return.
    d.unpark();
    d.park(Some(Duration::MAX));
}

#[test]
fn unpark_from_another_thread_wakes_a_sleeper() {
    let d = Arc::new(ThreadDriver::new());
    let flag = Arc::new(AtomicBool::new(false));
    let t = {
        let (d, flag) = (d.clone(), flag.clone());
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            flag.store(true, Ordering::Relaxed);
            d.unpark();
        })
    };
    // Relaxed is enough: the driver's release/acquire orders the flag.
    while !flag.load(Ordering::Relaxed) {
        d.park(None);
    }
    t.join().unwrap();
}

/// Two threads hand a token back and forth through each other's drivers, many times, with
/// no timeouts: a single lost wake-up hangs the test (caught by the watchdog).
#[test]
fn ping_pong_loses_no_wake_up() {
    const ROUNDS: usize = 20_000;
    let drivers: Arc<[ThreadDriver; 2]> = Arc::new([ThreadDriver::new(), ThreadDriver::new()]);
    let token = Arc::new(AtomicUsize::new(0));
    let players: Vec<_> = (0..2)
        .map(|me| {
            let (drivers, token) = (drivers.clone(), token.clone());
            thread::spawn(move || {
                for round in 0..ROUNDS {
                    let mine = 2 * round + me;
                    while token.load(Ordering::Acquire) != mine {
                        drivers[me].park(None);
                    }
                    token.store(mine + 1, Ordering::Release);
                    drivers[1 - me].unpark();
                }
            })
        })
        .collect();
    watchdog(Duration::from_secs(60), || {
        players.iter().all(|p| p.is_finished())
    });
    for p in players {
        p.join().unwrap();
    }
}

/// Many threads unpark one sleeper at random moments; it counts what it saw.
#[test]
fn many_unparkers() {
    const THREADS: usize = 8;
    const EACH: usize = 2_000;
    let d = Arc::new(ThreadDriver::new());
    let sent = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(Barrier::new(THREADS));
    let unparkers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (d, sent, go) = (d.clone(), sent.clone(), go.clone());
            thread::spawn(move || {
                go.wait();
                for i in 0..EACH {
                    sent.fetch_add(1, Ordering::Release);
                    d.unpark();
                    if i % 64 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    while sent.load(Ordering::Acquire) < THREADS * EACH {
        d.park(None);
    }
    for u in unparkers {
        u.join().unwrap();
    }
}

/// Polls `done` until it holds, panicking after `limit` (a hang means a lost wake-up).
fn watchdog(limit: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "stuck: a wake-up was lost");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn driver_is_object_safe_and_forwards() {
    let boxed: Vec<Box<dyn Driver>> = vec![Box::new(ThreadDriver::new())];
    boxed[0].unpark();
    boxed[0].park(None);
    let shared: Vec<Arc<dyn Driver>> = vec![Arc::new(ThreadDriver::new())];
    let idle = Idle::new(1);
    assert!(!idle.worker_to_parked(0, false));
    assert!(idle.notify_one(&shared));
    shared[0].park(None); // the notify unparked it
    let by_ref = [&*shared[0]];
    assert!(
        !idle.notify_one(&by_ref),
        "the woken worker counts as searching"
    );
}

#[test]
fn searching_is_capped_at_half() {
    for (workers, cap) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (8, 4)] {
        let idle = Idle::new(workers);
        let admitted = (0..workers)
            .filter(|_| idle.transition_worker_to_searching())
            .count();
        assert_eq!(admitted, cap, "{workers} workers");
        assert_eq!(idle.num_searching(), cap);
        // Leaving: only the last one reports it.
        let lasts: Vec<bool> = (0..cap)
            .map(|_| idle.transition_worker_from_searching())
            .collect();
        assert_eq!(lasts.iter().filter(|&&l| l).count(), 1);
        assert_eq!(lasts.last(), Some(&true));
        assert_eq!(idle.num_searching(), 0);
    }
}

#[test]
fn park_notify_and_counts() {
    let idle = Idle::new(4);
    let drivers: Vec<ThreadDriver> = (0..4).map(|_| ThreadDriver::new()).collect();
    assert_eq!(idle.num_workers(), 4);
    assert_eq!(idle.num_sleeping(), 0);

    // Worker 1 searches, then parks as the last searcher.
    assert!(idle.transition_worker_to_searching());
    assert!(
        idle.worker_to_parked(1, true),
        "last searcher must re-check"
    );
    assert_eq!((idle.num_searching(), idle.num_sleeping()), (0, 1));
    // Worker 2 parks without searching: not a last searcher, nothing requested.
    assert!(!idle.worker_to_parked(2, false));
    assert!(idle.is_parked(1) && idle.is_parked(2) && !idle.is_parked(0));

    // While someone searches, a notify wakes nobody.
    assert!(idle.transition_worker_to_searching());
    assert!(!idle.notify_should_wakeup());
    assert!(!idle.notify_one(&drivers));
    assert!(idle.transition_worker_from_searching());

    // No searcher, two sleepers: the most recent sleeper is woken, counted as searching.
    assert!(idle.notify_should_wakeup());
    assert_eq!(idle.worker_to_notify(), Some(2));
    assert_eq!((idle.num_searching(), idle.num_sleeping()), (1, 1));
    assert!(!idle.is_parked(2));
    // It is searching, so a second notify leaves the rest asleep.
    assert_eq!(idle.worker_to_notify(), None);
    // Woken worker 2 finds work: as the last searcher it hands the search on.
    assert!(idle.transition_worker_from_searching());
    assert!(idle.notify_one(&drivers));
    drivers[1].park(None); // worker 1 was unparked
    assert_eq!((idle.num_searching(), idle.num_sleeping()), (1, 0));
    assert!(idle.transition_worker_from_searching());
    assert!(!idle.search_requested());
}

#[test]
fn search_request_when_everyone_is_awake() {
    let idle = Idle::new(3);
    let drivers: Vec<ThreadDriver> = (0..3).map(|_| ThreadDriver::new()).collect();
    // Everyone awake, no searcher: nobody to wake, so a search is requested, once.
    assert!(idle.notify_should_wakeup());
    assert!(!idle.notify_one(&drivers));
    assert!(idle.search_requested());
    assert!(!idle.notify_should_wakeup(), "the request is pending");
    assert_eq!(idle.worker_to_notify(), None);
    // The next worker to park, even without searching, takes the request and must look.
    assert!(idle.worker_to_parked(0, false));
    assert!(!idle.search_requested());
    assert!(!idle.worker_to_parked(1, false), "taken once");
    // With sleepers, a notify wakes one instead of requesting.
    assert_eq!(idle.worker_to_notify(), Some(1));
    assert!(!idle.search_requested());
    assert!(idle.transition_worker_from_searching());
    // A searcher takes a pending request too.
    assert!(idle.unpark_worker_by_id(0));
    assert!(!idle.notify_one(&drivers));
    assert!(idle.search_requested());
    assert!(idle.transition_worker_to_searching());
    assert!(!idle.search_requested());
    assert_eq!(idle.num_searching(), 1);
}

#[test]
fn unpark_worker_by_id_leaves_search_alone() {
    let idle = Idle::new(3);
    assert!(!idle.worker_to_parked(0, false));
    assert!(!idle.worker_to_parked(2, false));
    assert!(!idle.unpark_worker_by_id(1), "1 is not asleep");
    assert!(idle.unpark_worker_by_id(0));
    assert!(!idle.unpark_worker_by_id(0), "only once");
    assert_eq!((idle.num_searching(), idle.num_sleeping()), (0, 1));
    assert!(!idle.is_parked(0) && idle.is_parked(2));
    // A notifier took 2 first: 2 then learns it is searching.
    assert_eq!(idle.worker_to_notify(), Some(2));
    assert!(!idle.unpark_worker_by_id(2));
    assert_eq!((idle.num_searching(), idle.num_sleeping()), (1, 0));
}

#[test]
#[should_panic(expected = "workers")]
fn zero_workers_rejected() {
    let _ = Idle::new(0);
}

/// The worker-loop rules under load: 4 workers, 2 outside producers pushing shared tasks
/// and sending inbox tasks in bursts with pauses (so workers keep going to sleep), tasks
/// that spawn more. Every worker parks
/// without a timeout, so a lost task or wake-up hangs the run and the watchdog fails it.
#[test]
fn stress_no_task_left_behind() {
    const PRODUCERS: usize = 2;
    const EACH: usize = 20_000;
    // Every 7th task up to the 20 000th spawns one more: 2857 of them, all reached since
    // the run goes past 20 000.
    fn task(sim: &Sim, n: usize) {
        if n % 7 == 0 && n <= 20_000 {
            sim.push();
        }
    }
    let total = PRODUCERS * EACH + 20_000 / 7;
    let sim = Arc::new(Sim::new(4, total, task));
    let workers: Vec<_> = (0..4)
        .map(|id| {
            let sim = sim.clone();
            thread::spawn(move || sim.worker(id))
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let sim = sim.clone();
            thread::spawn(move || {
                for i in 0..EACH {
                    if i % 3 == 0 {
                        sim.send(i % 4);
                    } else {
                        sim.push();
                    }
                    if (i + p) % 97 == 0 {
                        thread::sleep(Duration::from_micros(200));
                    } else if i % 5 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let start = Instant::now();
    while !sim.is_shutdown() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stuck with {} of {total} tasks run, {} queued, {} sleeping",
            sim.done(),
            sim.queued(),
            sim.idle.num_sleeping()
        );
        thread::sleep(Duration::from_millis(5));
    }
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(sim.done(), total);
}
