//! Stacks are reused from the pool and idle memory above the watermark is given back.

use fibra::{
    Builder, Coroutine, DefaultStack, PooledStack, Stack, StackPolicy, StackPool, StackPoolConfig,
    Yielder,
};

#[test]
fn coroutines_reuse_pooled_stacks() {
    let co = Builder::new()
        .stack_size(128 * 1024)
        .build(|_: &Yielder<(), ()>, ()| {})
        .unwrap();
    let bottom = co.stack().bottom();
    drop(co);
    // The same thread gets the same stack back: no new mapping.
    for _ in 0..1000 {
        let mut co = Builder::new()
            .stack_size(128 * 1024)
            .build(|_: &Yielder<(), u8>, ()| 1u8)
            .unwrap();
        assert_eq!(co.stack().bottom(), bottom);
        co.resume(());
    }
}

#[test]
fn stacks_above_the_watermark_give_memory_back() {
    let config = StackPoolConfig {
        resident_idle_bytes: 64 * 1024,
        ..StackPoolConfig::DEFAULT
    };
    let mut pool = StackPool::new(config);
    let stacks: Vec<DefaultStack> = (0..4).map(|_| pool.take(64 * 1024).unwrap()).collect();
    for s in &stacks {
        // Dirty the top page.
        // SAFETY: the byte just below top is inside the stack, which we own.
        unsafe { ((s.top().get() - 1) as *mut u8).write(0xAB) };
    }
    for s in stacks {
        pool.give(s);
    }
    assert_eq!(pool.idle(), 4);
    assert_eq!(
        pool.resident_idle_bytes(),
        64 * 1024,
        "one 64 KiB stack stays hot"
    );
    // Hot stacks come back first, still dirty; then the discarded ones, zeroed.
    let hot = pool.take(64 * 1024).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { ((hot.top().get() - 1) as *const u8).read() }, 0xAB);
    let cold = pool.take(64 * 1024).unwrap();
    // SAFETY: as above.
    let byte = unsafe { ((cold.top().get() - 1) as *const u8).read() };
    assert_eq!(byte, 0, "discarded pages read as zero");
}

#[test]
fn trim_resident_gives_back_the_oldest_idle_stacks() {
    let config = StackPoolConfig {
        resident_idle_bytes: usize::MAX,
        ..StackPoolConfig::DEFAULT
    };
    let mut pool = StackPool::new(config);
    let stacks: Vec<DefaultStack> = (0..4).map(|_| pool.take(64 * 1024).unwrap()).collect();
    let newest = stacks[3].bottom();
    for s in &stacks {
        // SAFETY: the byte just below top is inside the stack, which we own.
        unsafe { ((s.top().get() - 1) as *mut u8).write(0xCD) };
    }
    stacks.into_iter().for_each(|s| pool.give(s));
    assert_eq!(
        pool.resident_idle_bytes(),
        4 * 64 * 1024,
        "all kept while busy"
    );
    pool.trim_resident(64 * 1024);
    assert_eq!(pool.resident_idle_bytes(), 64 * 1024);
    assert_eq!(pool.idle(), 4, "trimmed stacks stay pooled");
    pool.trim_resident(64 * 1024); // nothing more to do
    assert_eq!(pool.resident_idle_bytes(), 64 * 1024);
    // The most recently given stack stayed hot and dirty; the others read as zero.
    let hot = pool.take(64 * 1024).unwrap();
    assert_eq!(hot.bottom(), newest);
    // SAFETY: as above.
    assert_eq!(unsafe { ((hot.top().get() - 1) as *const u8).read() }, 0xCD);
    let cold = pool.take(64 * 1024).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { ((cold.top().get() - 1) as *const u8).read() }, 0);
}

#[test]
fn pool_keeps_at_most_max_idle() {
    let config = StackPoolConfig {
        max_idle_per_class: 3,
        ..StackPoolConfig::DEFAULT
    };
    let mut pool = StackPool::new(config);
    let stacks: Vec<_> = (0..10).map(|_| pool.take(16 * 1024).unwrap()).collect();
    stacks.into_iter().for_each(|s| pool.give(s));
    assert_eq!(pool.idle(), 3);
    pool.clear();
    assert_eq!(pool.idle(), 0);
}

#[test]
fn pooled_stack_is_a_stack() {
    let s = PooledStack::new(32 * 1024).unwrap();
    assert!(s.top().get() - s.bottom().get() >= 32 * 1024 - 64);
    assert_eq!(s.top().get() % 16, 0);
}

#[test]
fn explicit_policies() {
    let g = DefaultStack::with_policy(16 * 1024, StackPolicy::Guarded).unwrap();
    assert!(g.is_guarded());
    let u = DefaultStack::with_policy(16 * 1024, StackPolicy::Unguarded).unwrap();
    assert!(!u.is_guarded());
    let mut co = Coroutine::with_stack(u, |y: &Yielder<u32, u32>, x: u32| y.suspend(x + 1) * 2);
    assert_eq!(co.resume(1).into_yield(), Some(2));
    assert_eq!(co.resume(5).into_return(), Some(10));
}

#[test]
fn impossible_stack_explains_itself() {
    let err = DefaultStack::new(usize::MAX / 4).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("fibra: could not map a"), "{msg}");
    assert!(msg.contains("Live fibra stacks"), "{msg}");
}
