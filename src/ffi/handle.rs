//! Opaque handles that can tell a live object from a null, destroyed, or wrong-type one.
//!
//! Every handle is a [`Slot`]: a type tag (`magic`) followed by the object. Destroying a
//! handle flips its tag to `DEAD` and keeps the slot's memory in a per-type free list,
//! which later creations of that type reuse, so the slot is never returned to the
//! allocator. Reading the tag of a destroyed handle therefore reads live memory, and a
//! use after destroy is reported as `FIBRA_EINVAL` until the slot is reused by a new
//! object of the same type (after which the old pointer names the new object: that case
//! cannot be told apart, and the header says so). The memory kept is bounded by the peak
//! number of live handles of each type.
//!
//! The object itself sits behind an `Arc`, and every call works on its own clone: a call
//! that has started keeps the object alive even if another thread destroys the handle
//! meanwhile. That is what makes the usual C patterns sound: a waiter woken by
//! `fibra_waitgroup_done` (or `fibra_event_set`, `fibra_mutex_unlock`, ...) may destroy
//! the object while the signalling call is still finishing inside it.

use super::error::FIBRA_EINVAL;
use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The tag of a destroyed slot.
const DEAD: u64 = 0xdead_f1b4_dead_f1b4;

/// A handle's memory: its type tag, then its object while live.
#[repr(C)]
pub(super) struct Slot<T> {
    /// `T`'s tag while live, `DEAD` after destroy. First field (`repr(C)`), so a handle of
    /// another type is read at the same offset and rejected.
    magic: AtomicU64,
    /// Written by `create` before the tag is published and taken by `destroy` after the
    /// tag was retracted; only read (cloned) in between.
    value: UnsafeCell<Option<Arc<T>>>,
}

// SAFETY: the slot hands out `&T` to any thread (T: Sync) and moves T in and out on
// create / destroy (T: Send); the tag is atomic.
unsafe impl<T: Send + Sync> Sync for Slot<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Slot<T> {}

/// One C handle type: its tag and its free list.
pub(super) trait Handle: Sized + Send + 'static {
    /// What the handle holds.
    type Value: Send + Sync;
    /// Distinct per type, never `DEAD`.
    const MAGIC: u64;
    /// Destroyed slots of this type, waiting for reuse.
    fn free_list() -> &'static StdMutex<Vec<Box<Self>>>;
    /// A new, empty slot (`Slot::empty()` inside the handle type).
    fn empty() -> Self;
    /// The handle's slot.
    fn slot(&self) -> &Slot<Self::Value>;
}

impl<T> Slot<T> {
    pub(super) const fn empty() -> Self {
        Slot {
            magic: AtomicU64::new(DEAD),
            value: UnsafeCell::new(None),
        }
    }
}

/// Boxes `value` as a live handle (reusing a destroyed slot if there is one).
pub(super) fn create<H: Handle>(value: H::Value) -> *mut H {
    let reused = H::free_list()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop();
    let b = reused.unwrap_or_else(|| Box::new(H::empty()));
    let slot = b.slot();
    // SAFETY: the slot is dead and ours alone (fresh, or popped from the free list), so
    // nobody reads `value` until the tag below publishes it.
    unsafe { *slot.value.get() = Some(Arc::new(value)) };
    // Release: pairs with the Acquire load in `get`, so whoever sees the tag sees `value`.
    slot.magic.store(H::MAGIC, Ordering::Release);
    Box::into_raw(b)
}

/// The object behind a live handle (a counted reference of the caller's own).
///
/// # Safety
/// `h` is null or a pointer returned by [`create`] for this `H` (live or destroyed), and
/// no `destroy` of it runs concurrently with this call.
#[inline]
pub(super) unsafe fn get<H: Handle>(h: *const H) -> Result<Arc<H::Value>, c_int> {
    if h.is_null() {
        return Err(FIBRA_EINVAL);
    }
    // SAFETY: by the contract `h` came from `create`, and slots are never freed.
    let slot = unsafe { (*h).slot() };
    // Acquire: pairs with the Release store in `create`.
    if slot.magic.load(Ordering::Acquire) != H::MAGIC {
        return Err(FIBRA_EINVAL);
    }
    // SAFETY: the tag is live, so `value` was written before it and is only taken after
    // the tag is retracted, which the contract rules out during this call.
    match unsafe { &*slot.value.get() } {
        Some(v) => Ok(Arc::clone(v)),
        None => Err(FIBRA_EINVAL),
    }
}

/// Retracts a live handle and takes its object out; the slot goes to the free list. A
/// second destroy, or any use after, gives `FIBRA_EINVAL`. Calls still under way keep
/// their own references: the object is dropped with the last one.
///
/// # Safety
/// As for [`get`]; besides, no other `get` or `destroy` of it runs concurrently (calls
/// that already got their reference may still be running).
pub(super) unsafe fn destroy<H: Handle>(h: *mut H) -> Result<Arc<H::Value>, c_int> {
    if h.is_null() {
        return Err(FIBRA_EINVAL);
    }
    // SAFETY: by the contract `h` came from `create`, and slots are never freed.
    let slot = unsafe { (*h).slot() };
    // Acquire: pairs with the Release in `create` (we take `value`); one CAS, so of two
    // racing destroys only one wins.
    if slot
        .magic
        .compare_exchange(H::MAGIC, DEAD, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return Err(FIBRA_EINVAL);
    }
    // SAFETY: we retracted the tag, so no `get` hands out the value any more, and the
    // contract says no call still uses an earlier reference.
    let value = unsafe { (*slot.value.get()).take() };
    // SAFETY: `h` came from `Box::into_raw` in `create`; the tag is DEAD, so nothing will
    // use it as live again until `create` reuses it.
    let b = unsafe { Box::from_raw(h) };
    H::free_list()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(b);
    value.ok_or(FIBRA_EINVAL)
}

/// As [`destroy`], for objects that must be dropped by the destroyer itself (a runtime,
/// a join handle, a coroutine): waits until calls still under way have let go of it.
///
/// # Safety
/// As for [`destroy`].
pub(super) unsafe fn destroy_owned<H: Handle>(h: *mut H) -> Result<H::Value, c_int> {
    // SAFETY: the caller's contract is `destroy`'s.
    let mut arc = unsafe { destroy(h) }?;
    let mut spins = 0u32;
    loop {
        match Arc::try_unwrap(arc) {
            Ok(v) => return Ok(v),
            Err(again) => arc = again,
        }
        // A call that got its reference just before the destroy (on another thread)
        // is finishing; these calls are short, except a `fibra_block_on`.
        spins += 1;
        if spins < 100 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// Implements [`Handle`] for an opaque C handle type `$name { slot: Slot<$value> }`
/// (declared by hand, so that cbindgen sees it).
macro_rules! handle_impl {
    ($name:ident, $value:ty, $magic:expr) => {
        impl $crate::ffi::handle::Handle for $name {
            type Value = $value;
            const MAGIC: u64 = $magic;
            fn free_list() -> &'static ::std::sync::Mutex<Vec<Box<Self>>> {
                static FREE: ::std::sync::Mutex<Vec<Box<$name>>> =
                    ::std::sync::Mutex::new(Vec::new());
                &FREE
            }
            fn empty() -> Self {
                $name {
                    slot: $crate::ffi::handle::Slot::empty(),
                }
            }
            fn slot(&self) -> &$crate::ffi::handle::Slot<$value> {
                &self.slot
            }
        }
    };
}
pub(super) use handle_impl;

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe {
        slot: Slot<u32>,
    }
    handle_impl!(Probe, u32, 0x0f1b_7a00_0000_00f0);

    struct Other {
        slot: Slot<u32>,
    }
    handle_impl!(Other, u32, 0x0f1b_7a00_0000_00f1);

    #[test]
    fn destroyed_null_and_foreign_handles_are_refused() {
        let h = create::<Probe>(7);
        // In this test every pointer came from `create` (or is null) and nothing runs
        // concurrently: the contract of `get` and `destroy`.
        // SAFETY: see above.
        let v = unsafe { get(h) }.unwrap();
        assert_eq!(*v, 7);
        drop(v);
        // SAFETY: see above; a handle of another type is read at the same offset.
        let foreign = unsafe { get(h.cast::<Other>()) };
        assert_eq!(foreign.err(), Some(FIBRA_EINVAL));
        // SAFETY: see above.
        let null = unsafe { get::<Probe>(std::ptr::null()) };
        assert_eq!(null.err(), Some(FIBRA_EINVAL));
        // SAFETY: see above.
        let owned = unsafe { destroy_owned(h) };
        assert_eq!(owned, Ok(7));
        // SAFETY: see above; slots are never freed.
        let after = unsafe { get(h) };
        assert_eq!(after.err(), Some(FIBRA_EINVAL));
        // SAFETY: see above.
        let twice = unsafe { destroy(h) };
        assert_eq!(twice.err(), Some(FIBRA_EINVAL));
    }

    #[test]
    fn a_reference_outlives_the_destroy() {
        let h = create::<Probe>(9);
        // SAFETY: as above.
        let r = unsafe { get(h) }.unwrap();
        // SAFETY: as above; `r` was taken before the destroy, as the contract allows.
        drop(unsafe { destroy(h) }.unwrap());
        assert_eq!(*r, 9);
    }
}
