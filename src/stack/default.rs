//! Stacks mapped by fibra: reserved address space with an optional guard page below.

use super::budget::{self, StackPolicy};
use super::registry::{GuardInfo, Registry};
use super::{Stack, StackHeader};
use crate::sys;
use core::num::NonZeroUsize;
use std::io;
use std::sync::OnceLock;

/// Smallest stack fibra maps: enough for the switch frames and a few calls.
const MIN_SIZE: usize = 8 * 1024;

/// A stack reserved with `mmap` (`VirtualAlloc` on Windows): its memory is committed
/// only as the coroutine touches it. Below it sits a guard page, unless the
/// [`StackPolicy`] or the process's mapping budget says otherwise (see [`Stack::is_guarded`]).
///
/// The top 64 bytes of the reservation hold the name printed if the stack overflows.
#[derive(Debug)]
pub struct DefaultStack {
    /// Start of the reservation (the guard page, if any).
    base: usize,
    /// Length of the reservation.
    len: usize,
    /// Bytes of guard at `base`; 0 for an unguarded stack.
    guard: usize,
}

impl DefaultStack {
    /// Maps a stack of at least `size` bytes under [`StackPolicy::Auto`].
    pub fn new(size: usize) -> io::Result<Self> {
        Self::with_policy(size, StackPolicy::Auto)
    }

    /// Maps a stack of at least `size` bytes (rounded up to whole pages) under `policy`.
    ///
    /// When the system refuses, the error says why and how to raise the limit.
    pub fn with_policy(size: usize, policy: StackPolicy) -> io::Result<Self> {
        let page = sys::page_size();
        let usable = size
            .max(MIN_SIZE)
            .checked_add(StackHeader::SIZE + page - 1)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "fibra: stack size overflows usize",
                )
            })?
            / page
            * page;
        let guarded = budget::try_take_guarded(policy);
        let guard = if guarded { sys::guard_len() } else { 0 };
        let base = match sys::map_stack(usable + guard, guard) {
            Ok(base) => base,
            // Past the mapping limit the guard's mprotect fails first; under Auto an
            // unguarded stack may still fit.
            Err(e) if guarded && policy == StackPolicy::Auto && sys::is_out_of_mappings(&e) => {
                budget::release(true);
                return Self::with_policy(size, StackPolicy::Unguarded);
            }
            Err(e) => {
                if guarded {
                    budget::release(true);
                }
                return Err(explain_map_failure(e, usable, guarded));
            }
        };
        let stack = DefaultStack {
            base,
            len: usable + guard,
            guard,
        };
        if guarded {
            sys::install_overflow_handler();
            registry().insert(
                base,
                GuardInfo {
                    header: stack.header_addr(),
                    size: stack.size(),
                },
            );
        } else {
            budget::note_unguarded_mapped();
        }
        Ok(stack)
    }

    /// Usable bytes between [`Stack::bottom`] and [`Stack::top`].
    pub fn size(&self) -> usize {
        self.len - self.guard - StackHeader::SIZE
    }

    fn header_addr(&self) -> usize {
        self.base + self.len - StackHeader::SIZE
    }

    fn header(&self) -> &StackHeader {
        // SAFETY: the header lies at the top of our own live mapping, 64-byte aligned
        // (the mapping end is page-aligned), and is only accessed through atomics.
        unsafe { &*(self.header_addr() as *const StackHeader) }
    }

    /// Gives the stack's memory back to the system, keeping the reservation.
    pub(crate) fn discard(&self) {
        // SAFETY: the usable range is ours and the caller (the pool) holds it idle.
        unsafe { sys::discard(self.base + self.guard, self.len - self.guard) }
    }
}

// SAFETY: [bottom, top) is our private read-write mapping; top is page-aligned minus the
// 64-byte header, so 16-byte aligned; `guard > 0` exactly when an inaccessible page lies
// below bottom.
unsafe impl Stack for DefaultStack {
    #[inline]
    fn top(&self) -> NonZeroUsize {
        NonZeroUsize::new(self.header_addr()).expect("mapped address is not null")
    }
    #[inline]
    fn bottom(&self) -> NonZeroUsize {
        NonZeroUsize::new(self.base + self.guard).expect("mapped address is not null")
    }
    #[inline]
    fn is_guarded(&self) -> bool {
        self.guard != 0
    }
    fn set_overflow_name(&self, name: &str) {
        self.header().set_name(name);
    }
    #[cfg(windows)]
    fn teb_allocation_base(&self) -> usize {
        self.base
    }
}

impl Drop for DefaultStack {
    fn drop(&mut self) {
        if self.guard != 0 {
            registry().remove(self.base);
        }
        budget::release(self.guard != 0);
        // SAFETY: we own the whole reservation and nothing runs on it any more.
        unsafe { sys::unmap_stack(self.base, self.len) }
    }
}

/// The process-wide registry of guard pages, sized from the guarded-stack budget when the
/// first guarded stack is mapped.
static REGISTRY: OnceLock<Registry> = OnceLock::new();

fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| Registry::new(budget::guarded_budget().min(1 << 20), sys::page_size()))
}

/// The registry if any guarded stack was ever mapped. For the overflow handler: a
/// plain atomic load, it never initialises anything.
pub(crate) fn registry_if_any() -> Option<&'static Registry> {
    REGISTRY.get()
}

/// Turns a failed mapping into an error that says what ran out and what to do.
#[cold]
fn explain_map_failure(e: io::Error, usable: usize, guarded: bool) -> io::Error {
    let (live_guarded, live_unguarded) = budget::live();
    let limit = sys::map_count_limit().map_or_else(String::new, |l| {
        format!(" The kernel allows {l} memory mappings per process (vm.max_map_count).")
    });
    let hint = if sys::is_out_of_mappings(&e) {
        sys::OUT_OF_MAPPINGS_HINT
    } else {
        ""
    };
    io::Error::new(
        e.kind(),
        format!(
            "fibra: could not map a {} KiB {}stack: {e}. Live fibra stacks: {live_guarded} guarded, \
             {live_unguarded} unguarded.{limit}{hint}",
            usable / 1024,
            if guarded { "guarded " } else { "" },
        ),
    )
}
