//! What a channel's lock protects, and the operations done under it.
//!
//! Invariants (under the lock):
//! - A live (unclaimed) receiver waits only while the buffer is empty and no live sender
//!   waits: receivers link only then, and a send serves a waiting receiver before it
//!   buffers anything.
//! - A live sender waits only while the buffer is full (always, for a rendezvous): a
//!   receive that frees a place refills it from the oldest waiting sender, so FIFO order
//!   holds.
//! - Every waiting sender holds a `Sender`, so none waits once `senders` is zero, and
//!   nothing joins the buffer after that.

use super::slot::SlotPtr;
use crate::sync::signal::{Signal, Waker};
use crate::sync::wait_list::{Node, WaitList};
use std::collections::VecDeque;
use std::ptr::NonNull;

/// A channel's wait-list node: its data is the waiter's message slot.
pub(crate) type WaitNode = Node<SlotPtr>;

/// The state behind a channel's lock.
pub(crate) struct State<T> {
    /// Buffered messages, oldest first (always empty for a rendezvous channel).
    pub(crate) buffer: VecDeque<T>,
    /// Blocked receivers; each node's slot is where a sender puts the message.
    pub(crate) receivers_waiting: WaitList<SlotPtr>,
    /// Blocked senders; each node's slot holds the message to take.
    pub(crate) senders_waiting: WaitList<SlotPtr>,
    /// Live `Sender` handles; zero means disconnected for receivers.
    pub(crate) senders: usize,
    /// Live `Receiver` handles; zero means disconnected for senders.
    pub(crate) receivers: usize,
}

/// Why a send could not complete without waiting (the message is handed back).
pub(crate) enum SendBlocked<T> {
    Full(T),
    Disconnected(T),
}

/// Why a receive could not complete without waiting.
pub(crate) enum RecvBlocked {
    Empty,
    Disconnected,
}

impl<T> State<T> {
    /// A state with one sender and one receiver, buffering up to `cap` messages.
    pub(crate) fn new(cap: usize) -> Self {
        State {
            // Pre-size small buffers; big ones grow as they fill.
            buffer: VecDeque::with_capacity(cap.min(1024)),
            receivers_waiting: WaitList::new(),
            senders_waiting: WaitList::new(),
            senders: 1,
            receivers: 1,
        }
    }

    /// Hands `value` to a waiting receiver or buffers it. Returns the waker of the
    /// receiver served, to wake after dropping the lock.
    #[inline]
    pub(crate) fn try_send(
        &mut self,
        cap: usize,
        value: T,
    ) -> Result<Option<Waker>, SendBlocked<T>> {
        if self.receivers == 0 {
            return Err(SendBlocked::Disconnected(value));
        }
        if let Some(node) = self.receivers_waiting.pop_claimed() {
            // SAFETY: just won by `pop_claimed` under our lock; nodes of this list carry
            // `Slot<T>` pointers of this channel's `T`.
            return Ok(Some(unsafe { serve_receiver(node, value) }));
        }
        if self.buffer.len() < cap {
            self.buffer.push_back(value);
            return Ok(None);
        }
        Err(SendBlocked::Full(value))
    }

    /// Takes the oldest message: from the buffer (refilling it from a waiting sender), or
    /// straight from a waiting sender. Also returns the waker of the sender served.
    #[inline]
    pub(crate) fn try_recv(&mut self) -> Result<(T, Option<Waker>), RecvBlocked> {
        if let Some(value) = self.buffer.pop_front() {
            let waker = self.refill();
            return Ok((value, waker));
        }
        if let Some(node) = self.senders_waiting.pop_claimed() {
            // SAFETY: just won by `pop_claimed` under our lock; nodes of this list carry
            // `Slot<T>` pointers of this channel's `T`.
            let (value, waker) = unsafe { serve_sender(node) };
            return Ok((value, Some(waker)));
        }
        if self.senders == 0 {
            return Err(RecvBlocked::Disconnected);
        }
        Err(RecvBlocked::Empty)
    }

    /// After a message left the buffer: moves the oldest waiting sender's message in.
    #[inline]
    pub(crate) fn refill(&mut self) -> Option<Waker> {
        if self.senders_waiting.is_empty() {
            return None;
        }
        let node = self.senders_waiting.pop_claimed()?;
        // SAFETY: just won by `pop_claimed` under our lock; nodes of this list carry
        // `Slot<T>` pointers of this channel's `T`.
        let (value, waker) = unsafe { serve_sender(node) };
        self.buffer.push_back(value);
        Some(waker)
    }

    /// Whether a receive would complete now (a message, or disconnection).
    pub(crate) fn can_recv(&self) -> bool {
        !self.buffer.is_empty() || self.senders == 0
    }
}

/// Puts `value` into a claimed receiver's slot and completes its wait.
///
/// # Safety
/// The caller won `node`'s claim (and has not completed it), under the lock of the channel
/// whose receiver list held it; the channel's message type is `T`.
#[inline]
pub(crate) unsafe fn serve_receiver<T>(node: NonNull<WaitNode>, value: T) -> Waker {
    // SAFETY: a claimed, uncompleted node's waiter is still waiting, so the node is alive.
    let node = unsafe { node.as_ref() };
    // SAFETY: the slot belongs to that waiter, who does not touch it until we complete;
    // it is a `Slot<T>` (the caller's contract).
    unsafe { node.data().put(value) };
    // SAFETY: we won the claim and complete it once; the node is not touched after.
    unsafe { node.signal().complete() }
}

/// Takes the message out of a claimed sender's slot and completes its wait.
///
/// # Safety
/// As [`serve_receiver`], for the channel's sender list.
#[inline]
pub(crate) unsafe fn serve_sender<T>(node: NonNull<WaitNode>) -> (T, Waker) {
    // SAFETY: a claimed, uncompleted node's waiter is still waiting, so the node is alive.
    let node = unsafe { node.as_ref() };
    // SAFETY: the slot belongs to that waiter, who does not touch it until we complete;
    // it is a `Slot<T>` (the caller's contract).
    let value = unsafe { node.data().take::<T>() };
    // SAFETY: we won the claim and complete it once; the node is not touched after.
    let waker = unsafe { node.signal().complete() };
    // A waiting sender's slot holds its message until it is served or the sender itself
    // takes it back after unlinking its node.
    (
        value.expect("fibra: a waiting sender had no message"),
        waker,
    )
}

/// Completes a claimed waiter without touching its slot: the waiter finds its slot as it
/// left it and looks at the channel again (a disconnection, or a select that claimed it
/// and then lost its own claim).
///
/// # Safety
/// The caller won `node`'s claim and has not completed it, under the lock of the channel
/// whose list held it.
#[inline]
pub(crate) unsafe fn release(node: NonNull<WaitNode>) -> Waker {
    // SAFETY: a claimed, uncompleted node is alive; we complete once, and stop touching it.
    unsafe { node.as_ref().signal().complete() }
}

/// As `WaitList::pop_claimed`, for a select that has nodes of its own (with signal `own`)
/// in this list: those are passed over (moved to the back), since a select cannot be its
/// own counterpart.
pub(crate) fn pop_peer(list: &mut WaitList<SlotPtr>, own: &Signal) -> Option<NonNull<WaitNode>> {
    let mut first_own: Option<NonNull<WaitNode>> = None;
    while let Some(node) = list.pop_front() {
        // SAFETY: just unlinked under the list's lock and not claimed by us: its waiter is
        // still waiting, or about to take the lock to remove it; alive either way.
        let node_ref = unsafe { node.as_ref() };
        // SAFETY: as above.
        let signal = unsafe { node_ref.signal() };
        if std::ptr::eq(signal, own) {
            // SAFETY: our own node, alive while our select runs; it was linked here.
            unsafe { list.push_back(node_ref) };
            if first_own == Some(node) {
                return None; // went round: only our own nodes are left
            }
            first_own.get_or_insert(node);
            continue;
        }
        if signal.try_claim(node_ref.tag()) {
            return Some(node);
        }
    }
    None
}
