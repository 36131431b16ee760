//! Coroutine stacks: the [`Stack`] contract, guarded [`DefaultStack`]s, and the
//! [`StackPool`] that recycles them.

mod budget;
mod default;
mod header;
mod pool;
pub(crate) mod registry;
mod report;

pub(crate) use default::registry_if_any;
pub(crate) use report::write_overflow_report;

pub use budget::{StackPolicy, set_guarded_stack_budget};
pub use default::DefaultStack;
pub use pool::{PooledStack, StackPool, StackPoolConfig};

pub(crate) use header::StackHeader;

use core::num::NonZeroUsize;

/// Default stack size of a coroutine: 256 KiB of address space, of which only the pages
/// actually touched cost memory.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Memory a coroutine runs on.
///
/// # Safety
/// An implementation promises, for as long as the value lives and is not moved out of a
/// coroutine that runs on it:
/// - `[bottom(), top())` is readable and writable memory that nothing else uses;
/// - `top()` is 16-byte aligned and `bottom() < top()`;
/// - if `is_guarded()` returns true, the page(s) just below `bottom()` are inaccessible, so
///   that running past the bottom faults instead of corrupting other memory. If it returns
///   false, fibra uses the word at `bottom()` as a canary (it must read zero) and checks
///   it, and the saved stack pointer, on every switch;
/// - on Windows, `teb_allocation_base()` is the base of the reservation the stack lives in
///   (the TEB's `DeallocationStack`).
///
/// The values returned must not change while a coroutine uses the stack.
pub unsafe trait Stack {
    /// The highest address of the stack (exclusive); stacks grow down from here.
    fn top(&self) -> NonZeroUsize;
    /// The lowest usable address of the stack.
    fn bottom(&self) -> NonZeroUsize;
    /// Whether a guard page below `bottom()` catches overflows.
    fn is_guarded(&self) -> bool;
    /// Records the name shown if this stack overflows. The default ignores it.
    fn set_overflow_name(&self, name: &str) {
        let _ = name;
    }
    /// The base address of the whole reservation, as Windows' TEB `DeallocationStack` wants it.
    #[cfg(windows)]
    fn teb_allocation_base(&self) -> usize;
}
