//! `Rc`: the atomically reference-counted pointer fibers and join slots live behind, with
//! its memory recycled through a per-thread block cache.
//!
//! Why not `std::sync::Arc`: a fiber is one allocation (state, body, function, join slot),
//! and a job system spawns and frees them by the thousand per frame. The system allocator's
//! per-thread cache holds a handful of blocks per size (glibc's tcache: 7), so a batch of a
//! thousand fibers goes through its slow paths on both the spawn and the free, which
//! profiles showed as about a third of the instructions of a spawn+join. `Rc` keeps up to
//! [`CACHED_PER_CLASS`] freed blocks per size class per thread and hands them to the next
//! `Rc::new` on that thread; `std::sync::Arc` cannot take a custom allocator on stable Rust.
//!
//! The API is the part of `Arc` the runtime uses: `new`, `clone`, `Deref`, `as_ptr`,
//! `increment_and_get` (for a pointer known to be inside a live `Rc`), and
//! `unsize` (the unsizing coercion `Arc` gets from `CoerceUnsized`, which is unstable).

use core::alloc::Layout;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;
use std::alloc::{alloc, dealloc, handle_alloc_error};
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

/// The allocation: the count, then the value (which may be unsized, hence last).
#[repr(C)]
pub(crate) struct RcInner<T: ?Sized> {
    strong: AtomicUsize,
    data: T,
}

/// An atomically reference-counted pointer to a `T` (see the module docs).
pub(crate) struct Rc<T: ?Sized> {
    ptr: NonNull<RcInner<T>>,
    _owns: PhantomData<RcInner<T>>,
}

// SAFETY: as for `Arc`: clones on several threads share the `T`, so it must be `Sync`, and
// the last clone drops it wherever it is, so it must be `Send`. The count is atomic.
unsafe impl<T: ?Sized + Sync + Send> Send for Rc<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync + Send> Sync for Rc<T> {}

impl<T> Rc<T> {
    /// Moves `data` into a new allocation with a count of one.
    #[inline]
    pub(crate) fn new(data: T) -> Rc<T> {
        Rc::new_with(|| data)
    }

    /// Allocates, then builds the value in place with `make` (a large value built by the
    /// caller and then moved in costs a copy; built here, the compiler can write it
    /// straight into the block).
    #[inline(always)]
    pub(crate) fn new_with(make: impl FnOnce() -> T) -> Rc<T> {
        let layout = Layout::new::<RcInner<T>>();
        let p = block_alloc(layout).cast::<RcInner<T>>();
        // SAFETY: `p` is a fresh block of `layout`, which fits `RcInner<T>`. (If `make`
        // panics the block leaks, which is safe.)
        unsafe {
            (&raw mut (*p.as_ptr()).strong).write(AtomicUsize::new(1));
            (&raw mut (*p.as_ptr()).data).write(make());
        }
        Rc {
            ptr: p,
            _owns: PhantomData,
        }
    }
}

impl<T: ?Sized> Rc<T> {
    #[inline]
    fn inner(&self) -> &RcInner<T> {
        // SAFETY: our count keeps the allocation alive.
        unsafe { self.ptr.as_ref() }
    }

    /// The address of the value.
    #[inline]
    pub(crate) fn as_ptr(this: &Rc<T>) -> *const T {
        &this.inner().data
    }

    /// Whether both point at the same allocation.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn ptr_eq(a: &Rc<T>, b: &Rc<T>) -> bool {
        core::ptr::addr_eq(a.ptr.as_ptr(), b.ptr.as_ptr())
    }

    /// Takes over one count of the value `data` points at that no `Rc` stands for (one
    /// kept by `mem::forget`ting an `Rc`), without changing the count.
    ///
    /// # Safety
    /// `data` is the value of a live allocation, and the caller owns one count of it that
    /// no other `Rc` stands for (and nobody else takes over).
    #[inline]
    pub(crate) unsafe fn adopt(data: *const T) -> Rc<T> {
        // SAFETY: the caller's contract.
        unsafe { Self::from_data_ptr(data) }
    }

    /// A new owner of the value `data` points at.
    ///
    /// # Safety
    /// `data` is the value of a live `Rc<T>` (obtained from `Deref` or `as_ptr` of one
    /// that is still alive).
    #[inline]
    pub(crate) unsafe fn increment_and_get(data: *const T) -> Rc<T> {
        // SAFETY: the caller's contract; the count we add is the one the result owns.
        let this = unsafe { Self::from_data_ptr(data) };
        // Relaxed: as `Arc::clone`; the caller's reference keeps the count above zero.
        this.inner().strong.fetch_add(1, Ordering::Relaxed);
        this
    }

    /// An `Rc` for the value `data` points at, without touching the count.
    ///
    /// # Safety
    /// `data` is the value of a live `RcInner<T>`, and the caller accounts for the count
    /// the result will give up when dropped.
    #[inline]
    unsafe fn from_data_ptr(data: *const T) -> Rc<T> {
        // `data` is `&(*inner).data`, the field after one `AtomicUsize` in a `#[repr(C)]`
        // struct: at that size rounded up to the value's alignment (and to the count's).
        // SAFETY: per the contract `data` points into a live `RcInner<T>`, so it is valid
        // for `align_of_val`.
        let align = unsafe { core::mem::align_of_val(&*data) }.max(align_of::<AtomicUsize>());
        let offset = size_of::<AtomicUsize>().next_multiple_of(align);
        // `byte_sub` keeps the metadata (a vtable for `dyn`), and the cast keeps it too.
        let inner = data.wrapping_byte_sub(offset) as *mut RcInner<T>;
        Rc {
            // SAFETY: `inner` is the start of that live allocation, so not null.
            ptr: unsafe { NonNull::new_unchecked(inner) },
            _owns: PhantomData,
        }
    }

    /// Turns an `Rc<T>` into an `Rc<U>` of the same allocation, where `coerce` is the
    /// unsizing coercion (`|p| p` with the target type annotated), the one thing
    /// `CoerceUnsized` would do for us.
    ///
    /// # Panics
    /// If `coerce` returns a pointer to another address.
    #[inline]
    pub(crate) fn unsize<U: ?Sized>(
        this: Rc<T>,
        coerce: impl FnOnce(*mut RcInner<T>) -> *mut RcInner<U>,
    ) -> Rc<U> {
        let from = this.ptr.as_ptr();
        core::mem::forget(this);
        let to = coerce(from);
        assert!(core::ptr::addr_eq(from, to), "Rc::unsize must only coerce");
        Rc {
            // SAFETY: the same non-null address.
            ptr: unsafe { NonNull::new_unchecked(to) },
            _owns: PhantomData,
        }
    }

    #[cold]
    #[inline(never)]
    fn drop_slow(&mut self) {
        let inner = self.ptr.as_ptr();
        // SAFETY: we held the last count, so no one else can reach the value; it is valid
        // until we drop it.
        let layout = Layout::for_value(unsafe { &*inner });
        // SAFETY: as above; dropped once, here.
        unsafe { core::ptr::drop_in_place(&raw mut (*inner).data) };
        // SAFETY: the block came from `block_alloc(layout)` in `new` (the layout of a value
        // does not change with unsizing).
        unsafe { block_free(self.ptr.cast(), layout) };
    }
}

impl<T: ?Sized> Clone for Rc<T> {
    #[inline]
    fn clone(&self) -> Rc<T> {
        // Relaxed: as `Arc::clone`; our own reference keeps the count above zero.
        let old = self.inner().strong.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            std::process::abort(); // as Arc: a leak of clones, not a reachable count
        }
        Rc {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<T: ?Sized> Drop for Rc<T> {
    #[inline]
    fn drop(&mut self) {
        // Release: pairs with the acquire fence below in whichever thread drops the last
        // reference, so every use of the value through this clone happens before the drop.
        if self.inner().strong.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Acquire: pairs with the release decrements of the other clones (as `Arc`).
        fence(Ordering::Acquire);
        self.drop_slow();
    }
}

impl<T: ?Sized> Deref for Rc<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.inner().data
    }
}

// ---------------------------------------------------------------------------------------
// The per-thread block cache.

/// Blocks are cached in size classes of this granularity...
const CLASS_GRANULE: usize = 64;
/// ...up to this size; larger values go straight to the system allocator.
const MAX_CACHED_SIZE: usize = 2048;
const NUM_CLASSES: usize = MAX_CACHED_SIZE / CLASS_GRANULE;
/// Every cached block has this alignment (values that need more bypass the cache).
const CLASS_ALIGN: usize = 16;
/// Freed blocks a thread keeps per class; more go back to the system allocator.
pub(crate) const CACHED_PER_CLASS: usize = 4096;

/// The size class of `layout`, if it is cached.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    (layout.size() <= MAX_CACHED_SIZE && layout.align() <= CLASS_ALIGN)
        .then(|| layout.size().max(1).div_ceil(CLASS_GRANULE) - 1)
}

#[inline]
fn class_layout(class: usize) -> Layout {
    // 64..=2048 bytes, 16-aligned: always a valid layout.
    Layout::from_size_align((class + 1) * CLASS_GRANULE, CLASS_ALIGN).expect("valid class")
}

/// One thread's free blocks, by class.
struct BlockCache {
    classes: [Vec<NonNull<u8>>; NUM_CLASSES],
}

impl Drop for BlockCache {
    fn drop(&mut self) {
        for (class, blocks) in self.classes.iter_mut().enumerate() {
            for block in blocks.drain(..) {
                // SAFETY: every cached block of this class was allocated with its layout.
                unsafe { dealloc(block.as_ptr(), class_layout(class)) };
            }
        }
    }
}

thread_local! {
    static CACHE: RefCell<BlockCache> = const {
        RefCell::new(BlockCache { classes: [const { Vec::new() }; NUM_CLASSES] })
    };
}

/// Blocks a thread moves to, or takes from, the depot at once.
const DEPOT_BATCH: usize = 1024;
/// Batches the depot keeps per class; more go back to the system allocator.
const DEPOT_BATCHES: usize = 8;

/// A batch of free blocks of one class, in the depot.
struct Batch(Vec<NonNull<u8>>);

// SAFETY: free blocks are plain memory owned by whoever holds the batch.
unsafe impl Send for Batch {}

/// Batches of free blocks shared by all threads, for when one thread frees what another
/// allocates (a fiber spawned on one worker and finished on another): a thread whose
/// cache is full moves a batch here, and a thread whose cache is empty takes one, one
/// lock per batch. Without it the allocating thread goes back to the system allocator
/// for every block, and glibc grows and shrinks its heap a page at a time.
static DEPOT: [std::sync::Mutex<Vec<Batch>>; NUM_CLASSES] =
    [const { std::sync::Mutex::new(Vec::new()) }; NUM_CLASSES];

fn depot(class: usize) -> std::sync::MutexGuard<'static, Vec<Batch>> {
    // Only pushes and pops of whole batches happen under the lock: a panic cannot leave
    // it half done.
    DEPOT[class].lock().unwrap_or_else(|e| e.into_inner())
}

/// A block for `layout`: a cached one if this thread (or the depot) has one of its class.
#[inline]
fn block_alloc(layout: Layout) -> NonNull<u8> {
    let (layout, cached) = match class_of(layout) {
        Some(class) => {
            // `try_with`: during thread teardown the cache may be gone already.
            let cached = CACHE
                .try_with(|c| {
                    let mut cache = c.try_borrow_mut().ok()?;
                    let blocks = &mut cache.classes[class];
                    if blocks.is_empty() {
                        refill(blocks, class);
                    }
                    blocks.pop()
                })
                .ok()
                .flatten();
            (class_layout(class), cached)
        }
        None => (layout, None),
    };
    cached.unwrap_or_else(|| {
        // SAFETY: `layout` has a non-zero size (an `RcInner` holds at least its count).
        NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
    })
}

#[cold]
fn refill(blocks: &mut Vec<NonNull<u8>>, class: usize) {
    if let Some(Batch(batch)) = depot(class).pop() {
        // `blocks` is empty: take the batch's buffer as it is.
        *blocks = batch;
    }
}

/// Gives back a block from `block_alloc(layout)`.
///
/// # Safety
/// `block` came from `block_alloc` with this `layout` and is not used again.
#[inline]
unsafe fn block_free(block: NonNull<u8>, layout: Layout) {
    let layout = match class_of(layout) {
        Some(class) => {
            let kept = CACHE
                .try_with(|c| {
                    let Ok(mut cache) = c.try_borrow_mut() else {
                        return false;
                    };
                    let blocks = &mut cache.classes[class];
                    if blocks.len() >= CACHED_PER_CLASS {
                        spill(blocks, class);
                    }
                    blocks.push(block);
                    true
                })
                .unwrap_or(false);
            if kept {
                return;
            }
            class_layout(class)
        }
        None => layout,
    };
    // SAFETY: allocated by `alloc` with this layout (its class's, when cached).
    unsafe { dealloc(block.as_ptr(), layout) };
}

/// Moves a batch out of a full cache: to the depot, or back to the system allocator if
/// the depot is full too.
#[cold]
fn spill(blocks: &mut Vec<NonNull<u8>>, class: usize) {
    let batch = blocks.split_off(blocks.len() - DEPOT_BATCH);
    let mut depot = depot(class);
    if depot.len() < DEPOT_BATCHES {
        depot.push(Batch(batch));
        return;
    }
    drop(depot);
    for block in batch {
        // SAFETY: every cached block of this class was allocated with its layout.
        unsafe { dealloc(block.as_ptr(), class_layout(class)) };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as Counter;

    struct CountsDrops<'a>(&'a Counter, u64);
    impl Drop for CountsDrops<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    trait Value: Send + Sync {
        fn value(&self) -> u64;
    }
    impl Value for CountsDrops<'_> {
        fn value(&self) -> u64 {
            self.1
        }
    }

    #[test]
    fn clones_share_and_the_last_drop_drops_once() {
        static DROPS: Counter = Counter::new(0);
        let a = Rc::new(CountsDrops(&DROPS, 7));
        let b = a.clone();
        assert!(Rc::ptr_eq(&a, &b));
        drop(a);
        assert_eq!(DROPS.load(Ordering::Relaxed), 0);
        assert_eq!(b.1, 7);
        drop(b);
        assert_eq!(DROPS.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn unsize_and_increment_through_a_dyn_pointer() {
        static DROPS: Counter = Counter::new(0);
        let a = Rc::new(CountsDrops(&DROPS, 9));
        let d: Rc<dyn Value> = Rc::unsize(a, |p| p as *mut RcInner<dyn Value>);
        assert_eq!(d.value(), 9);
        // SAFETY: `d` is alive.
        let e = unsafe { Rc::increment_and_get(Rc::as_ptr(&d)) };
        assert!(Rc::ptr_eq(&d, &e));
        assert_eq!(e.value(), 9);
        drop(d);
        assert_eq!(DROPS.load(Ordering::Relaxed), 0);
        drop(e);
        assert_eq!(DROPS.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn freed_blocks_are_reused_on_the_same_thread() {
        let a = Rc::new([0u64; 20]);
        let addr = Rc::as_ptr(&a) as usize;
        drop(a);
        let b = Rc::new([1u64; 20]);
        assert_eq!(Rc::as_ptr(&b) as usize, addr, "the cached block came back");
        // Over-aligned and large values bypass the cache and still work.
        #[repr(align(64))]
        struct Aligned(u8);
        let c = Rc::new(Aligned(3));
        assert_eq!(Rc::as_ptr(&c) as usize % 64, 0);
        assert_eq!(c.0, 3);
        let big = Rc::new([7u8; 4096]);
        assert_eq!(big[4095], 7);
    }

    #[test]
    fn blocks_freed_on_one_thread_are_reused_by_another() {
        // One thread allocates, another frees: the freeing thread's cache spills into the
        // depot, from which the allocating thread refills.
        let n = CACHED_PER_CLASS + 2 * DEPOT_BATCH;
        let (tx, rx) = std::sync::mpsc::channel::<Vec<Rc<[u64; 40]>>>();
        let freer = std::thread::spawn(move || {
            for batch in rx {
                drop(batch);
            }
        });
        let first: Vec<_> = (0..n).map(|_| Rc::new([0u64; 40])).collect();
        let addrs: std::collections::HashSet<usize> =
            first.iter().map(|r| Rc::as_ptr(r) as usize).collect();
        tx.send(first).unwrap();
        drop(tx);
        freer.join().unwrap();
        // The depot now holds batches of those blocks; this thread's cache is empty.
        let again: Vec<_> = (0..DEPOT_BATCH).map(|_| Rc::new([1u64; 40])).collect();
        let reused = again
            .iter()
            .filter(|r| addrs.contains(&(Rc::as_ptr(r) as usize)))
            .count();
        assert!(reused >= DEPOT_BATCH / 2, "only {reused} blocks came back");
    }

    #[test]
    fn dropped_on_another_thread() {
        static DROPS: Counter = Counter::new(0);
        let a = Rc::new(CountsDrops(&DROPS, 1));
        let b = a.clone();
        std::thread::spawn(move || drop(b)).join().unwrap();
        drop(a);
        assert_eq!(DROPS.load(Ordering::Relaxed), 1);
        let many: Vec<_> = (0..10_000).map(|i| Rc::new(i as u64)).collect();
        std::thread::spawn(move || drop(many)).join().unwrap();
    }
}
