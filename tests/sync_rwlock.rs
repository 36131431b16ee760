//! `fibra::sync::RwLock` from fibers, from threads, and mixed; reader concurrency, writer
//! fairness, timeouts.

use fibra::Runtime;
use fibra::sync::RwLock;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

type Handle<T> = Result<fibra::JoinHandle<T>, std::thread::JoinHandle<T>>;

fn spawn_on<T: Send + 'static>(
    rt: &Runtime,
    in_fiber: bool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Handle<T> {
    if in_fiber {
        Ok(rt.spawn(f))
    } else {
        Err(std::thread::spawn(f))
    }
}

fn join<T>(h: Handle<T>) -> T {
    match h {
        Ok(h) => h.join().unwrap(),
        Err(h) => h.join().unwrap(),
    }
}

/// Yields the fiber or the thread.
fn pause(in_fiber: bool) {
    if in_fiber {
        fibra::yield_now();
    } else {
        std::thread::yield_now();
    }
}

/// Writers keep two fields equal; readers check they always are.
fn writers_exclude_readers(kinds: &[bool]) {
    const ROUNDS: u64 = 1_000;
    let rt = rt();
    let lock = Arc::new(RwLock::new((0u64, 0u64)));
    let hs: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(i, &in_fiber)| {
            let lock = lock.clone();
            spawn_on(&rt, in_fiber, move || {
                for r in 0..ROUNDS {
                    if i % 2 == 0 {
                        let mut g = lock.write();
                        g.0 += 1;
                        if r % 32 == 0 {
                            pause(in_fiber); // hold it across a suspension
                        }
                        g.1 += 1;
                    } else {
                        let g = lock.read();
                        let (a, b) = *g;
                        if r % 32 == 0 {
                            pause(in_fiber);
                        }
                        assert_eq!(a, b, "a reader saw a writer at work");
                        assert_eq!(*g, (a, b));
                    }
                }
            })
        })
        .collect();
    hs.into_iter().for_each(join);
    let writers = kinds.len().div_ceil(2) as u64;
    assert_eq!(*lock.read(), (writers * ROUNDS, writers * ROUNDS));
    assert!(!lock.is_locked());
}

#[test]
fn writers_exclude_readers_fibers() {
    writers_exclude_readers(&[true; 8]);
}

#[test]
fn writers_exclude_readers_threads() {
    writers_exclude_readers(&[false; 4]);
}

#[test]
fn writers_exclude_readers_mixed() {
    writers_exclude_readers(&[true, false, true, false, false, true, true, true]);
}

/// `kinds.len()` readers all get in at once: each waits inside until all are inside.
fn readers_share_the_lock(kinds: &[bool]) {
    let rt = rt();
    let lock = Arc::new(RwLock::new(()));
    let inside = Arc::new(AtomicUsize::new(0));
    let n = kinds.len();
    let hs: Vec<_> = kinds
        .iter()
        .map(|&in_fiber| {
            let (lock, inside) = (lock.clone(), inside.clone());
            spawn_on(&rt, in_fiber, move || {
                let _g = lock.read();
                inside.fetch_add(1, Ordering::SeqCst);
                let t0 = Instant::now();
                while inside.load(Ordering::SeqCst) < n {
                    assert!(t0.elapsed() < Duration::from_secs(10), "readers excluded");
                    pause(in_fiber);
                }
            })
        })
        .collect();
    hs.into_iter().for_each(join);
}

#[test]
fn readers_share_the_lock_fibers() {
    readers_share_the_lock(&[true; 6]);
}

#[test]
fn readers_share_the_lock_threads() {
    readers_share_the_lock(&[false; 4]);
}

#[test]
fn readers_share_the_lock_mixed() {
    readers_share_the_lock(&[true, false, true, false]);
}

#[test]
fn queued_readers_are_admitted_together() {
    let rt = rt();
    let lock = Arc::new(RwLock::new(0));
    let inside = Arc::new(AtomicUsize::new(0));
    let w = lock.write();
    let readers: Vec<_> = (0..6)
        .map(|i| {
            let (lock, inside) = (lock.clone(), inside.clone());
            spawn_on(&rt, i % 3 != 0, move || {
                let g = lock.read();
                inside.fetch_add(1, Ordering::SeqCst);
                let t0 = Instant::now();
                while inside.load(Ordering::SeqCst) < 6 {
                    assert!(t0.elapsed() < Duration::from_secs(10), "readers excluded");
                    pause(i % 3 != 0);
                }
                *g
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20)); // let them queue
    assert_eq!(inside.load(Ordering::SeqCst), 0);
    drop(w);
    for r in readers {
        assert_eq!(join(r), 0);
    }
}

/// Readers overlap so that the lock is never free of them; a writer still gets in.
fn writer_is_not_starved(writer_in_fiber: bool) {
    let rt = rt();
    let lock = Arc::new(RwLock::new(0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let (lock, stop) = (lock.clone(), stop.clone());
            spawn_on(&rt, i % 2 == 0, move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let _g = lock.read();
                    for _ in 0..50 {
                        std::hint::spin_loop();
                    }
                    pause(i % 2 == 0);
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(10));
    let writer = {
        let lock = lock.clone();
        spawn_on(&rt, writer_in_fiber, move || {
            for _ in 0..50 {
                let t0 = Instant::now();
                *lock.write() += 1;
                assert!(t0.elapsed() < Duration::from_secs(5), "writer starved");
            }
        })
    };
    join(writer);
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(join).sum();
    assert!(reads > 0);
    assert_eq!(*lock.read(), 50);
}

#[test]
fn writer_is_not_starved_by_readers_thread_writer() {
    writer_is_not_starved(false);
}

#[test]
fn writer_is_not_starved_by_readers_fiber_writer() {
    writer_is_not_starved(true);
}

#[test]
fn a_waiting_writer_blocks_new_readers() {
    let lock = Arc::new(RwLock::new(0));
    let r = lock.read();
    let writer = {
        let lock = lock.clone();
        std::thread::spawn(move || *lock.write() += 1)
    };
    let t0 = Instant::now();
    // Once the writer queues, try_read fails although only readers hold the lock.
    while lock.try_read().is_some() {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(lock.read_timeout(Duration::from_millis(10)).is_none());
    drop(r);
    writer.join().unwrap();
    assert_eq!(*lock.read(), 1);
}

#[test]
fn a_waiting_fiber_lets_its_worker_run_others() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let lock = Arc::new(RwLock::new(()));
    let w = lock.write();
    let waiter = {
        let lock = lock.clone();
        rt.spawn(move || drop(lock.read()))
    };
    assert_eq!(rt.spawn(|| 7).join().unwrap(), 7);
    drop(w);
    waiter.join().unwrap();
}

#[test]
fn try_and_timeouts() {
    let rt = rt();
    let lock = Arc::new(RwLock::new(5));
    {
        let r = lock.try_read().unwrap();
        assert!(lock.try_read().is_some());
        assert!(lock.try_write().is_none());
        let t0 = Instant::now();
        assert!(lock.write_timeout(Duration::from_millis(30)).is_none());
        assert!(t0.elapsed() >= Duration::from_millis(30));
        // The writer that gave up no longer keeps readers out.
        assert!(lock.try_read().is_some());
        drop(r);
    }
    let w = lock.write();
    assert!(lock.is_locked_exclusive());
    assert!(lock.try_read().is_none() && lock.try_write().is_none());
    let in_fiber = {
        let lock = lock.clone();
        rt.spawn(move || {
            let t0 = Instant::now();
            let r = lock.read_timeout(Duration::from_millis(20)).is_none();
            (r, t0.elapsed())
        })
        .join()
        .unwrap()
    };
    assert!(in_fiber.0 && in_fiber.1 >= Duration::from_millis(20));
    let later = {
        let lock = lock.clone();
        rt.spawn(move || *lock.read_timeout(Duration::from_secs(10)).unwrap())
    };
    std::thread::sleep(Duration::from_millis(10));
    drop(w);
    assert_eq!(later.join().unwrap(), 5);
    assert!(!lock.is_locked());
    let deadline = Instant::now() + Duration::from_millis(5);
    assert!(lock.write_deadline(deadline).is_some());
    assert!(lock.read_deadline(deadline).is_some());
}

#[test]
fn a_writer_that_gives_up_lets_the_readers_behind_it_in() {
    let rt = rt();
    let lock = Arc::new(RwLock::new(()));
    let r = lock.read();
    let writer = {
        let lock = lock.clone();
        std::thread::spawn(move || lock.write_timeout(Duration::from_millis(50)).is_none())
    };
    let t0 = Instant::now();
    while lock.try_read().is_some() {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(1));
    }
    // Readers queue behind the writer, and get in when it gives up, while `r` is held.
    let readers: Vec<_> = (0..3)
        .map(|i| {
            let lock = lock.clone();
            spawn_on(&rt, i != 0, move || drop(lock.read()))
        })
        .collect();
    assert!(writer.join().unwrap());
    readers.into_iter().for_each(join);
    drop(r);
}

#[test]
fn many_timeouts_racing_unlocks_leave_it_consistent() {
    let rt = rt();
    let lock = Arc::new(RwLock::new(0u64));
    let hs: Vec<_> = (0..24u64)
        .map(|i| {
            let lock = lock.clone();
            spawn_on(&rt, i % 4 != 0, move || {
                let mut wrote = 0;
                for _ in 0..300 {
                    let timeout = Duration::from_micros(i % 7);
                    if i % 3 == 0 {
                        if let Some(mut g) = lock.write_timeout(timeout) {
                            *g += 1;
                            wrote += 1;
                        }
                    } else if let Some(g) = lock.read_timeout(timeout) {
                        std::hint::black_box(*g);
                    }
                }
                wrote
            })
        })
        .collect();
    let total: u64 = hs.into_iter().map(join).sum();
    assert_eq!(*lock.read(), total);
    assert!(!lock.is_locked());
    assert!(lock.try_write().is_some());
}

#[test]
fn into_inner_get_mut_debug_default() {
    let mut lock = RwLock::new(vec![1]);
    lock.write().push(2);
    lock.get_mut().push(3);
    assert_eq!(format!("{lock:?}"), "RwLock { data: [1, 2, 3] }");
    {
        let _w = lock.write();
        assert_eq!(format!("{lock:?}"), "RwLock { data: <locked> }");
    }
    assert_eq!(lock.into_inner(), [1, 2, 3]);
    assert_eq!(*RwLock::<u8>::default().read(), 0);
    static STATIC: RwLock<u32> = RwLock::new(1);
    *STATIC.write() += 1;
    assert_eq!(*STATIC.read(), 2);
}
