//! Behaviour of coroutines: values in and out, nesting, panics, drop-unwind.

use fibra::{Builder, Coroutine, CoroutineResult, Yielder};
use std::cell::RefCell;
use std::rc::Rc;

#[test]
fn values_flow_both_ways() {
    let mut co = Coroutine::new(|y: &Yielder<String, usize>, first: String| -> Vec<String> {
        let mut seen = vec![first];
        for _ in 0..3 {
            let len = seen.last().unwrap().len();
            seen.push(y.suspend(len));
        }
        seen
    });
    assert_eq!(co.resume("a".into()), CoroutineResult::Yield(1));
    assert_eq!(co.resume("bb".into()), CoroutineResult::Yield(2));
    assert_eq!(co.resume("ccc".into()), CoroutineResult::Yield(3));
    assert!(!co.done());
    assert_eq!(
        co.resume("dddd".into()),
        CoroutineResult::Return(vec!["a".into(), "bb".into(), "ccc".into(), "dddd".into()])
    );
    assert!(co.done());
}

#[test]
fn large_values_cross_the_switch_intact() {
    let mut co = Coroutine::new(|y: &Yielder<[u64; 64], [u64; 64]>, mut a: [u64; 64]| {
        for _ in 0..10 {
            a.iter_mut().for_each(|x| *x += 1);
            a = y.suspend(a);
        }
        a
    });
    let mut v = [7u64; 64];
    for _ in 0..10 {
        v = co.resume(v).into_yield().unwrap();
        assert!(v.iter().all(|&x| x == v[0]));
    }
    assert_eq!(co.resume(v).into_return().unwrap()[63], 17);
}

#[test]
fn many_round_trips() {
    let mut co = Coroutine::new(|y: &Yielder<u64, u64>, mut n: u64| {
        loop {
            n = y.suspend(n * 2);
        }
    });
    for i in 0..100_000u64 {
        assert_eq!(co.resume(i), CoroutineResult::Yield(i * 2));
    }
}

#[test]
fn coroutines_nest() {
    // An outer coroutine drives an inner one and forwards its values.
    let mut outer = Coroutine::new(|y: &Yielder<(), u32>, ()| {
        let mut inner = Coroutine::new(|yi: &Yielder<(), u32>, ()| {
            for i in 0..3 {
                yi.suspend(i);
            }
            100
        });
        loop {
            match inner.resume(()) {
                CoroutineResult::Yield(v) => y.suspend(v + 10),
                CoroutineResult::Return(r) => return r,
            }
        }
    });
    let mut got = vec![];
    loop {
        match outer.resume(()) {
            CoroutineResult::Yield(v) => got.push(v),
            CoroutineResult::Return(r) => {
                got.push(r);
                break;
            }
        }
    }
    assert_eq!(got, [10, 11, 12, 100]);
}

#[test]
fn deeply_nested_chain() {
    fn chain(depth: u32) -> u32 {
        if depth == 0 {
            return 0;
        }
        let mut co = Coroutine::new(move |y: &Yielder<(), ()>, ()| {
            y.suspend(());
            chain(depth - 1) + 1
        });
        co.resume(());
        co.resume(()).into_return().unwrap()
    }
    assert_eq!(chain(200), 200);
}

#[test]
fn panic_reaches_the_resumer_with_its_payload() {
    let mut co = Coroutine::new(|y: &Yielder<(), ()>, ()| {
        y.suspend(());
        std::panic::panic_any(42u32);
    });
    co.resume(());
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    assert_eq!(err.downcast_ref::<u32>(), Some(&42));
    assert!(co.done());
}

#[test]
fn panic_message_is_kept() {
    let n = std::hint::black_box(7);
    let mut co: Coroutine<(), (), ()> =
        Coroutine::new(move |_: &Yielder<(), ()>, ()| panic!("boom {n}"));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().map(String::as_str),
        Some("boom 7")
    );
}

#[test]
#[should_panic(expected = "already finished")]
fn resume_after_completion_panics() {
    let mut co = Coroutine::new(|_: &Yielder<(), ()>, ()| 1);
    co.resume(());
    co.resume(());
}

/// Records its own drop.
struct Witness(Rc<RefCell<Vec<&'static str>>>, &'static str);
impl Drop for Witness {
    fn drop(&mut self) {
        self.0.borrow_mut().push(self.1);
    }
}

#[test]
fn dropping_a_suspended_coroutine_runs_destructors_on_its_stack() {
    let log = Rc::new(RefCell::new(vec![]));
    let l = log.clone();
    let mut co = Coroutine::new(move |y: &Yielder<(), ()>, ()| {
        let _a = Witness(l.clone(), "a");
        let _b = Witness(l.clone(), "b");
        y.suspend(());
        unreachable!("never resumed");
    });
    co.resume(());
    assert!(log.borrow().is_empty());
    drop(co);
    assert_eq!(*log.borrow(), ["b", "a"]);
}

#[test]
fn dropping_an_unstarted_coroutine_drops_its_closure() {
    let log = Rc::new(RefCell::new(vec![]));
    let w = Witness(log.clone(), "closure");
    let co = Coroutine::new(move |_: &Yielder<(), ()>, ()| drop(w));
    drop(co);
    assert_eq!(*log.borrow(), ["closure"]);
}

#[test]
fn dropping_a_nested_suspended_coroutine_unwinds_both() {
    let log = Rc::new(RefCell::new(vec![]));
    let l = log.clone();
    let mut outer = Coroutine::new(move |y: &Yielder<(), ()>, ()| {
        let _o = Witness(l.clone(), "outer");
        let l2 = l.clone();
        let mut inner = Coroutine::new(move |yi: &Yielder<(), ()>, ()| {
            let _i = Witness(l2, "inner");
            yi.suspend(());
        });
        inner.resume(());
        y.suspend(());
        drop(inner);
    });
    outer.resume(());
    drop(outer);
    // The outer stack unwinds; dropping `inner` on the way unwinds the inner stack.
    assert_eq!(*log.borrow(), ["inner", "outer"]);
}

#[test]
fn into_stack_returns_the_stack_for_reuse() {
    let co = Builder::new()
        .stack_size(64 * 1024)
        .build(|y: &Yielder<(), ()>, ()| y.suspend(()))
        .unwrap();
    let stack = co.into_stack();
    let mut again = Coroutine::with_stack(stack, |_: &Yielder<u8, ()>, x: u8| x + 1);
    assert_eq!(again.resume(1), CoroutineResult::Return(2));
}

#[test]
fn builder_sets_name_and_stack_size() {
    let co = Builder::new()
        .name("worker-7")
        .stack_size(1 << 20)
        .build(|_: &Yielder<(), ()>, ()| {})
        .unwrap();
    assert_eq!(co.name(), Some("worker-7"));
    use fibra::Stack;
    let s = co.stack();
    assert!(s.top().get() - s.bottom().get() >= (1 << 20) - 64);
}

#[test]
fn closure_too_big_for_stack_is_an_error() {
    let big = [0u8; 64 * 1024];
    let err = Builder::new()
        .stack_size(16 * 1024)
        .build(move |_: &Yielder<(), ()>, ()| big.len())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("does not fit"), "{err}");
}

#[test]
fn deep_recursion_with_on_stack() {
    #[inline(never)]
    fn depth(n: u64) -> u64 {
        let pad = std::hint::black_box([n; 8]);
        if n == 0 {
            0
        } else {
            1 + depth(std::hint::black_box(pad[0] - 1))
        }
    }
    // Far deeper than the 2 MiB a test thread gets.
    assert_eq!(fibra::on_stack(256 << 20, || depth(1_000_000)), 1_000_000);
}

#[test]
fn on_stack_borrows_and_propagates_panics() {
    let mut v = vec![1, 2, 3];
    fibra::on_stack(64 * 1024, || v.push(4));
    assert_eq!(v, [1, 2, 3, 4]);
    let r = std::panic::catch_unwind(|| fibra::on_stack(64 * 1024, || panic!("inside")));
    assert!(r.is_err());
}

#[test]
fn panicking_coroutine_leaves_thread_usable() {
    for _ in 0..100 {
        let mut co: Coroutine<(), (), ()> = Coroutine::new(|_: &Yielder<(), ()>, ()| panic!("x"));
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| co.resume(())));
    }
    let mut co = Coroutine::new(|_: &Yielder<(), ()>, ()| 5);
    assert_eq!(co.resume(()), CoroutineResult::Return(5));
}
