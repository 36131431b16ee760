//! Criterion benchmarks of fibra's hot paths.
//!
//! Run with `cargo bench --bench switch`. Every coroutine that a benchmark reuses is
//! created outside the timed closure; only the operation named by the benchmark is timed.
//!
//! - `switch/round_trip`: one `resume` + one `suspend` of a coroutine that loops on
//!   `y.suspend(())` forever; `switch/round_trip_u64` carries a u64 each way.
//! - `create/pooled_resume_drop`: `Coroutine::new` (default pooled stack) + the first
//!   `resume` (the function returns at once) + drop, in steady state (the pool is warm);
//!   `create/pooled_drop_unstarted` drops it without ever running it.
//! - `generator/u64_per_item`: one `next()` of an endless `Generator<u64>` that counts up;
//!   `generator/u64_sum_1000` consumes a 1000-item generator (created in untimed setup).
//!
//! For side-by-side numbers against other coroutine libraries see `bench/` (its README).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fibra::{Coroutine, CoroutineResult, Generator, Yielder};
use std::hint::black_box;

fn switch(c: &mut Criterion) {
    let mut group = c.benchmark_group("switch");
    group.throughput(Throughput::Elements(1));
    // Created outside the timed loop (criterion's warm-up makes the first resume, which
    // starts it): only steady-state switches are measured.
    let mut co: Coroutine<(), (), ()> = Coroutine::new(|y: &Yielder<(), ()>, ()| {
        loop {
            y.suspend(());
        }
    });
    group.bench_function("round_trip", |b| {
        b.iter(|| black_box(co.resume(())));
    });
    // Same, with a word crossing each way: catches regressions in the value hand-off.
    let mut echo: Coroutine<u64, u64, ()> = Coroutine::new(|y: &Yielder<u64, u64>, mut v: u64| {
        loop {
            v = y.suspend(v.wrapping_add(1));
        }
    });
    group.bench_function("round_trip_u64", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            match echo.resume(black_box(i)) {
                CoroutineResult::Yield(v) => black_box(v),
                CoroutineResult::Return(()) => unreachable!(),
            }
        });
    });
    group.finish();
    drop(co);
    drop(echo);
}

fn create(c: &mut Criterion) {
    let mut group = c.benchmark_group("create");
    group.throughput(Throughput::Elements(1));
    // Warm the thread's stack pool so that the loop measures the steady state, not mmap.
    drop(Coroutine::<(), (), ()>::new(|_: &Yielder<(), ()>, ()| {}));
    group.bench_function("pooled_resume_drop", |b| {
        b.iter(|| {
            let mut co: Coroutine<(), (), u64> =
                Coroutine::new(|_: &Yielder<(), ()>, ()| black_box(7u64));
            let r = co.resume(());
            black_box(r);
            drop(co);
        });
    });
    // Create + drop without ever running: the closure is dropped on the coroutine stack.
    group.bench_function("pooled_drop_unstarted", |b| {
        b.iter(|| {
            let co: Coroutine<(), (), ()> = Coroutine::new(|_: &Yielder<(), ()>, ()| {});
            drop(black_box(co));
        });
    });
    group.finish();
}

fn generator(c: &mut Criterion) {
    let mut group = c.benchmark_group("generator");
    group.throughput(Throughput::Elements(1));
    group.bench_function("u64_per_item", |b| {
        // An endless generator, created outside the timed loop: each iteration is one item.
        let mut counter = Generator::new(|y: &Yielder<(), u64>| {
            let mut i = 0u64;
            loop {
                y.suspend(i);
                i = i.wrapping_add(1);
            }
        });
        // black_box the u64, not the Option<u64>: LLVM materialises a 16-byte Option for
        // black_box with two 8-byte stores and reloads it with one 16-byte load, a failed
        // store-to-load forward that alone costs more than the switch (~8 ns vs ~2.5 ns).
        b.iter(|| black_box(counter.next().unwrap()));
    });
    // A bounded generator consumed whole, with creation in the untimed setup: per-batch
    // cost of 1000 items (divide by 1000 for per-item).
    group.throughput(Throughput::Elements(1000));
    group.bench_function("u64_sum_1000", |b| {
        b.iter_batched(
            || Generator::new(|y: &Yielder<(), u64>| (0..1000u64).for_each(|i| y.suspend(i))),
            |g| black_box(g.sum::<u64>()),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, switch, create, generator);
criterion_main!(benches);
