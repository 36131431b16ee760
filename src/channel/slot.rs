//! A waiter's message slot, and the untyped pointer to it that the waiter's wait node
//! carries.
//!
//! A blocked receiver's slot is where the sender that serves it puts the message; a blocked
//! sender's slot holds the message the receiver that serves it takes. The slot lives with
//! the waiter (on its stack, or in its select arm) and is touched by exactly one party at a
//! time: the owner, except between a notifier winning the claim of the owner's signal and
//! completing it, when the notifier alone touches it.

use crate::loom::UnsafeCell;
use std::ptr::NonNull;

/// A waiter's message slot (see the module docs).
pub(crate) struct Slot<T>(UnsafeCell<Option<T>>);

/// The address of a waiter's [`Slot`], kept as its wait node's data. Untyped so that the
/// nodes of a select over channels of different message types form one array; the channel
/// whose wait list holds the node knows the type.
#[derive(Clone, Copy)]
pub(crate) struct SlotPtr(NonNull<()>);

// SAFETY: a `SlotPtr` is only dereferenced (`put`, `take`) by the code of the channel whose
// wait list holds it, for that channel's message type `T`, under that channel's lock. A
// channel can be reached from another thread only through handles that are `Send`/`Sync`
// when `T: Send`, so the messages that move through the pointer may cross threads.
unsafe impl Send for SlotPtr {}

impl SlotPtr {
    /// A placeholder for a node not linked yet (never dereferenced).
    #[inline]
    pub(crate) fn dangling() -> SlotPtr {
        SlotPtr(NonNull::dangling())
    }

    /// Puts a message into the slot (a receiver's, being served).
    ///
    /// # Safety
    /// `self` came from [`Slot::ptr`] of a `Slot<T>` (this `T`) that is alive, and the caller
    /// won the claim of the slot owner's signal and has not completed it yet.
    #[inline]
    pub(crate) unsafe fn put<T>(self, value: T) {
        // SAFETY: per the contract the slot is a live `Slot<T>` and we alone touch it now.
        let slot = unsafe { self.0.cast::<Slot<T>>().as_ref() };
        // SAFETY: as above.
        slot.0.with_mut(|p| unsafe { *p = Some(value) });
    }

    /// Takes the message out of the slot (a sender's, being served).
    ///
    /// # Safety
    /// As [`SlotPtr::put`].
    #[inline]
    pub(crate) unsafe fn take<T>(self) -> Option<T> {
        // SAFETY: per the contract the slot is a live `Slot<T>` and we alone touch it now.
        let slot = unsafe { self.0.cast::<Slot<T>>().as_ref() };
        // SAFETY: as above.
        slot.0.with_mut(|p| unsafe { (*p).take() })
    }
}

impl<T> Slot<T> {
    /// A slot holding `value` (a sender's message, or `None` for a receiver).
    #[inline]
    pub(crate) fn new(value: Option<T>) -> Slot<T> {
        Slot(UnsafeCell::new(value))
    }

    /// The pointer a wait node carries. Dereferencing it is unsafe (see [`SlotPtr::put`]).
    #[inline]
    pub(crate) fn ptr(&self) -> SlotPtr {
        SlotPtr(NonNull::from(self).cast())
    }

    /// Takes the message out, as the owner.
    ///
    /// # Safety
    /// No notifier may be touching the slot: no node carrying its pointer is linked, and no
    /// claim of the owner's signal is between its win and its completion (the owner saw
    /// the signal DONE, or won it itself, or took the lock the node was linked under after
    /// unlinking it).
    #[inline]
    pub(crate) unsafe fn take(&self) -> Option<T> {
        // SAFETY: per the contract the owner alone touches the slot now.
        self.0.with_mut(|p| unsafe { (*p).take() })
    }

    /// Puts a message in, as the owner.
    ///
    /// # Safety
    /// As [`Slot::take`].
    #[inline]
    pub(crate) unsafe fn put(&self, value: T) {
        // SAFETY: per the contract the owner alone touches the slot now.
        self.0.with_mut(|p| unsafe { *p = Some(value) });
    }

    /// Whether the slot holds a message, as the owner.
    ///
    /// # Safety
    /// As [`Slot::take`].
    #[inline]
    pub(crate) unsafe fn is_full(&self) -> bool {
        // SAFETY: per the contract the owner alone touches the slot now.
        self.0.with(|p| unsafe { (*p).is_some() })
    }

    /// The message, consuming the slot (nothing can point at a slot being moved).
    #[inline]
    pub(crate) fn into_inner(self) -> Option<T> {
        // SAFETY: we own the slot by value; a node still pointing at it would already have
        // broken the contract of whoever linked it (nodes never outlive their slot's place).
        self.0.with_mut(|p| unsafe { (*p).take() })
    }
}
