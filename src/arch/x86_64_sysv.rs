//! x86-64 System V switcher. The instructions live in `asm/x86_64_sysv.S` (trampoline,
//! with its unwind info) and `asm/x86_64_sysv/*.s` (the switch sequences, inlined here).

use super::{EntryFn, StackPointer};
use crate::stack::Stack;
use core::arch::asm;

unsafe extern "C" {
    /// The start trampoline in asm/x86_64_sysv.S. Not callable: only jumped to.
    fn fibra_start_x86_64_sysv();
}

/// Lays out a new coroutine stack below `top` (see the diagram in asm/x86_64_sysv.S).
///
/// # Safety
/// `top` must be 16-byte aligned, lie within `stack`, and have at least 64 writable bytes
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
    // SAFETY: the caller guarantees the 40 bytes below `top` are ours and aligned.
    unsafe {
        slot(8).write(0);
        slot(16).write(0);
        slot(24).write(entry as *const () as usize);
        slot(32).write(data as usize);
        slot(40).write(fibra_start_x86_64_sysv as *const () as usize);
    }
    StackPointer::new(top - 40).expect("stack top is not null")
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
    // rbx/rbp itself; everything else it may change is declared clobbered here.
    unsafe {
        asm!(
            include_str!("../../asm/x86_64_sysv/resume.s"),
            inout("rdi") value => out_value,
            inout("rsi") sp.get() => out_sp,
            in("rdx") top,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            clobber_abi("sysv64"),
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
            include_str!("../../asm/x86_64_sysv/suspend.s"),
            inout("rdi") value => input,
            in("rdx") top,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            clobber_abi("sysv64"),
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
            include_str!("../../asm/x86_64_sysv/finish.s"),
            in("rdi") value,
            in("rdx") top,
            options(noreturn),
        )
    }
}
