//! The Auto policy guards stacks while the budget allows and then falls back to canaries.
//! Its own test binary: the budget is process-wide.

mod common;

#[cfg(target_os = "linux")]
use fibra::StackPolicy;
use fibra::{Builder, Coroutine, CoroutineResult, DefaultStack, Yielder};

#[test]
fn auto_policy_goes_unguarded_past_the_budget() {
    fibra::set_guarded_stack_budget(10);
    // Stacks not from the pool, so that this thread's pool cannot hide new mappings.
    let stacks: Vec<DefaultStack> = (0..30)
        .map(|_| DefaultStack::new(16 * 1024).unwrap())
        .collect();
    let guarded = stacks
        .iter()
        .filter(|s| fibra::Stack::is_guarded(*s))
        .count();
    assert!(guarded <= 10, "{guarded} guarded");
    assert!(stacks.len() - guarded >= 20);
    // Unguarded stacks run coroutines as well (their canary is checked on each switch).
    let mut cos: Vec<_> = stacks
        .into_iter()
        .map(|s| Coroutine::with_stack(s, |y: &Yielder<u32, u32>, x: u32| y.suspend(x) + 1))
        .collect();
    for (i, co) in cos.iter_mut().enumerate() {
        assert_eq!(co.resume(i as u32), CoroutineResult::Yield(i as u32));
        assert_eq!(co.resume(i as u32), CoroutineResult::Return(i as u32 + 1));
    }
}

/// More live coroutines than the kernel's default `vm.max_map_count` allows guarded
/// stacks for (65 530 mappings = 32 765 guarded stacks). Run in a child so the budget set
/// by the other test does not apply.
///
/// Windows has no mapping limit, so there Auto guards every stack; and under wine the
/// host's limit applies to wine's own mappings (about three per guarded stack), so the
/// Windows run holds 10 000.
#[test]
fn many_live_coroutines_under_auto() {
    const NAME: &str = "many_live_coroutines_under_auto";
    if !common::run_body_in_child(NAME) {
        return;
    }
    let n = if cfg!(windows) { 10_000 } else { 40_000 };
    let mut live: Vec<Coroutine<(), u32, ()>> = (0..n)
        .map(|i| {
            let mut co = Builder::new()
                .stack_size(16 * 1024)
                .build(move |y: &Yielder<(), u32>, ()| y.suspend(i))
                .unwrap_or_else(|e| panic!("coroutine {i}: {e}"));
            assert_eq!(co.resume(()), CoroutineResult::Yield(i));
            co
        })
        .collect();
    let guarded = live
        .iter()
        .filter(|c| fibra::Stack::is_guarded(c.stack()))
        .count();
    eprintln!("{guarded} of {n} stacks guarded");
    if cfg!(windows) {
        assert_eq!(guarded, n as usize);
    } else {
        assert!(guarded > 1000 && guarded < n as usize);
    }
    for co in &mut live {
        assert_eq!(co.resume(()), CoroutineResult::Return(()));
    }
}

/// With StackPolicy::Guarded the kernel's limit is a hard error that says what to do.
#[cfg(target_os = "linux")]
#[test]
fn guarded_policy_past_the_kernel_limit_explains_itself() {
    const NAME: &str = "guarded_policy_past_the_kernel_limit_explains_itself";
    if !common::run_body_in_child(NAME) {
        return;
    }
    // On Linux 6.13+ a guard page is a guard region in the page tables (no mapping of its
    // own, and neighbouring stacks merge into one mapping), so there is no limit to run
    // into: then more guarded stacks than the limit allows mappings must simply work.
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65_530);
    let mut held = Vec::new();
    let err = loop {
        match DefaultStack::with_policy(16 * 1024, StackPolicy::Guarded) {
            Ok(s) => held.push(s),
            Err(e) => break e,
        }
        if held.len() > limit {
            let maps = std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count());
            assert!(
                maps < limit,
                "{} guarded stacks but {maps} mappings: guards cost mappings, yet none failed",
                held.len()
            );
            return;
        }
    };
    let msg = err.to_string();
    drop(held);
    assert!(msg.contains("vm.max_map_count"), "{msg}");
    assert!(msg.contains("sysctl"), "{msg}");
}
