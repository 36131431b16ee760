//! Reports a stack overflow into a fibra guard page by name before aborting.
//!
//! A SIGSEGV/SIGBUS handler runs on an alternate signal stack (the faulting stack is
//! exhausted). If the fault address is a registered guard page it prints
//! `fibra: fiber '<name>' overflowed its <N> KiB stack` and aborts; otherwise it passes
//! the signal to whatever handler was installed before (Rust's own, a sanitizer's, or
//! the default action).

use crate::stack::registry::GuardInfo;
use crate::stack::write_overflow_report;
use core::cell::Cell;
use core::mem::MaybeUninit;
use core::ptr;
use std::sync::Once;

/// The handlers that were installed before ours, for chaining. Written once inside
/// `INSTALL` before our handler is installed, read only by the handler afterwards.
static mut PREVIOUS_SEGV: MaybeUninit<libc::sigaction> = MaybeUninit::zeroed();
static mut PREVIOUS_BUS: MaybeUninit<libc::sigaction> = MaybeUninit::zeroed();
static INSTALL: Once = Once::new();

/// Installs the handler for SIGSEGV and SIGBUS, once per process.
pub(crate) fn install_overflow_handler() {
    INSTALL.call_once(|| {
        for (signal, previous) in [
            (libc::SIGSEGV, &raw mut PREVIOUS_SEGV),
            (libc::SIGBUS, &raw mut PREVIOUS_BUS),
        ] {
            // SAFETY: zeroed sigaction is a valid "no flags, empty mask" value; the
            // previous-action statics are written here, inside the Once, before the
            // handler that reads them is installed.
            unsafe {
                let mut action: libc::sigaction = MaybeUninit::zeroed().assume_init();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, (*previous).as_mut_ptr());
            }
        }
    });
    prepare_thread();
}

thread_local! {
    /// The alternate signal stack this thread got from fibra, if any (freed at thread exit).
    static ALT_STACK: AltStack = const { AltStack(Cell::new(0)) };
}

/// Size of the alternate signal stack: room for the handler and a chained handler.
const ALT_STACK_SIZE: usize = 64 * 1024;

struct AltStack(Cell<usize>);

impl Drop for AltStack {
    fn drop(&mut self) {
        let base = self.0.get();
        if base != 0 {
            // SAFETY: disable the alternate stack before unmapping it; both are ours.
            unsafe {
                let disable = libc::stack_t {
                    ss_sp: ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&disable, ptr::null_mut());
                libc::munmap(
                    base as *mut libc::c_void,
                    ALT_STACK_SIZE + super::page_size(),
                );
            }
        }
    }
}

/// Makes sure the calling thread has an alternate signal stack for the handler to run on.
/// Rust's std gives its own threads one; threads created by C hosts may not have one.
#[inline]
pub(crate) fn prepare_thread() {
    thread_local! { static READY: Cell<bool> = const { Cell::new(false) }; }
    if READY.get() {
        return;
    }
    READY.set(true);
    setup_alt_stack();
}

#[cold]
fn setup_alt_stack() {
    // SAFETY: querying the current alternate stack has no preconditions.
    let mut current: libc::stack_t = unsafe { MaybeUninit::zeroed().assume_init() };
    // SAFETY: `current` is a valid out-pointer.
    unsafe { libc::sigaltstack(ptr::null(), &mut current) };
    if current.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    let page = super::page_size();
    let Ok(base) = super::map_stack(ALT_STACK_SIZE + page, page) else {
        return; // no alternate stack: overflows then die without the message
    };
    let stack = libc::stack_t {
        ss_sp: (base + page) as *mut libc::c_void,
        ss_flags: 0,
        ss_size: ALT_STACK_SIZE,
    };
    // SAFETY: the memory is ours for the thread's lifetime (freed by ALT_STACK's destructor).
    unsafe { libc::sigaltstack(&stack, ptr::null_mut()) };
    let _ = ALT_STACK.try_with(|s| s.0.set(base));
}

/// The signal handler. Only async-signal-safe calls: atomics, `write`, `abort`,
/// `sigaction`.
extern "C" fn handler(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(guard) = crate::stack::registry_if_any().and_then(|r| r.lookup(addr)) {
        report_overflow(guard);
        // SAFETY: abort is async-signal-safe and never returns.
        unsafe { libc::abort() };
    }
    let previous = if signal == libc::SIGBUS {
        &raw const PREVIOUS_BUS
    } else {
        &raw const PREVIOUS_SEGV
    };
    // SAFETY: written once before this handler was installed, never written again.
    let previous = unsafe { (*previous).assume_init_ref() };
    match previous.sa_sigaction {
        libc::SIG_DFL | libc::SIG_IGN => {
            // Restore the previous disposition and return: the faulting instruction runs
            // again and the default action (a core dump) takes place.
            // SAFETY: `previous` is a valid sigaction.
            unsafe { libc::sigaction(signal, previous, ptr::null_mut()) };
        }
        f if previous.sa_flags & libc::SA_SIGINFO != 0 => {
            // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this type.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { core::mem::transmute(f) };
            f(signal, info, context);
        }
        f => {
            // SAFETY: without SA_SIGINFO the previous handler takes only the signal number.
            let f: extern "C" fn(libc::c_int) = unsafe { core::mem::transmute(f) };
            f(signal);
        }
    }
}

/// Writes the overflow message to stderr without allocating.
fn report_overflow(guard: GuardInfo) {
    write_overflow_report(guard, |part| {
        // SAFETY: write(2) on stderr with a valid buffer is async-signal-safe.
        unsafe { libc::write(2, part.as_ptr().cast(), part.len()) };
    });
}
