//! The two kinds of select arm: receive from a channel, send a message to one.

use super::chan::Registration;
use super::errors::{RecvError, SendError};
use super::receiver::Receiver;
use super::select_core::ArmOps;
use super::sender::Sender;
use super::slot::Slot;
use super::state::{RecvBlocked, SendBlocked, WaitNode};

/// A select arm that receives from `rx`; its slot gets the message.
pub struct RecvArm<'a, T> {
    pub(crate) rx: &'a Receiver<T>,
    pub(crate) slot: Slot<T>,
}

/// A select arm that sends the message in its slot to `tx`. The message is evaluated
/// when the arm is made, before the select runs; if another arm is chosen, it is dropped
/// with the arm.
pub struct SendArm<'a, T> {
    pub(crate) tx: &'a Sender<T>,
    pub(crate) slot: Slot<T>,
}

/// What a select arm does, for a dynamic select to check what it is asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Recv,
    Send,
}

impl<'a, T> RecvArm<'a, T> {
    /// An arm receiving from `rx`.
    #[inline]
    pub fn new(rx: &'a Receiver<T>) -> Self {
        RecvArm {
            rx,
            slot: Slot::new(None),
        }
    }

    /// The arm's outcome once the select chose it: the message, or `RecvError` if the
    /// channel was empty and disconnected.
    #[inline]
    pub fn into_result(self) -> Result<T, RecvError> {
        self.slot.into_inner().ok_or(RecvError)
    }
}

impl<'a, T> SendArm<'a, T> {
    /// An arm sending `value` to `tx`.
    #[inline]
    pub fn new(tx: &'a Sender<T>, value: T) -> Self {
        SendArm {
            tx,
            slot: Slot::new(Some(value)),
        }
    }

    /// The arm's outcome once the select chose it: sent, or `SendError` with the message
    /// if every receiver was gone.
    #[inline]
    pub fn into_result(self) -> Result<(), SendError<T>> {
        match self.slot.into_inner() {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        }
    }
}

impl<T> ArmOps for RecvArm<'_, T> {
    unsafe fn prepare(&self) {
        // A dynamic select's message that was never taken: gone now.
        // SAFETY: the caller's contract (nothing of ours is linked).
        drop(unsafe { self.slot.take() });
    }

    unsafe fn is_active(&self) -> bool {
        true
    }

    unsafe fn try_complete(&self) -> bool {
        match self.rx.chan.try_recv() {
            Ok(v) => {
                // SAFETY: the caller's contract: no node carries our slot.
                unsafe { self.slot.put(v) };
                true
            }
            Err(RecvBlocked::Disconnected) => true,
            Err(RecvBlocked::Empty) => false,
        }
    }

    unsafe fn register(&self, node: &WaitNode) -> Registration {
        // SAFETY: the caller's contract covers `register_recv`'s (the arm, holding the
        // slot, stays in place while the node may be linked).
        unsafe { self.rx.chan.register_recv(&self.slot, node) }
    }

    unsafe fn unregister(&self, node: &WaitNode) {
        // SAFETY: the caller's contract: the node was registered on our channel's
        // receiver list, if linked.
        unsafe { self.rx.chan.unregister_recv(node) }
    }

    unsafe fn was_served(&self) -> bool {
        // SAFETY: the caller's contract: the notifier is done with the slot.
        unsafe { self.slot.is_full() }
    }

    fn kind(&self) -> Kind {
        Kind::Recv
    }

    fn channel_id(&self) -> *const () {
        self.rx.chan.id()
    }
}

impl<T> ArmOps for SendArm<'_, T> {
    unsafe fn prepare(&self) {}

    unsafe fn is_active(&self) -> bool {
        // SAFETY: the caller's contract: no node carries our slot.
        unsafe { self.slot.is_full() }
    }

    unsafe fn try_complete(&self) -> bool {
        // SAFETY: the caller's contract: no node carries our slot.
        let Some(value) = (unsafe { self.slot.take() }) else {
            return false;
        };
        match self.tx.chan.try_send(value) {
            Ok(()) => true,
            Err(SendBlocked::Disconnected(v)) => {
                // SAFETY: as above.
                unsafe { self.slot.put(v) };
                true
            }
            Err(SendBlocked::Full(v)) => {
                // SAFETY: as above.
                unsafe { self.slot.put(v) };
                false
            }
        }
    }

    unsafe fn register(&self, node: &WaitNode) -> Registration {
        // SAFETY: the caller's contract covers `register_send`'s.
        unsafe { self.tx.chan.register_send(&self.slot, node) }
    }

    unsafe fn unregister(&self, node: &WaitNode) {
        // SAFETY: the caller's contract: the node was registered on our channel's sender
        // list, if linked.
        unsafe { self.tx.chan.unregister_send(node) }
    }

    unsafe fn was_served(&self) -> bool {
        // SAFETY: the caller's contract: the notifier is done with the slot.
        !unsafe { self.slot.is_full() }
    }

    fn kind(&self) -> Kind {
        Kind::Send
    }

    fn channel_id(&self) -> *const () {
        self.tx.chan.id()
    }
}
