//! The guard pages of live fibra stacks, readable from a signal handler.
//!
//! Writers (stack creation and destruction, both rare thanks to the pool) serialise on a
//! mutex. The reader is the SIGSEGV/SIGBUS handler, which may not lock or allocate: it only
//! loads atomics. A slot's key works like a seqlock's sequence: a writer tombstones the key
//! before it rewrites the fields and publishes the new key last, and the reader accepts the
//! fields only if the key is the same before and after reading them.

use crate::loom::{AtomicUsize, Mutex, Ordering, fence};

const EMPTY: usize = 0;
const TOMBSTONE: usize = 1;

/// What the overflow handler needs to know about one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GuardInfo {
    /// Address of the stack's header (see `stack::header`), which holds its fiber's name.
    pub(crate) header: usize,
    /// Usable size of the stack in bytes.
    pub(crate) size: usize,
}

struct Slot {
    /// Page address of the guard page, or EMPTY / TOMBSTONE.
    key: AtomicUsize,
    header: AtomicUsize,
    size: AtomicUsize,
}

/// `len` empty slots. Outside loom the table comes from zeroed memory, so its pages cost
/// nothing until a stack hashes into them.
#[cfg(not(loom))]
fn new_slots(len: usize) -> Box<[Slot]> {
    use std::alloc::{Layout, alloc_zeroed, handle_alloc_error};
    let layout = Layout::array::<Slot>(len).expect("registry size fits in memory");
    // SAFETY: the layout is non-zero-sized (len >= 2). A Slot is three AtomicUsize, for
    // which all-zero bytes are a valid value (EMPTY, 0, 0); the Box takes ownership of the
    // allocation with the same layout it will free with.
    unsafe {
        let ptr = alloc_zeroed(layout).cast::<Slot>();
        if ptr.is_null() {
            handle_alloc_error(layout);
        }
        Box::from_raw(core::ptr::slice_from_raw_parts_mut(ptr, len))
    }
}

/// loom's atomics are not plain memory: build them one by one.
#[cfg(loom)]
fn new_slots(len: usize) -> Box<[Slot]> {
    (0..len)
        .map(|_| Slot {
            key: AtomicUsize::new(EMPTY),
            header: AtomicUsize::new(0),
            size: AtomicUsize::new(0),
        })
        .collect()
}

/// An open-addressing hash table keyed by guard-page address.
pub(crate) struct Registry {
    slots: Box<[Slot]>,
    /// Held by writers only; the signal handler never takes it.
    writers: Mutex<()>,
    page_shift: u32,
}

impl Registry {
    /// A registry for up to `capacity` stacks (rounded up to a power of two, times two so
    /// that probe chains stay short).
    pub(crate) fn new(capacity: usize, page_size: usize) -> Self {
        let len = (capacity.max(1) * 2).next_power_of_two();
        let slots = new_slots(len);
        Registry {
            slots,
            writers: Mutex::new(()),
            page_shift: page_size.trailing_zeros(),
        }
    }

    fn probe(&self, guard_page: usize) -> impl Iterator<Item = &Slot> {
        let mask = self.slots.len() - 1;
        // Fibonacci hashing spreads page-aligned addresses over the table.
        let start =
            ((guard_page >> self.page_shift).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) & mask;
        (0..self.slots.len()).map(move |i| &self.slots[(start + i) & mask])
    }

    /// Records a guard page. Returns false if the table is full (the stack then simply
    /// is not recognised by the handler).
    pub(crate) fn insert(&self, guard_page: usize, info: GuardInfo) -> bool {
        let _writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        for slot in self.probe(guard_page) {
            let key = slot.key.load(Ordering::Relaxed);
            if key == EMPTY || key == TOMBSTONE {
                // Release fence: pairs with the acquire fence in `lookup`. A reader that
                // sees one of the field stores below also sees the slot's earlier
                // tombstone, so it rejects the fields as belonging to another stack.
                fence(Ordering::Release);
                slot.header.store(info.header, Ordering::Relaxed);
                slot.size.store(info.size, Ordering::Relaxed);
                // Release: pairs with the acquire load in `lookup`, so a reader that sees
                // the key also sees the fields written above.
                slot.key.store(guard_page, Ordering::Release);
                return true;
            }
        }
        false
    }

    /// Forgets a guard page recorded by `insert`.
    pub(crate) fn remove(&self, guard_page: usize) {
        let _writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        for slot in self.probe(guard_page) {
            match slot.key.load(Ordering::Relaxed) {
                EMPTY => return,
                key if key == guard_page => {
                    // Relaxed is enough: the slot's fields stay valid until a later insert,
                    // which publishes new ones with its own release store.
                    slot.key.store(TOMBSTONE, Ordering::Relaxed);
                    return;
                }
                _ => {}
            }
        }
    }

    /// Finds the stack whose guard page holds `addr`. Async-signal-safe: loads only.
    pub(crate) fn lookup(&self, addr: usize) -> Option<GuardInfo> {
        let page = addr >> self.page_shift << self.page_shift;
        if page <= TOMBSTONE {
            return None;
        }
        for slot in self.probe(page) {
            // Acquire: pairs with the release store in `insert`.
            match slot.key.load(Ordering::Acquire) {
                EMPTY => return None,
                key if key == page => {
                    let info = GuardInfo {
                        header: slot.header.load(Ordering::Relaxed),
                        size: slot.size.load(Ordering::Relaxed),
                    };
                    // Acquire fence: pairs with the release fence in `insert`; if the
                    // fields came from a newer insert, the re-read key shows it.
                    fence(Ordering::Acquire);
                    return (slot.key.load(Ordering::Relaxed) == page).then_some(info);
                }
                _ => {}
            }
        }
        None
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn insert_lookup_remove_reuse() {
        let reg = Registry::new(4, 4096);
        let info = |n| GuardInfo {
            header: n,
            size: n * 2,
        };
        for i in 1..=8usize {
            assert!(reg.insert(i << 12, info(i)));
        }
        assert_eq!(reg.lookup((3 << 12) + 100), Some(info(3)));
        reg.remove(3 << 12);
        assert_eq!(reg.lookup(3 << 12), None);
        // Others stay reachable across the tombstone.
        for i in (1..=8usize).filter(|&i| i != 3) {
            assert_eq!(reg.lookup(i << 12), Some(info(i)), "page {i}");
        }
        assert!(reg.insert(9 << 12, info(9)));
        assert_eq!(reg.lookup(9 << 12), Some(info(9)));
        assert_eq!(reg.lookup(0), None);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// A reader racing with insert, remove and a reusing insert either misses the entry or
    /// sees it whole: never one stack's key with another's fields.
    ///
    /// The reader is the spawned thread and the writer the model's main thread: loom 0.7
    /// stops exploring when a spawned thread opens with a load and later stores
    /// (tokio-rs/loom#392), which is the writer's shape.
    #[test]
    fn reader_never_sees_torn_entry() {
        loom::model(|| {
            // Two slots, one taken for good: the second insert must reuse the first one's slot.
            let reg = Arc::new(Registry::new(1, 4096));
            assert!(reg.insert(0x7000, GuardInfo { header: 1, size: 1 }));
            assert!(reg.insert(0x5000, GuardInfo { header: 7, size: 9 }));
            let reader = {
                let reg = reg.clone();
                loom::thread::spawn(move || {
                    for (page, want) in [(0x5000, (7, 9)), (0x6000, (11, 13))] {
                        if let Some(info) = reg.lookup(page) {
                            assert_eq!((info.header, info.size), want, "torn entry for {page:#x}");
                        }
                    }
                })
            };
            reg.remove(0x5000);
            reg.insert(
                0x6000,
                GuardInfo {
                    header: 11,
                    size: 13,
                },
            );
            reader.join().unwrap();
        });
    }
}
