//! Fibers unwound at runtime shutdown while blocked in a `fibra::sync` primitive: their wait
//! nodes (on the freed stacks) must be unlinked, and whatever a notifier had already granted
//! them (a lock, permits, an auto-reset event, a condvar notification) given back, so the
//! primitive keeps working from plain threads afterwards (without the unwind guards: a
//! dangling node, SIGSEGV or a hang).
//!
//! Two shapes per primitive:
//! - `*_cancelled`: the runtime goes while the fiber is blocked; the fiber wins its own
//!   claim as it unwinds (like a timeout) and backs out;
//! - `*_granted`: a plain thread ends the fiber's wait (wins its claim, hands it what it
//!   waited for) while another fiber hogs the only worker, and the runtime shuts down
//!   before the woken fiber runs again: it unwinds holding the grant, which it gives back.

use fibra::sync::{Barrier, Condvar, Event, Mutex, OnceCell, RwLock, Semaphore, WaitGroup};
use fibra::{JoinHandle, Runtime};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(3600);
/// How long the tests wait for something that must happen at once.
const SOON: Duration = Duration::from_secs(10);
/// Enough for a fiber to get from its "about to block" message into its wait.
const SETTLE: Duration = Duration::from_millis(30);

/// Spawns `f` on a fresh one-worker runtime and returns once it is (very nearly surely)
/// blocked in it: it reports just before calling `f`, then we give it time to queue.
fn block_in(f: impl FnOnce() + Send + 'static) -> (Runtime, JoinHandle<()>) {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let (tx, rx) = mpsc::channel();
    let h = rt.spawn(move || {
        tx.send(()).unwrap();
        f();
    });
    rx.recv().unwrap();
    thread::sleep(SETTLE);
    (rt, h)
}

/// Drops the runtime while the fiber is blocked: it is unwound out of its wait.
fn unwind_blocked(rt: Runtime, h: JoinHandle<()>) {
    drop(rt);
    assert!(h.join().is_err(), "the blocked fiber was cancelled");
}

/// Ends the fiber's wait with `grant` (from this thread) while the runtime is shutting down
/// and its only worker is busy with another fiber, so that the woken fiber is unwound
/// before it runs again, holding the grant.
fn unwind_after_grant(rt: Runtime, h: JoinHandle<()>, grant: impl FnOnce()) {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let hog = {
        let stop = stop.clone();
        rt.spawn(move || {
            tx.send(()).unwrap();
            while !stop.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
        })
    };
    rx.recv().unwrap();
    let dropper = thread::spawn(move || drop(rt));
    thread::sleep(SETTLE); // the shutdown is under way; the worker is stuck in the hog
    grant();
    stop.store(true, Ordering::Release);
    dropper.join().unwrap();
    assert!(hog.join().is_ok(), "the hog ran to its end");
    assert!(h.join().is_err(), "the granted fiber was cancelled");
}

/// Runs `f` on a plain thread and fails if it does not finish within [`SOON`].
fn finishes<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(SOON)
        .unwrap_or_else(|_| panic!("{what}: hung"))
}

// ----- Mutex -----

#[test]
fn mutex_lock_cancelled() {
    let m = Arc::new(Mutex::new(0));
    let held = m.lock();
    let (rt, h) = block_in({
        let m = m.clone();
        move || *m.lock() += 1
    });
    unwind_blocked(rt, h);
    drop(held); // PARKED is set only if the dead node is still linked: then SIGSEGV
    assert!(!m.is_locked());
    let m2 = m.clone();
    finishes("lock after unwind", move || *m2.lock() += 10);
    assert_eq!(*m.lock(), 10);
}

#[test]
fn mutex_lock_timeout_cancelled() {
    let m = Arc::new(Mutex::new(0));
    let held = m.lock();
    let (rt, h) = block_in({
        let m = m.clone();
        move || drop(m.lock_timeout(LONG))
    });
    unwind_blocked(rt, h);
    drop(held);
    assert!(m.try_lock().is_some());
}

#[test]
fn mutex_lock_granted() {
    let m = Arc::new(Mutex::new(0));
    let held = m.lock();
    let (rt, h) = block_in({
        let m = m.clone();
        move || *m.lock() += 1
    });
    // The fiber has waited over a millisecond: the unlock hands the lock over to it.
    unwind_after_grant(rt, h, move || drop(held));
    let m2 = m.clone();
    let got = finishes("lock after unwind", move || m2.lock_timeout(SOON).is_some());
    assert!(got, "the lock handed to the unwound fiber was given back");
    assert_eq!(*m.lock(), 0);
}

/// A thread queued behind the dying fiber still gets the lock.
#[test]
fn mutex_waiter_behind_unwound_fiber() {
    let m = Arc::new(Mutex::new(0));
    let held = m.lock();
    let (rt, h) = block_in({
        let m = m.clone();
        move || *m.lock() += 1
    });
    let behind = {
        let m = m.clone();
        thread::spawn(move || *m.lock() += 10)
    };
    thread::sleep(SETTLE);
    unwind_after_grant(rt, h, move || drop(held));
    finishes("thread behind the fiber", move || behind.join().unwrap());
    assert_eq!(*m.lock(), 10);
}

// ----- Condvar -----

#[test]
fn condvar_wait_cancelled() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let (rt, h) = block_in({
        let pair = pair.clone();
        move || {
            let (m, cv) = &*pair;
            drop(cv.wait_while(m.lock(), |ready| !*ready));
        }
    });
    unwind_blocked(rt, h);
    let (m, cv) = &*pair;
    // Unwinding did not re-lock the mutex (nor unlock it twice).
    assert!(!m.is_locked());
    *m.lock() = true;
    cv.notify_all(); // the dead node would be found here
    let pair2 = pair.clone();
    let timed_out = finishes("a new wait", move || {
        let (m, cv) = &*pair2;
        cv.wait_timeout(m.lock(), Duration::from_millis(10))
            .1
            .timed_out()
    });
    assert!(timed_out);
    assert!(m.try_lock().is_some());
}

#[test]
fn condvar_wait_timeout_cancelled() {
    let pair = Arc::new((Mutex::new(()), Condvar::new()));
    let (rt, h) = block_in({
        let pair = pair.clone();
        move || {
            let (m, cv) = &*pair;
            drop(cv.wait_timeout(m.lock(), LONG));
        }
    });
    unwind_blocked(rt, h);
    let (m, cv) = &*pair;
    assert!(!m.is_locked());
    cv.notify_one();
    assert!(m.try_lock().is_some());
}

/// A `notify_one` that reached the dying fiber is passed on to the next waiter.
#[test]
fn condvar_notified_passes_the_notification_on() {
    let pair = Arc::new((Mutex::new(()), Condvar::new()));
    let (rt, h) = block_in({
        let pair = pair.clone();
        move || {
            let (m, cv) = &*pair;
            drop(cv.wait(m.lock()));
        }
    });
    let (tx, rx) = mpsc::channel();
    let behind = {
        let pair = pair.clone();
        thread::spawn(move || {
            let (m, cv) = &*pair;
            let g = m.lock();
            tx.send(()).unwrap();
            cv.wait_timeout(g, SOON).1.timed_out()
        })
    };
    rx.recv().unwrap();
    thread::sleep(SETTLE);
    let pair2 = pair.clone();
    unwind_after_grant(rt, h, move || pair2.1.notify_one());
    assert!(
        !behind.join().unwrap(),
        "the thread behind got the notification"
    );
    assert!(pair.0.try_lock().is_some());
}

// ----- RwLock -----

#[test]
fn rwlock_read_cancelled() {
    let l = Arc::new(RwLock::new(0));
    let w = l.write();
    let (rt, h) = block_in({
        let l = l.clone();
        move || drop(l.read())
    });
    unwind_blocked(rt, h);
    drop(w);
    assert!(l.try_write().is_some());
    assert!(!l.is_locked());
}

#[test]
fn rwlock_write_cancelled_lets_readers_in() {
    let l = Arc::new(RwLock::new(0));
    let r = l.read();
    let (rt, h) = block_in({
        let l = l.clone();
        move || drop(l.write_timeout(LONG))
    });
    assert!(
        l.try_read().is_none(),
        "the waiting writer keeps new readers out"
    );
    unwind_blocked(rt, h);
    assert!(l.try_read().is_some(), "nobody waits any more");
    drop(r);
    assert!(l.try_write().is_some());
}

#[test]
fn rwlock_read_granted() {
    let l = Arc::new(RwLock::new(0));
    let w = l.write();
    let (rt, h) = block_in({
        let l = l.clone();
        move || drop(l.read())
    });
    unwind_after_grant(rt, h, move || drop(w));
    assert!(
        !l.is_locked(),
        "the read lock handed to the fiber was released"
    );
    assert!(l.try_write().is_some());
}

#[test]
fn rwlock_write_granted() {
    let l = Arc::new(RwLock::new(0));
    let r = l.read();
    let (rt, h) = block_in({
        let l = l.clone();
        move || *l.write() += 1
    });
    unwind_after_grant(rt, h, move || drop(r));
    assert!(
        !l.is_locked(),
        "the write lock handed to the fiber was released"
    );
    assert!(l.try_read().is_some());
}

// ----- Semaphore -----

#[test]
fn semaphore_acquire_cancelled() {
    let s = Arc::new(Semaphore::new(0));
    let (rt, h) = block_in({
        let s = s.clone();
        move || drop(s.acquire_many(2))
    });
    unwind_blocked(rt, h);
    s.add_permits(1); // hands out to the queue if the dead node were still there
    assert_eq!(s.available_permits(), 1);
    assert!(s.try_acquire().is_some(), "nobody queued");
}

#[test]
fn semaphore_acquire_timeout_cancelled() {
    let s = Arc::new(Semaphore::new(0));
    let (rt, h) = block_in({
        let s = s.clone();
        move || drop(s.acquire_timeout(LONG))
    });
    unwind_blocked(rt, h);
    s.add_permits(1);
    assert_eq!(s.available_permits(), 1);
}

#[test]
fn semaphore_acquire_granted() {
    let s = Arc::new(Semaphore::new(0));
    let (rt, h) = block_in({
        let s = s.clone();
        move || drop(s.acquire_many(2))
    });
    let s2 = s.clone();
    unwind_after_grant(rt, h, move || s2.add_permits(3));
    assert_eq!(s.available_permits(), 3, "the fiber's permits came back");
}

// ----- Event -----

#[test]
fn event_manual_wait_cancelled() {
    let e = Arc::new(Event::new_manual_reset());
    let (rt, h) = block_in({
        let e = e.clone();
        move || e.wait()
    });
    unwind_blocked(rt, h);
    e.set(); // releases the queue: the dead node would be claimed here
    assert!(e.is_set());
}

#[test]
fn event_auto_wait_cancelled_does_not_consume() {
    let e = Arc::new(Event::new_auto_reset());
    let (rt, h) = block_in({
        let e = e.clone();
        move || assert!(e.wait_timeout(LONG))
    });
    unwind_blocked(rt, h);
    e.set();
    assert!(e.is_set(), "nobody was left to consume it");
    assert!(e.wait_timeout(Duration::ZERO));
}

#[test]
fn event_auto_granted_is_set_again() {
    let e = Arc::new(Event::new_auto_reset());
    let (rt, h) = block_in({
        let e = e.clone();
        move || e.wait()
    });
    let e2 = e.clone();
    unwind_after_grant(rt, h, move || e2.set());
    assert!(
        e.is_set(),
        "the set consumed by the dying fiber was given back"
    );
    assert!(e.wait_timeout(Duration::ZERO));
}

#[test]
fn event_manual_granted() {
    let e = Arc::new(Event::new_manual_reset());
    let (rt, h) = block_in({
        let e = e.clone();
        move || e.wait()
    });
    let e2 = e.clone();
    unwind_after_grant(rt, h, move || e2.set());
    assert!(e.is_set());
    e.reset();
    assert!(!e.wait_timeout(Duration::from_millis(1)));
}

// ----- WaitGroup -----

#[test]
fn wait_group_wait_cancelled() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (rt, h) = block_in({
        let wg = wg.clone();
        move || wg.wait()
    });
    unwind_blocked(rt, h);
    wg.done(); // releases the queue: the dead node would be claimed here
    assert_eq!(wg.count(), 0);
    let wg2 = wg.clone();
    finishes("wait at zero", move || wg2.wait());
    wg.add(1);
    assert!(!wg.wait_timeout(Duration::from_millis(1)));
    wg.done();
}

#[test]
fn wait_group_wait_timeout_granted() {
    let wg = WaitGroup::new();
    wg.add(1);
    let (rt, h) = block_in({
        let wg = wg.clone();
        move || assert!(wg.wait_timeout(LONG))
    });
    let wg2 = wg.clone();
    unwind_after_grant(rt, h, move || wg2.done());
    assert_eq!(wg.count(), 0);
    wg.add(2);
    wg.done();
    wg.done();
    wg.wait();
}

// ----- Barrier -----

/// Two threads run a full round of a two-party barrier: exactly one leader.
fn barrier_round_works(b: &Arc<Barrier>) {
    let b2 = b.clone();
    let leaders = finishes("a round after the unwind", move || {
        let other = {
            let b = b2.clone();
            thread::spawn(move || b.wait().is_leader())
        };
        let me = b2.wait().is_leader();
        usize::from(me) + usize::from(other.join().unwrap())
    });
    assert_eq!(leaders, 1);
}

#[test]
fn barrier_wait_cancelled_withdraws() {
    let b = Arc::new(Barrier::new(2));
    let (rt, h) = block_in({
        let b = b.clone();
        move || {
            b.wait();
        }
    });
    unwind_blocked(rt, h);
    // The dying party withdrew: a new round needs two parties again (a lone thread
    // would otherwise complete the round and the next one hang).
    barrier_round_works(&b);
    barrier_round_works(&b);
}

#[test]
fn barrier_wait_granted() {
    let b = Arc::new(Barrier::new(2));
    let (rt, h) = block_in({
        let b = b.clone();
        move || {
            b.wait();
        }
    });
    let b2 = b.clone();
    unwind_after_grant(rt, h, move || assert!(b2.wait().is_leader()));
    barrier_round_works(&b);
}

// ----- OnceCell -----

/// A thread that starts initialising `cell` and finishes when told to.
fn slow_init(cell: &Arc<OnceCell<u32>>) -> (mpsc::Sender<()>, thread::JoinHandle<()>) {
    let (go, wait) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    let cell = cell.clone();
    let runner = thread::spawn(move || {
        cell.get_or_init(|| {
            started_tx.send(()).unwrap();
            wait.recv().unwrap();
            5
        });
    });
    started.recv().unwrap();
    (go, runner)
}

#[test]
fn once_cell_get_or_init_cancelled() {
    let cell = Arc::new(OnceCell::new());
    let (go, runner) = slow_init(&cell);
    let (rt, h) = block_in({
        let cell = cell.clone();
        move || assert_eq!(*cell.get_or_init(|| 7), 5)
    });
    unwind_blocked(rt, h);
    go.send(()).unwrap(); // releases the queue: the dead node would be claimed here
    runner.join().unwrap();
    assert_eq!(cell.get(), Some(&5));
}

#[test]
fn once_cell_get_or_init_granted() {
    let cell = Arc::new(OnceCell::new());
    let (go, runner) = slow_init(&cell);
    let (rt, h) = block_in({
        let cell = cell.clone();
        move || assert_eq!(*cell.get_or_init(|| 7), 5)
    });
    unwind_after_grant(rt, h, move || {
        go.send(()).unwrap();
        runner.join().unwrap();
    });
    assert_eq!(cell.get(), Some(&5));
}

/// The fiber's own initialiser blocks in another primitive when the runtime goes: the
/// cell goes back to empty (and the waiting thread runs its own initialiser).
#[test]
fn once_cell_runner_unwound_hands_on() {
    let cell = Arc::new(OnceCell::new());
    let ev = Arc::new(Event::new_manual_reset());
    let (rt, h) = block_in({
        let (cell, ev) = (cell.clone(), ev.clone());
        move || {
            cell.get_or_init(|| {
                ev.wait();
                7
            });
        }
    });
    let waiter = {
        let cell = cell.clone();
        thread::spawn(move || *cell.get_or_init(|| 9))
    };
    thread::sleep(SETTLE);
    unwind_blocked(rt, h);
    assert_eq!(
        finishes("the waiting thread", move || waiter.join().unwrap()),
        9
    );
    ev.set();
    assert_eq!(cell.get(), Some(&9));
}
