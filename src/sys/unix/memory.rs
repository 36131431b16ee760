//! Stack memory from `mmap`.

use std::io;
use std::sync::OnceLock;

/// The system page size.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize)
}

/// Bytes of inaccessible guard below a guarded stack: one page.
pub(crate) fn guard_len() -> usize {
    page_size()
}

/// How many memory mappings the kernel allows this process, if it says.
pub(crate) fn map_count_limit() -> Option<usize> {
    static LIMIT: OnceLock<Option<usize>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
    })
}

/// Whether a failed `map_stack` ran out of mappings or memory (the case worth a hint).
pub(crate) fn is_out_of_mappings(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOMEM)
}

/// What to do when `is_out_of_mappings`.
pub(crate) const OUT_OF_MAPPINGS_HINT: &str = " Each guarded stack uses up to two mappings: raise the limit \
     (`sysctl -w vm.max_map_count=262144`), use smaller stacks, or use StackPolicy::Auto or Unguarded.";

/// Reserves `len` bytes (a multiple of the page size) without committing memory, with the
/// lowest `guard` bytes inaccessible. Returns the base address of the reservation.
pub(crate) fn map_stack(len: usize, guard: usize) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const EXTRA: libc::c_int = libc::MAP_NORESERVE | libc::MAP_STACK;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const EXTRA: libc::c_int = 0;
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
    // no existing memory.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | EXTRA,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: [base, base + guard) lies inside the mapping we just created.
    if guard > 0 && !unsafe { install_guard_region(base, guard) } {
        // SAFETY: as above.
        if unsafe { libc::mprotect(base, guard, libc::PROT_NONE) } != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: the mapping is ours and nothing refers to it yet.
            unsafe { libc::munmap(base, len) };
            return Err(err);
        }
    }
    Ok(base as usize)
}

/// `MADV_GUARD_INSTALL` (Linux 6.13): marks pages so that any access faults, in the page
/// tables rather than as a mapping of its own. Cheaper than `mprotect` in the two ways
/// that matter for stacks: the mapping is not split (a guarded stack costs one of the
/// `vm.max_map_count` mappings, not two), and the kernel takes the address-space lock only
/// for reading, so threads creating stacks do not stall each other and page faults.
#[cfg(any(target_os = "linux", target_os = "android"))]
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Makes `[addr, addr + len)` fault on access with a guard region, if this kernel has
/// them; false means it does not (the caller uses `mprotect`). Asked once per process.
///
/// # Safety
/// The range is page-aligned and inside a private anonymous mapping of ours, unused.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn install_guard_region(addr: *mut libc::c_void, len: usize) -> bool {
    use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
    const UNKNOWN: u8 = 0;
    const WORKS: u8 = 1;
    const MISSING: u8 = 2;
    // Relaxed: a cached answer about the kernel; racing first callers both ask.
    static SUPPORT: AtomicU8 = AtomicU8::new(UNKNOWN);
    if SUPPORT.load(Relaxed) == MISSING {
        return false;
    }
    // SAFETY: per the caller's contract.
    if unsafe { libc::madvise(addr, len, MADV_GUARD_INSTALL) } == 0 {
        if SUPPORT.load(Relaxed) == UNKNOWN {
            // Some environments accept any advice and ignore it (qemu-user treats madvise
            // as a hint): check once that the guard really faults before relying on it.
            let works = guard_faults(addr);
            SUPPORT.store(if works { WORKS } else { MISSING }, Relaxed);
            return works;
        }
        return true;
    }
    // EINVAL: an older kernel that does not know the advice. Anything else (ENOMEM for
    // page tables) also falls back to mprotect, which reports its own error.
    if io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        SUPPORT.store(MISSING, Relaxed);
    }
    false
}

/// Whether reading the byte at `addr` faults: the kernel's own access to it (a `write`
/// into a pipe) fails with EFAULT instead of raising a signal.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn guard_faults(addr: *mut libc::c_void) -> bool {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return false;
    }
    // SAFETY: a write of one byte from `addr`; the kernel checks the address.
    let n = unsafe { libc::write(fds[1], addr, 1) };
    let efault = n == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT);
    // SAFETY: our own descriptors, closed once.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    efault
}

/// Elsewhere: no guard regions, always `mprotect`.
///
/// # Safety
/// None needed; kept `unsafe` for the same call site.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
unsafe fn install_guard_region(_addr: *mut libc::c_void, _len: usize) -> bool {
    false
}

/// Releases a reservation made by `map_stack`.
///
/// # Safety
/// `base`/`len` must be exactly one reservation from `map_stack`, no longer in use.
pub(crate) unsafe fn unmap_stack(base: usize, len: usize) {
    // SAFETY: the caller hands us a whole mapping that nothing uses any more.
    let rc = unsafe { libc::munmap(base as *mut libc::c_void, len) };
    debug_assert_eq!(rc, 0, "munmap failed: {}", io::Error::last_os_error());
}

/// Gives the pages of `[addr, addr + len)` back to the system; they read as zero afterwards.
///
/// # Safety
/// The range must be page-aligned, inside a reservation from `map_stack`, and unused.
pub(crate) unsafe fn discard(addr: usize, len: usize) {
    // SAFETY: the caller guarantees the range is ours and holds nothing we need.
    unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
}
