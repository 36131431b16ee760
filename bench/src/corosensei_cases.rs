//! corosensei's contenders, the same operations as in `fibra_cases`.

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use std::hint::black_box;
use std::time::{Duration, Instant};

type Looper = Coroutine<(), (), ()>;
type Echo = Coroutine<u64, u64, ()>;

/// Stack size for the reused-stack case: fibra's default, so both map the same.
const REUSED_STACK_SIZE: usize = fibra::DEFAULT_STACK_SIZE;

fn looper() -> Looper {
    let mut co: Looper = Coroutine::new(|y: &Yielder<(), ()>, ()| {
        loop {
            y.suspend(());
        }
    });
    co.resume(());
    co
}

#[inline(never)]
pub fn round_trip_loop(co: &mut Looper, iters: u64) {
    for _ in 0..iters {
        black_box(co.resume(()));
    }
}

pub fn round_trip(iters: u64) -> Duration {
    let mut co = looper();
    let start = Instant::now();
    round_trip_loop(&mut co, iters);
    let elapsed = start.elapsed();
    drop(co);
    elapsed
}

fn echo() -> Echo {
    let mut co: Echo = Coroutine::new(|y: &Yielder<u64, u64>, mut v: u64| {
        loop {
            v = y.suspend(v.wrapping_add(1));
        }
    });
    co.resume(0);
    co
}

#[inline(never)]
pub fn round_trip_u64_loop(co: &mut Echo, iters: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..iters {
        match co.resume(black_box(i)) {
            CoroutineResult::Yield(v) => acc = acc.wrapping_add(v),
            CoroutineResult::Return(()) => unreachable!(),
        }
    }
    acc
}

pub fn round_trip_u64(iters: u64) -> Duration {
    let mut co = echo();
    let start = Instant::now();
    black_box(round_trip_u64_loop(&mut co, iters));
    let elapsed = start.elapsed();
    drop(co);
    elapsed
}

fn counter() -> Coroutine<(), u64, ()> {
    let mut co = Coroutine::new(|y: &Yielder<(), u64>, ()| {
        let mut i = 0u64;
        loop {
            y.suspend(i);
            i = i.wrapping_add(1);
        }
    });
    co.resume(());
    co
}

/// corosensei has no generator type: a coroutine yielding u64, driven like an iterator
/// (`done()` check, `resume(())`, `as_yield()`), which is what `fibra::Generator` does.
#[inline(never)]
pub fn generator_loop(co: &mut Coroutine<(), u64, ()>, iters: u64) -> u64 {
    let mut acc = 0u64;
    for _ in 0..iters {
        let item = if co.done() {
            None
        } else {
            co.resume(()).as_yield()
        };
        acc = acc.wrapping_add(item.unwrap_or(0));
    }
    acc
}

pub fn generator(iters: u64) -> Duration {
    let mut co = counter();
    let start = Instant::now();
    black_box(generator_loop(&mut co, iters));
    let elapsed = start.elapsed();
    drop(co);
    elapsed
}

/// `Coroutine::new`: corosensei maps a fresh 1 MiB stack (plus guard page) every time
/// and unmaps it on drop.
#[inline(never)]
pub fn create_new_loop(iters: u64) {
    for _ in 0..iters {
        let mut co: Coroutine<(), (), u64> =
            Coroutine::new(|_: &Yielder<(), ()>, ()| black_box(7u64));
        black_box(co.resume(()));
        drop(co);
    }
}

pub fn create_new(iters: u64) -> Duration {
    let start = Instant::now();
    create_new_loop(iters);
    start.elapsed()
}

/// One `DefaultStack` reused through `Coroutine::with_stack` + `into_stack`.
#[inline(never)]
pub fn create_reused_loop(mut stack: DefaultStack, iters: u64) -> DefaultStack {
    for _ in 0..iters {
        let mut co: Coroutine<(), (), u64, DefaultStack> =
            Coroutine::with_stack(stack, |_: &Yielder<(), ()>, ()| black_box(7u64));
        black_box(co.resume(()));
        stack = co.into_stack();
    }
    stack
}

pub fn create_reused(iters: u64) -> Duration {
    let stack = DefaultStack::new(REUSED_STACK_SIZE).expect("map a corosensei stack");
    let start = Instant::now();
    let stack = create_reused_loop(stack, iters);
    let elapsed = start.elapsed();
    drop(stack);
    elapsed
}
