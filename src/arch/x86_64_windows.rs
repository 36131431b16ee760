//! x86-64 Microsoft x64 switcher (Windows). The instructions live in
//! `asm/x86_64_windows.S` (trampoline, with its SEH unwind info) and
//! `asm/x86_64_windows/*.s` (the switch sequences, inlined here).
//!
//! Besides the registers, every switch swaps the TEB fields that describe the current
//! stack (StackBase, StackLimit, DeallocationStack, GuaranteedStackBytes, and the
//! ExceptionList wine keeps its own handlers in): exception dispatch, `__chkstk` and the
//! kernel's guard-page logic all read them.

use super::{EntryFn, StackPointer};
use crate::stack::Stack;
use core::arch::asm;

unsafe extern "C" {
    /// The start trampoline in asm/x86_64_windows.S. Not callable: only jumped to.
    fn fibra_start_x86_64_windows();
}

/// Bytes below `top` that `init_stack` lays out (see the diagram in asm/x86_64_windows.S).
const INITIAL_FRAME: usize = 144;

/// The value that ends wine's chain of internal exception handlers in the TEB's
/// ExceptionList (x64 Windows itself does not use the field).
const EXCEPTION_LIST_END: usize = usize::MAX;

/// Lays out a new coroutine stack below `top` (see the diagram in asm/x86_64_windows.S).
///
/// # Safety
/// `top` must be 16-byte aligned, lie within `stack`, and have at least 144 writable
/// bytes below it that nothing else uses while the coroutine lives.
#[inline]
pub(crate) unsafe fn init_stack<S: Stack + ?Sized>(
    stack: &S,
    top: usize,
    entry: EntryFn,
    data: *mut u8,
) -> StackPointer {
    debug_assert_eq!(top % 16, 0);
    // The initial record, from its lowest word: what the first resume loads. The TEB
    // fields say what Windows sees while the coroutine runs. StackLimit means "lowest
    // committed address": fibra's stacks are committed whole (src/sys/windows/memory.rs),
    // and exception dispatch rejects frames below StackLimit, so it must not be higher.
    let record = [
        fibra_start_x86_64_windows as *const () as usize, // resume address  (top - 144)
        crate::sys::OVERFLOW_ZONE,                        // GuaranteedStackBytes
        stack.teb_allocation_base(),                      // DeallocationStack
        stack.bottom().get(),                             // StackLimit
        stack.top().get(),                                // StackBase
        EXCEPTION_LIST_END,                               // ExceptionList
        data as usize,                                    // rbx: the entry's data pointer
        entry as *const () as usize,                      // rbp: the function the trampoline calls
    ];
    let slot = |offset: usize| (top - offset) as *mut usize;
    // SAFETY: the caller guarantees the 144 bytes below `top` are ours and aligned.
    unsafe {
        // The link area (machine frame and parent rbp) and entry's home space: resume
        // fills in the parent's values before the coroutine first runs.
        for offset in (8..=80).step_by(8) {
            slot(offset).write(0);
        }
        for (i, word) in record.into_iter().enumerate() {
            slot(INITIAL_FRAME - 8 * i).write(word);
        }
    }
    StackPointer::new(top - INITIAL_FRAME).expect("stack top is not null")
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
    // rbx/rbp and the TEB stack fields itself; everything else it may change is declared
    // clobbered here (clobber_abi("win64") covers xmm0-xmm15, rax, rcx, rdx, r8-r11).
    unsafe {
        asm!(
            include_str!("../../asm/x86_64_windows/resume.s"),
            inout("rcx") value => out_value,
            inout("rdx") sp.get() => out_sp,
            in("r8") top,
            lateout("rdi") _, lateout("rsi") _,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            clobber_abi("win64"),
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
    // SAFETY: the caller guarantees we run on the coroutine stack whose link area holds
    // the parent's saved rsp.
    unsafe {
        asm!(
            include_str!("../../asm/x86_64_windows/suspend.s"),
            inout("rcx") value => input,
            in("r8") top,
            lateout("rdi") _, lateout("rsi") _,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            clobber_abi("win64"),
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
            include_str!("../../asm/x86_64_windows/finish.s"),
            in("rcx") value,
            in("r8") top,
            options(noreturn),
        )
    }
}
