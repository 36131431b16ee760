//! `fibra::sync::Condvar` from fibers, from threads, and mixed; timeouts racing notifies.

use fibra::Runtime;
use fibra::sync::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

/// A bounded queue on a mutex and two condvars.
struct Channel {
    queue: Mutex<VecDeque<u64>>,
    not_empty: Condvar,
    not_full: Condvar,
}

const CAPACITY: usize = 4;
const ITEMS: u64 = 2_000;

impl Channel {
    fn new() -> Arc<Self> {
        Arc::new(Channel {
            queue: Mutex::new(VecDeque::new()),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        })
    }

    fn send(&self, v: u64) {
        let mut q = self
            .not_full
            .wait_while(self.queue.lock(), |q| q.len() == CAPACITY);
        q.push_back(v);
        drop(q);
        self.not_empty.notify_one();
    }

    fn recv(&self) -> u64 {
        let mut q = self
            .not_empty
            .wait_while(self.queue.lock(), |q| q.is_empty());
        let v = q.pop_front().unwrap();
        drop(q);
        self.not_full.notify_one();
        v
    }
}

/// Producers and consumers pass `ITEMS` values each through a queue of four slots;
/// `spawn` runs each side as a fiber or a thread.
fn producers_and_consumers(
    fiber_producers: usize,
    thread_producers: usize,
    fiber_consumers: usize,
    thread_consumers: usize,
) {
    let rt = rt();
    let ch = Channel::new();
    let producers = fiber_producers + thread_producers;
    let consumers = fiber_consumers + thread_consumers;
    let total = producers as u64 * ITEMS;
    assert_eq!(total % consumers as u64, 0);
    let per_consumer = total / consumers as u64;
    let mut fibers = vec![];
    let mut threads = vec![];
    for i in 0..producers {
        let ch = ch.clone();
        let body = move || {
            for v in 0..ITEMS {
                ch.send(v);
            }
            0
        };
        if i < fiber_producers {
            fibers.push(rt.spawn(body));
        } else {
            threads.push(std::thread::spawn(body));
        }
    }
    for i in 0..consumers {
        let ch = ch.clone();
        let body = move || (0..per_consumer).map(|_| ch.recv()).sum::<u64>();
        if i < fiber_consumers {
            fibers.push(rt.spawn(body));
        } else {
            threads.push(std::thread::spawn(body));
        }
    }
    let sum: u64 = fibers.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        + threads.into_iter().map(|h| h.join().unwrap()).sum::<u64>();
    assert_eq!(sum, producers as u64 * (ITEMS * (ITEMS - 1) / 2));
    assert!(ch.queue.lock().is_empty());
}

#[test]
fn fibers_pass_items_through_a_bounded_queue() {
    producers_and_consumers(4, 0, 4, 0);
}

#[test]
fn threads_pass_items_through_a_bounded_queue() {
    producers_and_consumers(0, 2, 0, 2);
}

#[test]
fn fibers_and_threads_mixed_on_one_queue() {
    producers_and_consumers(2, 2, 2, 2);
}

#[test]
fn notify_all_wakes_fibers_and_threads() {
    let rt = rt();
    let shared = Arc::new((Mutex::new((false, 0u32)), Condvar::new()));
    let waiter = |shared: Arc<(Mutex<(bool, u32)>, Condvar)>| {
        move || {
            let (m, cv) = &*shared;
            let mut g = m.lock();
            g.1 += 1;
            let g = cv.wait_while(g, |(go, _)| !*go);
            assert!(g.0);
        }
    };
    let fibers: Vec<_> = (0..8).map(|_| rt.spawn(waiter(shared.clone()))).collect();
    let threads: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(waiter(shared.clone())))
        .collect();
    let (m, cv) = &*shared;
    // Wait until all are queued (each counts itself, then waits without letting go of
    // the mutex in between).
    while m.lock().1 < 11 {
        std::thread::sleep(Duration::from_millis(1));
    }
    m.lock().0 = true;
    cv.notify_all();
    fibers.into_iter().for_each(|h| h.join().unwrap());
    threads.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn a_waiting_fiber_lets_its_worker_run_others() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let shared = Arc::new((Mutex::new(false), Condvar::new()));
    let waiter = {
        let shared = shared.clone();
        rt.spawn(move || {
            let (m, cv) = &*shared;
            drop(cv.wait_while(m.lock(), |ready| !*ready));
        })
    };
    // The only worker runs this although the waiter is blocked.
    assert_eq!(rt.spawn(|| 7).join().unwrap(), 7);
    let (m, cv) = &*shared;
    *m.lock() = true;
    cv.notify_one();
    waiter.join().unwrap();
}

#[test]
fn notify_with_nobody_waiting_is_not_stored() {
    let m = Mutex::new(());
    let cv = Condvar::new();
    cv.notify_one();
    cv.notify_all();
    let (_g, r) = cv.wait_timeout(m.lock(), Duration::from_millis(20));
    assert!(r.timed_out());
}

#[test]
fn timeouts_from_threads_and_fibers() {
    let rt = rt();
    let shared = Arc::new((Mutex::new(5), Condvar::new()));
    let (m, cv) = &*shared;
    let t0 = Instant::now();
    let (g, r) = cv.wait_timeout(m.lock(), Duration::from_millis(30));
    assert!(r.timed_out());
    assert!(t0.elapsed() >= Duration::from_millis(30));
    assert_eq!(*g, 5, "the mutex is locked again after a timeout");
    drop(g);
    assert!(!m.is_locked());

    let in_fiber = {
        let shared = shared.clone();
        rt.spawn(move || {
            let (m, cv) = &*shared;
            let t0 = Instant::now();
            let (g, r) = cv.wait_timeout_while(m.lock(), Duration::from_millis(20), |v| *v == 5);
            (r.timed_out(), *g, t0.elapsed())
        })
        .join()
        .unwrap()
    };
    assert!(in_fiber.0 && in_fiber.1 == 5 && in_fiber.2 >= Duration::from_millis(20));

    // A condition that turns false before the deadline is not a timeout.
    let waiter = {
        let shared = shared.clone();
        rt.spawn(move || {
            let (m, cv) = &*shared;
            let (g, r) = cv.wait_timeout_while(m.lock(), Duration::from_secs(10), |v| *v == 5);
            (r.timed_out(), *g)
        })
    };
    std::thread::sleep(Duration::from_millis(10));
    *m.lock() = 6;
    cv.notify_all();
    assert_eq!(waiter.join().unwrap(), (false, 6));
}

/// What the race test's waiters share.
#[derive(Default)]
struct RaceState {
    timed_started: bool,
    untimed_may_wait: bool,
    untimed_waiting: bool,
    pending: u32,
    consumed: u32,
    stop: bool,
}

/// The race test's mutex, its condvar, the gate that lets the untimed waiter queue, and
/// the condvar the test waits on for the item to be consumed.
type Race = (Mutex<RaceState>, Condvar, Condvar, Condvar);

fn join_either<T>(h: Result<fibra::JoinHandle<T>, std::thread::JoinHandle<T>>) -> T {
    match h {
        Ok(h) => h.join().unwrap(),
        Err(h) => h.join().unwrap(),
    }
}

/// Each round a timed waiter queues on the condvar, then an untimed one behind it, and the
/// round's single `notify_one` races the timed waiter's timeout. A timed waiter that was
/// notified consumes the item; one that timed out leaves without looking. So the item is
/// consumed only if a notification that lost the race to a timeout passed on to the
/// untimed waiter.
fn notify_one_racing_timeouts(timed_in_fiber: bool, untimed_in_fiber: bool) {
    const ROUNDS: u32 = 400;
    let rt = rt();
    let shared: Arc<Race> = Arc::new(Default::default());
    let untimed = {
        let shared = shared.clone();
        move || {
            let (m, cv, gate, consumed_cv) = &*shared;
            let mut g = m.lock();
            loop {
                g = gate.wait_while(g, |s| !s.untimed_may_wait && !s.stop);
                g.untimed_may_wait = false;
                g.untimed_waiting = true;
                consumed_cv.notify_all(); // seen once it has queued and let go of the mutex
                g = cv.wait_while(g, |s| s.pending == 0 && !s.stop);
                g.untimed_waiting = false;
                if g.stop {
                    return;
                }
                g.pending -= 1;
                g.consumed += 1;
                consumed_cv.notify_all();
            }
        }
    };
    let untimed = if untimed_in_fiber {
        Ok(rt.spawn(untimed))
    } else {
        Err(std::thread::spawn(untimed))
    };
    let (m, cv, gate, consumed_cv) = &*shared;
    let wait_for = |g, what: fn(&RaceState) -> bool| {
        let (g, r) = consumed_cv.wait_timeout_while(g, Duration::from_secs(10), |s| !what(s));
        assert!(!r.timed_out(), "a waiter did not show up");
        g
    };
    for round in 0..ROUNDS {
        let timed = {
            let shared = shared.clone();
            move || {
                let (m, cv, _, consumed_cv) = &*shared;
                let mut g = m.lock();
                g.timed_started = true;
                consumed_cv.notify_all();
                let timeout = Duration::from_micros(u64::from(round % 40) * 5);
                let (mut g, r) = cv.wait_timeout(g, timeout);
                if !r.timed_out() && g.pending > 0 {
                    g.pending -= 1;
                    g.consumed += 1;
                    consumed_cv.notify_all();
                }
            }
        };
        let timed = if timed_in_fiber {
            Ok(rt.spawn(timed))
        } else {
            Err(std::thread::spawn(timed))
        };
        let mut g = wait_for(m.lock(), |s| s.timed_started);
        g.timed_started = false;
        g.untimed_may_wait = true;
        gate.notify_one();
        let mut g = wait_for(g, |s| s.untimed_waiting);
        g.pending += 1;
        cv.notify_one();
        let (g, r) =
            consumed_cv.wait_timeout_while(g, Duration::from_secs(10), |s| s.consumed <= round);
        assert!(!r.timed_out(), "round {round}: a notification was lost");
        drop(g);
        join_either(timed);
    }
    m.lock().stop = true;
    cv.notify_all();
    gate.notify_all();
    join_either(untimed);
}

#[test]
fn notify_one_racing_timeouts_is_not_lost_fibers() {
    notify_one_racing_timeouts(true, true);
}

#[test]
fn notify_one_racing_timeouts_is_not_lost_threads() {
    notify_one_racing_timeouts(false, false);
}

#[test]
fn notify_one_racing_timeouts_is_not_lost_mixed() {
    notify_one_racing_timeouts(true, false);
    notify_one_racing_timeouts(false, true);
}

#[test]
fn many_timed_waiters_leave_the_condvar_consistent() {
    let rt = rt();
    let shared = Arc::new((Mutex::new(0u64), Condvar::new()));
    let waiters: Vec<_> = (0..16u64)
        .map(|i| {
            let shared = shared.clone();
            rt.spawn(move || {
                let (m, cv) = &*shared;
                let mut woken = 0;
                for _ in 0..200 {
                    let (_g, r) = cv.wait_timeout(m.lock(), Duration::from_micros(i % 5));
                    woken += u64::from(!r.timed_out());
                }
                woken
            })
        })
        .collect();
    let (m, cv) = &*shared;
    let notifier = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let (_, cv) = &*shared;
            for i in 0..20_000 {
                if i % 2 == 0 {
                    cv.notify_one();
                } else {
                    cv.notify_all();
                }
            }
        })
    };
    let _woken: u64 = waiters.into_iter().map(|h| h.join().unwrap()).sum();
    notifier.join().unwrap();
    // Nothing is left queued: a fresh wait times out, and a waiter is still woken.
    let (g, r) = cv.wait_timeout(m.lock(), Duration::from_millis(5));
    assert!(r.timed_out());
    drop(g);
    let waiter = {
        let shared = shared.clone();
        rt.spawn(move || {
            let (m, cv) = &*shared;
            *cv.wait_while(m.lock(), |v| *v == 0)
        })
    };
    std::thread::sleep(Duration::from_millis(5));
    *m.lock() = 1;
    cv.notify_one();
    assert_eq!(waiter.join().unwrap(), 1);
}

#[test]
fn one_condvar_with_two_mutexes_at_once_panics() {
    let shared = Arc::new((Mutex::new(false), Condvar::new()));
    let waiter = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let (m, cv) = &*shared;
            let mut g = m.lock();
            *g = true; // queued before the mutex is released
            drop(cv.wait_while(g, |queued| *queued));
        })
    };
    let (m, cv) = &*shared;
    while !*m.lock() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let other = Mutex::new(());
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(cv.wait_timeout(other.lock(), Duration::from_secs(10)));
    }))
    .expect_err("waiting with a second mutex must panic");
    let msg = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.starts_with("fibra:"), "{msg}");
    assert!(!other.is_locked(), "the guard was dropped by the panic");
    *m.lock() = false;
    cv.notify_all();
    waiter.join().unwrap();
    // With nobody queued, the other mutex is fine.
    let (_g, r) = cv.wait_timeout(other.lock(), Duration::from_millis(1));
    assert!(r.timed_out());
}

#[test]
fn default_and_debug() {
    let cv = Condvar::default();
    assert_eq!(format!("{cv:?}"), "Condvar { .. }");
    static STATIC: Condvar = Condvar::new();
    STATIC.notify_all();
}
