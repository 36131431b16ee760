//! `fibra::sync::OnceCell` from fibers, from threads, and mixed; panicking and re-entrant
//! initialisers.

use fibra::Runtime;
use fibra::sync::OnceCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn racing_fibers_and_threads_run_the_initialiser_once() {
    let rt = rt();
    for _ in 0..10 {
        let cell = Arc::new(OnceCell::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let init = {
            let runs = runs.clone();
            move || {
                runs.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                42u64
            }
        };
        let fibers: Vec<_> = (0..64)
            .map(|_| {
                let (cell, init) = (cell.clone(), init.clone());
                rt.spawn(move || *cell.get_or_init(init))
            })
            .collect();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (cell, init) = (cell.clone(), init.clone());
                std::thread::spawn(move || *cell.get_or_init(init))
            })
            .collect();
        for h in fibers {
            assert_eq!(h.join().unwrap(), 42);
        }
        for h in threads {
            assert_eq!(h.join().unwrap(), 42);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(cell.get(), Some(&42));
    }
}

#[test]
fn a_slow_initialiser_does_not_block_its_worker() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let cell = Arc::new(OnceCell::new());
    let init_done = Arc::new(AtomicBool::new(false));
    let initialiser = {
        let (cell, init_done) = (cell.clone(), init_done.clone());
        rt.spawn(move || {
            *cell.get_or_init(|| {
                fibra::sleep(Duration::from_millis(50));
                init_done.store(true, Ordering::SeqCst);
                1
            })
        })
    };
    let waiter = {
        let cell = cell.clone();
        rt.spawn(move || *cell.get_or_init(|| 2))
    };
    // Runs on the only worker while the initialiser sleeps and the waiter waits.
    let other = {
        let init_done = init_done.clone();
        rt.spawn(move || init_done.load(Ordering::SeqCst))
    };
    assert!(
        !other.join().unwrap(),
        "the other fiber ran only after the init"
    );
    assert_eq!(initialiser.join().unwrap(), 1);
    assert_eq!(waiter.join().unwrap(), 1);
}

#[test]
fn a_panicking_initialiser_leaves_the_cell_empty_for_a_retry() {
    let rt = rt();
    let cell = Arc::new(OnceCell::<u32>::new());
    let c = cell.clone();
    let err = rt
        .spawn(move || *c.get_or_init(|| panic!("boom")))
        .join()
        .unwrap_err();
    assert_eq!(panic_message(err.into_panic()), "boom");
    assert!(cell.get().is_none());
    assert_eq!(*cell.get_or_init(|| 5), 5);

    // With waiters (a fiber and a thread) queued while the failing initialiser runs: one
    // of them initialises instead.
    let cell = Arc::new(OnceCell::<u32>::new());
    let started = Arc::new(AtomicBool::new(false));
    let failing = {
        let (cell, started) = (cell.clone(), started.clone());
        rt.spawn(move || {
            *cell.get_or_init(|| {
                started.store(true, Ordering::SeqCst);
                fibra::sleep(Duration::from_millis(30));
                panic!("first initialiser fails")
            })
        })
    };
    while !started.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    let fiber_waiter = {
        let cell = cell.clone();
        rt.spawn(move || *cell.get_or_init(|| 7))
    };
    let thread_waiter = {
        let cell = cell.clone();
        std::thread::spawn(move || *cell.get_or_init(|| 7))
    };
    assert!(failing.join().unwrap_err().is_panic());
    assert_eq!(fiber_waiter.join().unwrap(), 7);
    assert_eq!(thread_waiter.join().unwrap(), 7);
    assert_eq!(cell.get(), Some(&7));
}

#[test]
fn reentrant_initialisation_panics_instead_of_deadlocking() {
    let cell = OnceCell::new();
    let p = catch_unwind(AssertUnwindSafe(|| {
        *cell.get_or_init(|| *cell.get_or_init(|| 1) + 1)
    }))
    .unwrap_err();
    assert!(panic_message(p).starts_with("fibra: OnceCell initialised re-entrantly"));
    assert!(cell.get().is_none());
    assert_eq!(cell.set(3), Ok(()));

    let rt = rt();
    let cell = Arc::new(OnceCell::new());
    let c = cell.clone();
    let err = rt
        .spawn(move || *c.get_or_init(|| c.set(1).map_or(0, |()| 1)))
        .join()
        .unwrap_err();
    assert!(
        panic_message(err.into_panic()).starts_with("fibra: OnceCell initialised re-entrantly")
    );
    assert_eq!(*cell.get_or_init(|| 2), 2);
}

#[test]
fn set_get_take_and_conversions() {
    let mut cell = OnceCell::default();
    assert_eq!(format!("{cell:?}"), "OnceCell(<uninit>)");
    assert_eq!(cell.get(), None);
    assert_eq!(cell.get_mut(), None);
    assert_eq!(cell.set(vec![1]), Ok(()));
    assert_eq!(cell.set(vec![2]), Err(vec![2]));
    cell.get_mut().unwrap().push(3);
    assert_eq!(format!("{cell:?}"), "OnceCell([1, 3])");
    let copy = cell.clone();
    assert_eq!(cell.take(), Some(vec![1, 3]));
    assert_eq!(cell.get(), None);
    assert_eq!(copy.into_inner(), Some(vec![1, 3]));
    let from = OnceCell::from(String::from("x"));
    assert_eq!(from.get().map(String::as_str), Some("x"));
    assert_eq!(OnceCell::<u8>::new().into_inner(), None);
}

#[test]
fn the_value_is_dropped_once() {
    let value = Arc::new(());
    {
        let cell = OnceCell::new();
        let _ = cell.set(value.clone());
        assert_eq!(Arc::strong_count(&value), 2);
        assert!(cell.set(value.clone()).is_err());
        assert_eq!(Arc::strong_count(&value), 2);
    }
    assert_eq!(Arc::strong_count(&value), 1);
}

#[test]
fn send_and_sync_like_std_once_lock() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<OnceCell<String>>();
    send_sync::<fibra::sync::Event>();
    send_sync::<fibra::sync::WaitGroup>();
    send_sync::<fibra::sync::Barrier>();
}

static GLOBAL: OnceCell<usize> = OnceCell::new();

#[test]
fn usable_as_a_static() {
    let rt = rt();
    let hs: Vec<_> = (0..8)
        .map(|i| rt.spawn(move || *GLOBAL.get_or_init(|| 100 + i)))
        .collect();
    let first = *GLOBAL.get_or_init(|| 0);
    for h in hs {
        assert_eq!(h.join().unwrap(), first);
    }
}
