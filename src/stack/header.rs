//! The few bytes at the very top of a fibra-mapped stack that tell the overflow handler the
//! fiber's name. Overflow runs off the bottom, so the top survives it.

use core::sync::atomic::{AtomicU8, Ordering};

/// Bytes of name kept; longer names are cut.
const NAME_CAP: usize = 55;

/// Lives at the top of a `DefaultStack` mapping, above the usable stack.
#[repr(C, align(64))]
pub(crate) struct StackHeader {
    /// Length of the name in `name`. Atomics because the overflow handler of another
    /// thread may read while a name is being written (it then prints a mixed name, which
    /// is harmless in a message printed just before abort).
    len: AtomicU8,
    name: [AtomicU8; NAME_CAP],
    _pad: [u8; 8],
}

impl StackHeader {
    /// Size reserved at the top of a stack for the header.
    pub(crate) const SIZE: usize = size_of::<StackHeader>();

    pub(crate) fn set_name(&self, name: &str) {
        // Cut at a char boundary so the message stays valid UTF-8.
        let mut len = name.len().min(NAME_CAP);
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        for (dst, &b) in self.name.iter().zip(&name.as_bytes()[..len]) {
            dst.store(b, Ordering::Relaxed);
        }
        self.len.store(len as u8, Ordering::Relaxed);
    }

    /// Copies the name into `buf`; returns its length. Async-signal-safe.
    pub(crate) fn read_name(&self, buf: &mut [u8; NAME_CAP]) -> usize {
        let len = (self.len.load(Ordering::Relaxed) as usize).min(NAME_CAP);
        for (dst, src) in buf.iter_mut().zip(&self.name[..len]) {
            *dst = src.load(Ordering::Relaxed);
        }
        len
    }
}

const _: () = assert!(StackHeader::SIZE == 64);
