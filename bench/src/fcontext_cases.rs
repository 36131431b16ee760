//! Boost.Context's fcontext through the `context` crate: `make_fcontext` lays out a stack,
//! `jump_fcontext` switches (an out-of-line call into Boost's assembly, which also saves
//! MXCSR and the x87 control word). There is no coroutine object, no unwinding and no
//! result passing beyond one word: this is the raw floor that a safe library builds on.

use context::stack::ProtectedFixedSizeStack;
use context::{Context, Transfer};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Same stack size as fibra's default.
const STACK_SIZE: usize = fibra::DEFAULT_STACK_SIZE;

/// Bounces every transfer straight back, forever.
extern "C" fn looper(mut t: Transfer) -> ! {
    loop {
        // SAFETY: t.context is the parent, suspended in jump_fcontext.
        t = unsafe { t.context.resume(t.data) };
    }
}

/// Returns `data + 1` for every transfer, forever.
extern "C" fn echo(mut t: Transfer) -> ! {
    loop {
        // SAFETY: as in `looper`.
        t = unsafe { t.context.resume(t.data.wrapping_add(1)) };
    }
}

/// Hands out 0, 1, 2, ... one per transfer, forever.
extern "C" fn counter(mut t: Transfer) -> ! {
    let mut i = 0usize;
    loop {
        // SAFETY: as in `looper`.
        t = unsafe { t.context.resume(i) };
        i = i.wrapping_add(1);
    }
}

/// "Returns at once": hands one word to the parent and is never resumed (the stack is
/// then freed or reused, which is how a finished fcontext ends).
extern "C" fn return_at_once(t: Transfer) -> ! {
    // SAFETY: as in `looper`.
    unsafe { t.context.resume(black_box(7)) };
    unreachable!("a finished fcontext was resumed")
}

/// Starts `f` on `stack` and returns the parked context.
fn start(stack: &ProtectedFixedSizeStack, f: extern "C" fn(Transfer) -> !) -> Context {
    // SAFETY: the stack outlives every use of the context in this module.
    unsafe { Context::new(stack, f).resume(0).context }
}

#[inline(never)]
pub fn round_trip_loop(mut ctx: Context, iters: u64) -> Context {
    for _ in 0..iters {
        // SAFETY: ctx is a context parked in jump_fcontext on a live stack.
        let t = unsafe { ctx.resume(black_box(0)) };
        ctx = t.context;
        black_box(t.data);
    }
    ctx
}

pub fn round_trip(iters: u64) -> Duration {
    let stack = ProtectedFixedSizeStack::new(STACK_SIZE).expect("map an fcontext stack");
    let ctx = start(&stack, looper);
    let start = Instant::now();
    let ctx = round_trip_loop(ctx, iters);
    let elapsed = start.elapsed();
    // Nothing on the looper's stack needs dropping: abandon the context, free the stack.
    let _ = ctx;
    drop(stack);
    elapsed
}

#[inline(never)]
pub fn round_trip_u64_loop(mut ctx: Context, iters: u64) -> (Context, u64) {
    let mut acc = 0u64;
    for i in 0..iters {
        // SAFETY: as in round_trip_loop.
        let t = unsafe { ctx.resume(black_box(i) as usize) };
        ctx = t.context;
        acc = acc.wrapping_add(t.data as u64);
    }
    (ctx, acc)
}

pub fn round_trip_u64(iters: u64) -> Duration {
    let stack = ProtectedFixedSizeStack::new(STACK_SIZE).expect("map an fcontext stack");
    let ctx = start(&stack, echo);
    let start = Instant::now();
    let (ctx, acc) = round_trip_u64_loop(ctx, iters);
    let elapsed = start.elapsed();
    black_box(acc);
    let _ = ctx;
    drop(stack);
    elapsed
}

#[inline(never)]
pub fn generator_loop(mut ctx: Context, iters: u64) -> (Context, u64) {
    let mut acc = 0u64;
    for _ in 0..iters {
        // SAFETY: as in round_trip_loop.
        let t = unsafe { ctx.resume(0) };
        ctx = t.context;
        acc = acc.wrapping_add(t.data as u64);
    }
    (ctx, acc)
}

pub fn generator(iters: u64) -> Duration {
    let stack = ProtectedFixedSizeStack::new(STACK_SIZE).expect("map an fcontext stack");
    // Started: the first item (0) is already out, as in the other contenders.
    let ctx = start(&stack, counter);
    let start = Instant::now();
    let (ctx, acc) = generator_loop(ctx, iters);
    let elapsed = start.elapsed();
    black_box(acc);
    let _ = ctx;
    drop(stack);
    elapsed
}

/// A fresh guarded stack (mmap + mprotect, munmap on drop) every iteration.
#[inline(never)]
pub fn create_protected_loop(iters: u64) {
    for _ in 0..iters {
        let stack = ProtectedFixedSizeStack::new(STACK_SIZE).expect("map an fcontext stack");
        // SAFETY: the stack outlives the context, which finishes before the drop below.
        let t = unsafe { Context::new(&stack, return_at_once).resume(0) };
        black_box(t.data);
        drop(stack);
    }
}

pub fn create_protected(iters: u64) -> Duration {
    let start = Instant::now();
    create_protected_loop(iters);
    start.elapsed()
}

/// One guarded stack, reused for every context.
#[inline(never)]
pub fn create_reused_loop(stack: &ProtectedFixedSizeStack, iters: u64) {
    for _ in 0..iters {
        // SAFETY: as in create_protected_loop; each context finishes before the next.
        let t = unsafe { Context::new(stack, return_at_once).resume(0) };
        black_box(t.data);
    }
}

pub fn create_reused(iters: u64) -> Duration {
    let stack = ProtectedFixedSizeStack::new(STACK_SIZE).expect("map an fcontext stack");
    let start = Instant::now();
    create_reused_loop(&stack, iters);
    let elapsed = start.elapsed();
    drop(stack);
    elapsed
}
