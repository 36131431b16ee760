//! Reports a stack overflow into a fibra guard page by name before aborting.
//!
//! A vectored exception handler, installed first in line, looks at every exception of
//! the process. If it is an overflow of a fibra stack it prints
//! `fibra: fiber '<name>' overflowed its <N> KiB stack` and aborts; anything else goes on
//! to the next handler (Rust's own stack-overflow report, SEH frames, the default action).
//!
//! Which stack overflowed:
//! - EXCEPTION_STACK_OVERFLOW: the kernel (or wine) raises it when a thread runs into the
//!   PAGE_GUARD overflow zone of the stack the TEB describes (see memory.rs). The switch
//!   code keeps the TEB describing the running fiber's stack, so its DeallocationStack
//!   is the reservation base, which is the key of the guard registry.
//! - EXCEPTION_ACCESS_VIOLATION: something jumped past the zone straight into the
//!   inaccessible page (a frame larger than the zone, probed from above).
//! - EXCEPTION_GUARD_PAGE: code whose TEB describes another stack touched a fiber's
//!   overflow zone, e.g. a closure too large for its stack being written into it.
//!
//! The latter two go by the faulting address: in a guard page, or at most OVERFLOW_ZONE
//! bytes above one.
//!
//! Where the handler runs: on the faulting stack, below the exception record the system
//! wrote there. For a fiber that is the overflow zone, which the system has just made
//! read-write (OVERFLOW_ZONE bytes, minus the record); the handler only reads atomics,
//! formats into small buffers on its stack and calls WriteFile. For a thread's own stack
//! it is the thread's stack guarantee, which `prepare_thread` raises for threads that
//! Rust's std did not start (std gives its own threads the same 20 KiB).

use super::memory::OVERFLOW_ZONE;
use crate::stack::registry::GuardInfo;
use crate::stack::write_overflow_report;
use core::cell::Cell;
use std::sync::Once;
use windows_sys::Win32::Foundation::{
    EXCEPTION_ACCESS_VIOLATION, EXCEPTION_GUARD_PAGE, EXCEPTION_STACK_OVERFLOW,
};
use windows_sys::Win32::Storage::FileSystem::WriteFile;
use windows_sys::Win32::System::Console::{GetStdHandle, STD_ERROR_HANDLE};
use windows_sys::Win32::System::Diagnostics::Debug::{
    AddVectoredExceptionHandler, EXCEPTION_CONTINUE_SEARCH, EXCEPTION_POINTERS, EXCEPTION_RECORD,
};
use windows_sys::Win32::System::Threading::SetThreadStackGuarantee;

static INSTALL: Once = Once::new();

/// Stack guarantee asked for a thread's own stack: the 20 KiB Rust's std gives the
/// threads it starts, for its own overflow message and ours.
const THREAD_GUARANTEE: u32 = 20 * 1024;

/// Installs the handler, once per process.
pub(crate) fn install_overflow_handler() {
    INSTALL.call_once(|| {
        // SAFETY: `handler` has the signature the system calls; 1 puts it first in line,
        // ahead of std's stack-overflow handler. The registration is never removed.
        unsafe { AddVectoredExceptionHandler(1, Some(handler)) };
    });
    prepare_thread();
}

/// Makes sure the calling thread's own stack keeps room for exception handlers when it
/// overflows (the guarantee region Windows commits at that point).
///
/// The first call on a thread always comes from the thread's own stack (a coroutine can
/// run on a thread only after one was created there), which matters: the guarantee is
/// a TEB field, and on a fiber stack the switch code would file the new value away with
/// the fiber's.
#[inline]
pub(crate) fn prepare_thread() {
    thread_local! { static READY: Cell<bool> = const { Cell::new(false) }; }
    if READY.get() {
        return;
    }
    READY.set(true);
    raise_thread_guarantee();
}

#[cold]
fn raise_thread_guarantee() {
    let mut current = 0u32;
    // SAFETY: a size of 0 only queries the current guarantee into `current`.
    unsafe { SetThreadStackGuarantee(&mut current) };
    if current < THREAD_GUARANTEE {
        let mut size = THREAD_GUARANTEE;
        // SAFETY: a valid in/out pointer. On failure (a stack too small for the
        // guarantee) overflows simply die without a message, as before.
        unsafe { SetThreadStackGuarantee(&mut size) };
    }
}

/// The vectored handler. Must not allocate, lock or unwind: it may run on an exhausted
/// stack, in the middle of anything.
unsafe extern "system" fn handler(pointers: *mut EXCEPTION_POINTERS) -> i32 {
    // SAFETY: the system passes a valid EXCEPTION_POINTERS with a valid record.
    let record = unsafe { &*(*pointers).ExceptionRecord };
    let guard = match record.ExceptionCode {
        EXCEPTION_STACK_OVERFLOW => {
            running_fiber().or_else(|| fault_address(record).and_then(guard_near))
        }
        EXCEPTION_ACCESS_VIOLATION | EXCEPTION_GUARD_PAGE => {
            fault_address(record).and_then(guard_near)
        }
        _ => None,
    };
    if let Some(guard) = guard {
        report_overflow(guard);
        // Rust's abort is a __fastfail: the process ends without another exception
        // dispatch on this exhausted stack.
        std::process::abort();
    }
    EXCEPTION_CONTINUE_SEARCH
}

/// The fibra stack the thread is running on, from the TEB's DeallocationStack.
fn running_fiber() -> Option<GuardInfo> {
    let deallocation_stack: usize;
    // SAFETY: reads the current thread's TEB (gs:[0x1478], DeallocationStack); no side effects.
    unsafe {
        core::arch::asm!(
            "mov {}, qword ptr gs:[0x1478]",
            out(reg) deallocation_stack,
            options(nostack, readonly, preserves_flags),
        );
    }
    crate::stack::registry_if_any()?.lookup(deallocation_stack)
}

/// The address an access violation or guard-page fault was about.
fn fault_address(record: &EXCEPTION_RECORD) -> Option<usize> {
    (record.NumberParameters >= 2).then(|| record.ExceptionInformation[1])
}

/// The stack whose guard page holds `addr`, or whose overflow zone (the pages above it) does.
fn guard_near(addr: usize) -> Option<GuardInfo> {
    let registry = crate::stack::registry_if_any()?;
    let page = super::page_size();
    (0..=OVERFLOW_ZONE / page).find_map(|k| registry.lookup(addr.checked_sub(k * page)?))
}

/// Writes the overflow message to stderr without allocating.
fn report_overflow(guard: GuardInfo) {
    // SAFETY: GetStdHandle has no preconditions; a null or invalid handle makes WriteFile fail.
    let stderr = unsafe { GetStdHandle(STD_ERROR_HANDLE) };
    write_overflow_report(guard, |part| {
        let mut written = 0u32;
        // SAFETY: a valid buffer and out-pointer; synchronous write (no OVERLAPPED).
        unsafe {
            WriteFile(
                stderr,
                part.as_ptr(),
                part.len() as u32,
                &mut written,
                core::ptr::null_mut(),
            )
        };
    });
}
