//! How many guard pages the process can afford.
//!
//! Every guarded stack is two kernel memory mappings (the guard and the stack) where the
//! guard is an `mprotect`ed page (one on Linux 6.13+, whose guard regions live in the page
//! tables; the budget still counts two, to hold on every kernel), and Linux
//! caps a process at `vm.max_map_count` mappings (65 530 by default). Past the cap mmap and
//! mprotect fail with ENOMEM, so a library that guards every stack dies at about 30 000
//! live coroutines. Under [`StackPolicy::Auto`] fibra guards stacks while a budget allows
//! and then hands out unguarded stacks protected by a canary.

use crate::sys;
use core::sync::atomic::{AtomicUsize, Ordering};

/// How fibra protects the stacks it maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StackPolicy {
    /// Always put a guard page below the stack; fail when the kernel refuses.
    Guarded,
    /// Guard stacks while the process's mapping budget allows, then switch to unguarded
    /// stacks whose overflow is caught by a canary checked on every switch.
    #[default]
    Auto,
    /// Never guard; rely on the canary. Cheapest in mappings, weakest protection.
    Unguarded,
}

/// Live guarded stacks mapped by fibra, all threads.
static GUARDED_LIVE: AtomicUsize = AtomicUsize::new(0);
/// Live unguarded stacks mapped by fibra, for error messages.
static UNGUARDED_LIVE: AtomicUsize = AtomicUsize::new(0);
/// 0 means "not set": derive it from the kernel's mapping limit.
static BUDGET_OVERRIDE: AtomicUsize = AtomicUsize::new(0);

/// Sets how many guarded stacks [`StackPolicy::Auto`] may keep alive at once (the default
/// is a third of `vm.max_map_count`, leaving the rest to the program). Stacks already
/// mapped are not affected. Useful after raising `vm.max_map_count`.
pub fn set_guarded_stack_budget(stacks: usize) {
    BUDGET_OVERRIDE.store(stacks.max(1), Ordering::Relaxed);
}

/// The guarded-stack budget in force.
pub(crate) fn guarded_budget() -> usize {
    match BUDGET_OVERRIDE.load(Ordering::Relaxed) {
        0 => sys::map_count_limit().map_or(usize::MAX / 4, |limit| limit / 3),
        n => n,
    }
}

/// Reserves a guarded slot if the policy and budget allow it.
pub(crate) fn try_take_guarded(policy: StackPolicy) -> bool {
    match policy {
        StackPolicy::Unguarded => false,
        StackPolicy::Guarded => {
            GUARDED_LIVE.fetch_add(1, Ordering::Relaxed);
            true
        }
        StackPolicy::Auto => {
            let budget = guarded_budget();
            GUARDED_LIVE
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < budget).then_some(n + 1)
                })
                .is_ok()
        }
    }
}

/// Accounts for a stack being mapped (`guarded` slots were taken by `try_take_guarded`).
pub(crate) fn note_unguarded_mapped() {
    UNGUARDED_LIVE.fetch_add(1, Ordering::Relaxed);
}

/// Accounts for a stack being unmapped.
pub(crate) fn release(guarded: bool) {
    if guarded {
        GUARDED_LIVE.fetch_sub(1, Ordering::Relaxed);
    } else {
        UNGUARDED_LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Live (guarded, unguarded) stacks, for error messages.
pub(crate) fn live() -> (usize, usize) {
    (
        GUARDED_LIVE.load(Ordering::Relaxed),
        UNGUARDED_LIVE.load(Ordering::Relaxed),
    )
}
