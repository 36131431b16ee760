//! Per-ABI context switching. `build.rs` picks the ABI and sets `cfg(fibra_abi)`; each
//! backend exposes the same small surface:
//!
//! - `init_stack(stack, top, entry, data) -> StackPointer`: lay out a fresh stack so that
//!   the first `resume` calls `entry(input, data)` on it.
//! - `resume(value, sp, top) -> (value, Option<StackPointer>)`: parent to coroutine;
//!   returns what the coroutine handed back and its new stack pointer, or `None` once it
//!   has finished.
//! - `suspend(value, top) -> value`: coroutine to parent; returns the next input.
//! - `finish(value, top) -> !`: the coroutine's last switch.
//!
//! `value` is a pointer-sized word: fibra passes pointers to values that live on the
//! sender's stack, or 0 to ask a suspended coroutine to unwind.

use core::num::NonZeroUsize;

/// A saved stack pointer of a suspended coroutine.
pub(crate) type StackPointer = NonZeroUsize;

/// The first Rust function that runs on a new stack. It must never return and never
/// unwind: it finishes with `finish`.
pub(crate) type EntryFn = unsafe extern "C" fn(input: usize, data: *mut u8) -> !;

cfg_if::cfg_if! {
    if #[cfg(fibra_abi = "x86_64_sysv")] {
        mod x86_64_sysv;
        pub(crate) use x86_64_sysv::{finish, init_stack, resume, suspend};
    } else if #[cfg(fibra_abi = "x86_64_windows")] {
        mod x86_64_windows;
        pub(crate) use x86_64_windows::{finish, init_stack, resume, suspend};
    } else if #[cfg(fibra_abi = "aarch64_aapcs")] {
        mod aarch64_aapcs;
        pub(crate) use aarch64_aapcs::{finish, init_stack, resume, suspend};
    } else {
        compile_error!(
            "fibra has no context switcher for this target. Supported: x86_64 (System V: \
             Linux, macOS, BSDs; Microsoft x64: Windows with the -gnu toolchain, since \
             MSVC cannot assemble the GNU-syntax asm/x86_64_windows.S) and aarch64 (AAPCS64: \
             Linux, macOS, BSDs). Porting means adding asm/<abi>.S and src/arch/<abi>.rs; see \
             src/arch/mod.rs."
        );
    }
}
