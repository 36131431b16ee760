//! aarch64 AAPCS64 switcher. The instructions live in `asm/aarch64_aapcs.S` (trampoline,
//! with its unwind info) and `asm/aarch64_aapcs/*.s` (the switch sequences, inlined here).

use super::{EntryFn, StackPointer};
use crate::stack::Stack;
use core::arch::asm;

unsafe extern "C" {
    /// The start trampoline in asm/aarch64_aapcs.S. Not callable: only branched to.
    fn fibra_start_aarch64_aapcs();
}

/// Lays out a new coroutine stack below `top` (see the diagram in asm/aarch64_aapcs.S).
///
/// # Safety
/// `top` must be 16-byte aligned, lie within `stack`, and have at least 48 writable bytes
/// below it that nothing else uses while the coroutine lives.
#[inline]
pub(crate) unsafe fn init_stack<S: Stack + ?Sized>(
    _stack: &S,
    top: usize,
    entry: EntryFn,
    data: *mut u8,
) -> StackPointer {
    debug_assert_eq!(top % 16, 0);
    let slot = |offset: usize| (top - offset) as *mut usize;
    // SAFETY: the caller guarantees the 48 bytes below `top` are ours and aligned.
    unsafe {
        slot(8).write(0);
        slot(16).write(0);
        slot(24).write(0);
        slot(32).write(fibra_start_aarch64_aapcs as *const () as usize);
        slot(40).write(data as usize);
        slot(48).write(entry as *const () as usize);
    }
    StackPointer::new(top - 48).expect("stack top is not null")
}

/// Switches from the parent into the coroutine.
///
/// # Safety
/// `sp` must be the coroutine's saved stack pointer (from `init_stack` or the last
/// `resume`), `top` its stack top, and the coroutine must not be running.
#[inline(always)]
pub(crate) unsafe fn resume(
    value: usize,
    sp: StackPointer,
    top: usize,
) -> (usize, Option<StackPointer>) {
    let out_value: usize;
    let out_sp: usize;
    // SAFETY: the caller guarantees sp/top describe a suspended coroutine. The asm saves
    // x19/x29 itself; everything else it may change (x20-x28 here, x0-x17, x30 and
    // v0-v31 through the ABI clobber) is declared clobbered.
    unsafe {
        asm!(
            include_str!("../../asm/aarch64_aapcs/resume.s"),
            inout("x0") value => out_value,
            inout("x1") sp.get() => out_sp,
            in("x2") top,
            lateout("x20") _, lateout("x21") _, lateout("x22") _, lateout("x23") _,
            lateout("x24") _, lateout("x25") _, lateout("x26") _, lateout("x27") _,
            lateout("x28") _,
            clobber_abi("C"),
        );
    }
    (out_value, StackPointer::new(out_sp))
}

/// Switches from a running coroutine back to its parent; returns the next input.
///
/// # Safety
/// Must be called on the coroutine's own stack, `top` being that stack's top.
#[inline(always)]
pub(crate) unsafe fn suspend(value: usize, top: usize) -> usize {
    let input: usize;
    // SAFETY: the caller guarantees we run on the coroutine stack whose link slot holds
    // the parent's saved sp.
    unsafe {
        asm!(
            include_str!("../../asm/aarch64_aapcs/suspend.s"),
            inout("x0") value => input,
            in("x2") top,
            lateout("x20") _, lateout("x21") _, lateout("x22") _, lateout("x23") _,
            lateout("x24") _, lateout("x25") _, lateout("x26") _, lateout("x27") _,
            lateout("x28") _,
            clobber_abi("C"),
        );
    }
    input
}

/// Switches to the parent for the last time.
///
/// # Safety
/// As for `suspend`; nothing on this stack may be used again.
#[inline(always)]
pub(crate) unsafe fn finish(value: usize, top: usize) -> ! {
    // SAFETY: as for suspend; the stack is abandoned, so nothing needs saving.
    unsafe {
        asm!(
            include_str!("../../asm/aarch64_aapcs/finish.s"),
            in("x0") value,
            in("x2") top,
            options(noreturn),
        )
    }
}
