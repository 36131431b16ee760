//! fibra's contenders. Each `pub fn` builds its state, times `iters` operations, and
//! tears the state down outside the timed region. The loops are `#[inline(never)]`
//! functions of their own so that `objdump -d` and callgrind can find them by name.

use fibra::{Coroutine, CoroutineResult, DEFAULT_STACK_SIZE, DefaultStack, Generator, Yielder};
use std::hint::black_box;
use std::time::{Duration, Instant};

type Looper = Coroutine<(), (), ()>;
type Echo = Coroutine<u64, u64, ()>;

fn looper() -> Looper {
    let mut co: Looper = Coroutine::new(|y: &Yielder<(), ()>, ()| {
        loop {
            y.suspend(());
        }
    });
    co.resume(()); // started: the timed loop sees only steady-state switches
    co
}

/// `iters` resume + suspend round trips.
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

/// `iters` round trips that carry a u64 each way.
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

fn counter() -> Generator<u64> {
    Generator::new(|y: &Yielder<(), u64>| {
        let mut i = 0u64;
        loop {
            y.suspend(i);
            i = i.wrapping_add(1);
        }
    })
}

/// `iters` items of an endless `Generator<u64>`, summed.
#[inline(never)]
pub fn generator_loop(g: &mut Generator<u64>, iters: u64) -> u64 {
    let mut acc = 0u64;
    for _ in 0..iters {
        acc = acc.wrapping_add(g.next().unwrap_or(0));
    }
    acc
}

pub fn generator(iters: u64) -> Duration {
    let mut g = counter();
    g.next(); // started
    let start = Instant::now();
    black_box(generator_loop(&mut g, iters));
    let elapsed = start.elapsed();
    drop(g);
    elapsed
}

/// `iters` times: `Coroutine::new` (a stack from the thread's pool), first resume (the
/// function returns at once), drop (the stack goes back to the pool).
#[inline(never)]
pub fn create_pooled_loop(iters: u64) {
    for _ in 0..iters {
        let mut co: Coroutine<(), (), u64> =
            Coroutine::new(|_: &Yielder<(), ()>, ()| black_box(7u64));
        black_box(co.resume(()));
        drop(co);
    }
}

pub fn create_pooled(iters: u64) -> Duration {
    // Steady state: the pool holds a warm stack before the clock starts.
    drop(Coroutine::<(), (), ()>::new(|_: &Yielder<(), ()>, ()| {}));
    let start = Instant::now();
    create_pooled_loop(iters);
    start.elapsed()
}

/// `iters` times: `Coroutine::with_stack` on one `DefaultStack`, first resume, and
/// `into_stack` to get the stack back for the next iteration.
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
    let stack = DefaultStack::new(DEFAULT_STACK_SIZE).expect("map a fibra stack");
    let start = Instant::now();
    let stack = create_reused_loop(stack, iters);
    let elapsed = start.elapsed();
    drop(stack);
    elapsed
}
