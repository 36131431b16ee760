//! Stack memory from `VirtualAlloc`.
//!
//! A guarded stack's reservation, lowest address first:
//!
//! ```text
//! [base, base + page)        reserved, never committed: inaccessible. The guard page the
//!                            registry knows, and the TEB's DeallocationStack.
//! [base + page, zone_end)    the overflow zone: committed PAGE_READWRITE | PAGE_GUARD
//!                            (OVERFLOW_ZONE bytes)
//! [zone_end, base + len)     committed PAGE_READWRITE
//! ```
//!
//! The zone belongs in the guard: a caller should ask for `guard = page + OVERFLOW_ZONE`.
//! With a guard of one page it is carved out of the usable stack instead (see
//! `overflow_zone`).
//!
//! Why the overflow zone: an overflow that runs straight into an inaccessible page leaves
//! no stack for the exception record Windows writes below the faulting rsp, and the
//! process dies without a word (wine's `virtual_setup_exception` even refuses outright
//! when the record would land in the lowest page above DeallocationStack). A PAGE_GUARD
//! page inside the range the TEB calls "the current stack" is instead handled as a thread
//! stack hitting its guard: the kernel (or wine's `grow_thread_stack`) sees there is no
//! room left for another guard, commits the guarantee region read-write, and raises
//! EXCEPTION_STACK_OVERFLOW with that room still free, so the vectored handler in
//! `overflow.rs` gets to print the fiber's name. The switch code gives each coroutine a
//! TEB GuaranteedStackBytes of OVERFLOW_ZONE, so the first touch of the zone is the
//! overflow (never a silent "growth" into it).
//!
//! Why commit everything up front instead of growing on demand as Windows thread stacks
//! do: a growing stack is only correct while TEB StackLimit tracks its lowest committed
//! page exactly. Too high, and exception dispatch rejects the frames below it as "invalid"
//! (a panic deep in a coroutine would abort); too low, and MSVC's `__chkstk` skips the
//! probes that would walk onto the guard page. A stack reused from the pool keeps whatever
//! its previous coroutine committed, which no TEB field remembers, so every new coroutine
//! would need a `VirtualQuery` (a system call the pool exists to avoid). fibra also
//! writes into a stack from the parent (the closure at the top, the canary at the bottom
//! of an unguarded stack), where the TEB describes another stack and nothing would commit
//! pages on demand. Committing costs commit charge, not memory: the pages are demand-zero
//! and take RAM only once touched, exactly as on Linux. The price is that the sum of live
//! and pooled stack sizes counts against the system commit limit (RAM + page file).

use std::io;
use std::ptr;
use std::sync::OnceLock;
use windows_sys::Win32::System::Memory::{
    MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE, MEMORY_BASIC_INFORMATION, PAGE_GUARD,
    PAGE_NOACCESS, PAGE_PROTECTION_FLAGS, PAGE_READWRITE, VirtualAlloc, VirtualFree, VirtualQuery,
};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};

/// Bytes of PAGE_GUARD pages above a guarded stack's inaccessible page, and the TEB
/// GuaranteedStackBytes a coroutine runs with: the room left when an overflow is
/// reported. It holds the exception record and context the system writes (under wine
/// the whole dispatch down to the vectored handler takes about 2.9 KiB; on Windows with
/// AVX-512 state the record alone is about 4.5 KiB), the dispatcher, and fibra's
/// handler with its WriteFile call (under 1 KiB). The zone is entered at its top page,
/// so at least OVERFLOW_ZONE - 4 KiB are left: 12 KiB, about twice the worst case.
/// A multiple of every page size Windows uses.
pub(crate) const OVERFLOW_ZONE: usize = 16 * 1024;

/// The system page size.
/// Whether a failed `map_stack` ran out of memory or commit charge.
pub(crate) fn is_out_of_mappings(e: &io::Error) -> bool {
    use windows_sys::Win32::Foundation::{ERROR_COMMITMENT_LIMIT, ERROR_NOT_ENOUGH_MEMORY};
    matches!(e.raw_os_error(), Some(c) if c == ERROR_NOT_ENOUGH_MEMORY as i32 || c == ERROR_COMMITMENT_LIMIT as i32)
}

/// What to do when `is_out_of_mappings`.
pub(crate) const OUT_OF_MAPPINGS_HINT: &str = " fibra commits each stack up front, so live and pooled stacks \
     count against the system commit limit: enlarge the page file, use smaller stacks, or keep fewer alive.";

/// Bytes of guard below a guarded stack: the inaccessible page plus the PAGE_GUARD overflow
/// zone above it, which leaves room to report an overflow.
pub(crate) fn guard_len() -> usize {
    page_size() + OVERFLOW_ZONE
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: GetSystemInfo fills the struct it is given and cannot fail.
        let info = unsafe {
            let mut info: SYSTEM_INFO = core::mem::zeroed();
            GetSystemInfo(&mut info);
            info
        };
        info.dwPageSize as usize
    })
}

/// Windows has no per-process limit on the number of mappings.
pub(crate) fn map_count_limit() -> Option<usize> {
    None
}

/// Reserves `len` bytes (a multiple of the page size) with the lowest `guard` bytes
/// inaccessible, and commits the rest as described in the module docs. Returns the base
/// address of the reservation.
pub(crate) fn map_stack(len: usize, guard: usize) -> io::Result<usize> {
    // SAFETY: a fresh reservation at an address of the system's choosing touches no
    // existing memory.
    let base = unsafe { VirtualAlloc(ptr::null(), len, MEM_RESERVE, PAGE_NOACCESS) } as usize;
    if base == 0 {
        return Err(io::Error::last_os_error());
    }
    let first = if guard > 0 { base + page_size() } else { base };
    // SAFETY: [first, base + len) lies inside the reservation we just made.
    if let Err(err) = unsafe { commit(base, len, guard, first) } {
        // SAFETY: the reservation is ours and nothing refers to it yet.
        unsafe { unmap_stack(base, len) };
        return Err(err);
    }
    Ok(base)
}

/// The PAGE_GUARD overflow zone of a reservation of `len` bytes at `base` whose lowest
/// `guard` bytes are guard: it starts above the inaccessible page and covers the rest of
/// the guard, and at least OVERFLOW_ZONE bytes. When the caller gives less guard than
/// that, the zone comes out of the usable stack, but never more than half of it (a small
/// stack then keeps working, with less room to report its overflow).
fn overflow_zone(base: usize, len: usize, guard: usize) -> (usize, usize) {
    if guard == 0 {
        return (base, base);
    }
    let page = page_size();
    let start = base + page;
    let half_usable = ((len - guard) / 2) & !(page - 1);
    let end = (base + guard).max(start + OVERFLOW_ZONE.min(half_usable));
    (start, end)
}

/// Commits `[from, base + len)` of the reservation at `base` with the layout's protections.
///
/// # Safety
/// `base`/`len`/`guard` must describe a reservation from `map_stack`; `from` is page-aligned
/// and at or above `base + page` for a guarded stack; nothing may use the range.
unsafe fn commit(base: usize, len: usize, guard: usize, from: usize) -> io::Result<()> {
    let end = base + len;
    let (zone_start, zone_end) = overflow_zone(base, len, guard);
    let zone = (zone_start.max(from), zone_end.min(end));
    // SAFETY: both ranges lie inside the caller's reservation, which nothing uses.
    unsafe {
        commit_range(from, end, PAGE_READWRITE)?;
        if zone.0 < zone.1 {
            commit_range(zone.0, zone.1, PAGE_READWRITE | PAGE_GUARD)?;
        }
    }
    Ok(())
}

/// Commits `[start, end)` with `protect` (changing the protection of committed pages).
///
/// # Safety
/// The range must lie inside a reservation of ours that nothing uses.
unsafe fn commit_range(start: usize, end: usize, protect: PAGE_PROTECTION_FLAGS) -> io::Result<()> {
    // SAFETY: per the caller.
    let got = unsafe { VirtualAlloc(start as *const _, end - start, MEM_COMMIT, protect) };
    if got.is_null() {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Releases a reservation made by `map_stack`.
///
/// # Safety
/// `base`/`len` must be exactly one reservation from `map_stack`, no longer in use.
pub(crate) unsafe fn unmap_stack(base: usize, len: usize) {
    let _ = len; // MEM_RELEASE frees the whole reservation and wants a size of 0
    // SAFETY: the caller hands us a whole reservation that nothing uses any more.
    let ok = unsafe { VirtualFree(base as *mut _, 0, MEM_RELEASE) };
    debug_assert!(
        ok != 0,
        "VirtualFree failed: {}",
        io::Error::last_os_error()
    );
}

/// Gives the pages of `[addr, addr + len)` back to the system; they read as zero afterwards.
///
/// Decommits and recommits, rather than `MEM_RESET`: that keeps the commit charge too, but
/// leaves the old contents readable until the system gets round to dropping them, and the
/// pool promises zeroed pages. The recommit restores the layout's protections (the
/// overflow zone's PAGE_GUARD where the range covers it), found from the reservation base.
///
/// # Safety
/// The range must be page-aligned, inside a reservation from `map_stack`, reach its end,
/// and be unused.
pub(crate) unsafe fn discard(addr: usize, len: usize) {
    // SAFETY: MEMORY_BASIC_INFORMATION is plain data, valid when zeroed.
    let mut info: MEMORY_BASIC_INFORMATION = unsafe { core::mem::zeroed() };
    // SAFETY: an out-pointer of the right size; querying has no side effects.
    let got = unsafe {
        VirtualQuery(
            addr as *const _,
            &mut info,
            size_of::<MEMORY_BASIC_INFORMATION>(),
        )
    };
    if got == 0 {
        return; // cannot happen for our own reservation; keep the memory rather than guess
    }
    let base = info.AllocationBase as usize;
    // SAFETY: the caller guarantees the range is ours and holds nothing we need; the
    // recommit covers exactly what we decommitted.
    unsafe {
        if VirtualFree(addr as *mut _, len, MEM_DECOMMIT) == 0 {
            return;
        }
        let ok = commit(base, addr + len - base, addr - base, addr);
        // A failed recommit (commit limit reached) leaves a stack that faults on use:
        // nothing sensible can continue from there.
        if let Err(e) = ok {
            eprintln!("fibra: cannot recommit a pooled stack ({e}); aborting");
            std::process::abort();
        }
    }
}
