//! Failures that must end the process with a clear message, each run in a child process.

mod common;

use fibra::{Builder, Coroutine, Stack, Yielder};
use std::num::NonZeroUsize;

fn expect_abort_with(name: &str, needles: &[&str]) {
    let out = common::run_child(name);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "child should have died; stderr:\n{stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "missing {needle:?} in child stderr:\n{stderr}"
        );
    }
}

#[inline(never)]
#[allow(unconditional_recursion)] // deliberately: it overflows
fn recurse_forever(n: u64) -> u64 {
    let pad = std::hint::black_box([n; 32]);
    recurse_forever(pad[3] + 1) + pad[5]
}

#[test]
fn overflow_into_guard_page_is_reported_by_name() {
    const NAME: &str = "overflow_into_guard_page_is_reported_by_name";
    if common::is_child(NAME) {
        let mut co = Builder::new()
            .name("deep-diver")
            .stack_size(64 * 1024)
            .build(|_: &Yielder<(), ()>, ()| {
                recurse_forever(0);
            })
            .unwrap();
        assert!(co.stack().is_guarded());
        co.resume(());
        unreachable!();
    }
    expect_abort_with(
        NAME,
        &[
            "fibra: fiber 'deep-diver' overflowed its 64 KiB stack",
            "hint",
        ],
    );
}

#[test]
fn ordinary_segfault_still_reaches_the_default_action() {
    const NAME: &str = "ordinary_segfault_still_reaches_the_default_action";
    if common::is_child(NAME) {
        let _co = Builder::new().build(|_: &Yielder<(), ()>, ()| {}).unwrap(); // installs the handler
        // SAFETY: deliberately faulting: this child process exists to crash.
        unsafe { std::ptr::write_volatile(16 as *mut u64, 1) };
        unreachable!();
    }
    let out = common::run_child(NAME);
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("overflowed"));
}

/// A stack over a plain buffer, with room below `bottom()` that an overflow can scribble on
/// without hitting anything else, so the canary check gets to see it.
struct PaddedStack {
    buf: Vec<u128>,
}

// SAFETY: [bottom, top) is inside `buf`, which we own; top is 16-aligned; not guarded.
unsafe impl Stack for PaddedStack {
    fn top(&self) -> NonZeroUsize {
        NonZeroUsize::new(self.buf.as_ptr_range().end as usize).unwrap()
    }
    fn bottom(&self) -> NonZeroUsize {
        // Only the top 512 KiB is the stack; everything below is the scribble zone.
        NonZeroUsize::new(self.top().get() - 512 * 1024).unwrap()
    }
    fn is_guarded(&self) -> bool {
        false
    }
    #[cfg(windows)]
    fn teb_allocation_base(&self) -> usize {
        self.buf.as_ptr() as usize
    }
}

#[test]
fn unguarded_overflow_is_caught_by_the_canary() {
    const NAME: &str = "unguarded_overflow_is_caught_by_the_canary";
    if common::is_child(NAME) {
        let stack = PaddedStack {
            buf: vec![0u128; 1 << 18],
        }; // 4 MiB: 512 KiB stack + slack
        let mut co = Coroutine::with_stack(stack, |y: &Yielder<(), ()>, ()| {
            // 600 KiB of locals: past the 512 KiB stack, into the slack below it.
            let big = std::hint::black_box([0x5Au8; 600 * 1024]);
            std::hint::black_box(&big);
            y.suspend(());
        });
        co.resume(());
        unreachable!("the canary check should have aborted");
    }
    expect_abort_with(NAME, &["overflowed its", "canary"]);
}

#[test]
fn suspending_while_being_dropped_aborts() {
    const NAME: &str = "suspending_while_being_dropped_aborts";
    if common::is_child(NAME) {
        let mut co = Coroutine::new(|y: &Yielder<(), ()>, ()| {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| y.suspend(())));
            y.suspend(()); // swallowed the unwind and suspends again
        });
        co.resume(());
        drop(co);
        unreachable!();
    }
    expect_abort_with(NAME, &["suspended while its stack was being unwound"]);
}
