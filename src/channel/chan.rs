//! The state a channel's handles share, and its operations: the fast paths (one lock
//! round trip), the blocking slow paths, disconnection, and a select arm's registration.
//!
//! Waiting follows [`crate::sync`]: a blocked operation puts a `Signal`, a wait node and its
//! message slot on its stack, links the node under the channel's lock, and waits. The
//! operation that serves it (under the lock) claims the signal, moves the message into or
//! out of the slot, and completes the signal; it wakes the waiter after unlocking. A waiter
//! that finds its slot as it left it was woken without being served (disconnection, or a
//! select that released it) and simply tries again.

use super::slot::{Slot, SlotPtr};
use super::state::{self, RecvBlocked, SendBlocked, State, WaitNode};
use crate::sync::signal::{Deadline, Signal, TIMED_OUT, Waker};
use crate::sync::spin_lock::{SpinGuard as MutexGuard, SpinLock as Mutex};
use crate::sync::wait_list::WaitList;

/// What a blocking send or receive may end with, besides success.
pub(crate) enum Failure {
    Timeout,
    Disconnected,
}

/// How registering a select arm on its channel ended.
pub(crate) enum Registration {
    /// The arm's node is linked and waits.
    Linked,
    /// The arm could complete at once: it won its select's signal and completed the
    /// operation (or found the channel disconnected).
    Completed,
    /// The select's signal was already claimed (another arm won): nothing was done.
    Lost,
}

/// The shared state of one channel.
pub(crate) struct Chan<T> {
    state: Mutex<State<T>>,
    /// How many messages the buffer holds; `usize::MAX` for unbounded.
    cap: usize,
}

/// Which of a channel's wait lists a node is in.
#[derive(Clone, Copy)]
enum Side {
    Senders,
    Receivers,
}

impl<T> State<T> {
    fn list(&mut self, side: Side) -> &mut WaitList<SlotPtr> {
        match side {
            Side::Senders => &mut self.senders_waiting,
            Side::Receivers => &mut self.receivers_waiting,
        }
    }
}

/// Wakes what an operation served, if anything (after its lock is dropped).
#[inline]
fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

/// Whether `deadline` has passed: a blocked operation then gives up without linking. Under
/// loom it never has here, so that the models race the wait's own cancel instead.
#[inline]
pub(crate) fn deadline_passed(deadline: Deadline) -> bool {
    #[cfg(not(loom))]
    return deadline.is_some_and(|d| std::time::Instant::now() >= d);
    #[cfg(loom)]
    {
        let _ = deadline;
        false
    }
}

/// A timed send or receive gives up without having suspended (its deadline passed
/// before it could wait): let the worker's other fibers run once, since a fiber that
/// retries in a loop would otherwise keep its worker from running the fibers that could
/// make room or send (a cooperative scheduler's livelock; found by `channel_stress`).
fn timed_out_without_waiting() {
    #[cfg(not(loom))]
    crate::runtime::fiber::yield_if_in_fiber();
}

/// Unlinks a blocked operation's node if the frame holding it unwinds while it may be
/// linked (a fiber dropped at runtime shutdown unwinds from inside its wait).
struct LinkedGuard<'a, T> {
    chan: &'a Chan<T>,
    side: Side,
    node: &'a WaitNode,
    signal: &'a Signal,
}

impl<T> LinkedGuard<'_, T> {
    /// The wait ended normally; the caller deals with the node.
    #[inline]
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl<T> Drop for LinkedGuard<'_, T> {
    #[cold]
    fn drop(&mut self) {
        // Win our own claim if nobody has; if a notifier has, it completes under the lock
        // we take next, so once we hold it nobody touches the node or the slot any more.
        self.signal.try_cancel();
        let mut st = self.chan.lock();
        // SAFETY: our node, alive, linked (if at all) in this list.
        unsafe { st.list(self.side).remove(self.node) };
    }
}

impl<T> Chan<T> {
    /// A channel holding up to `cap` messages (`usize::MAX`: unbounded; 0: rendezvous).
    pub(crate) fn new(cap: usize) -> Self {
        Chan {
            state: Mutex::new(State::new(cap)),
            cap,
        }
    }

    #[inline]
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        crate::sync::spin_lock::lock(&self.state)
    }

    /// The buffer's capacity (`usize::MAX`: unbounded).
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Buffered messages.
    pub(crate) fn len(&self) -> usize {
        self.lock().buffer.len()
    }

    /// The address of the shared state: identifies the channel.
    pub(crate) fn id(&self) -> *const () {
        (self as *const Self).cast()
    }

    // ----- handles -----

    /// A new `Sender` handle.
    pub(crate) fn add_sender(&self) {
        self.lock().senders += 1;
    }

    /// A new `Receiver` handle.
    pub(crate) fn add_receiver(&self) {
        self.lock().receivers += 1;
    }

    /// A `Sender` handle is gone; the last one wakes every blocked receiver.
    pub(crate) fn drop_sender(&self) {
        let mut st = self.lock();
        st.senders -= 1;
        if st.senders == 0 {
            self.release_all(st, Side::Receivers);
        }
    }

    /// A `Receiver` handle is gone; the last one wakes every blocked sender (their
    /// messages go back to them) and drops the buffered messages, which nobody can
    /// receive any more.
    pub(crate) fn drop_receiver(&self) {
        let mut st = self.lock();
        st.receivers -= 1;
        if st.receivers == 0 {
            let buffered = std::mem::take(&mut st.buffer);
            self.release_all(st, Side::Senders);
            // Dropped unlocked: a message's destructor may use this channel.
            drop(buffered);
        }
    }

    /// Completes every waiter on `side` without serving it, waking each after unlocking.
    #[cold]
    fn release_all<'a>(&'a self, mut st: MutexGuard<'a, State<T>>, side: Side) {
        while let Some(node) = st.list(side).pop_claimed() {
            // SAFETY: just won by `pop_claimed` under our lock.
            let waker = unsafe { state::release(node) };
            drop(st);
            waker.wake();
            st = self.lock();
        }
    }

    // ----- sending -----

    /// Sends without waiting.
    #[inline]
    pub(crate) fn try_send(&self, value: T) -> Result<(), SendBlocked<T>> {
        let mut st = self.lock();
        let sent = st.try_send(self.cap, value);
        drop(st);
        sent.map(wake)
    }

    /// Sends, waiting until `deadline` for a receiver or room.
    #[inline]
    pub(crate) fn send(&self, value: T, deadline: Deadline) -> Result<(), (T, Failure)> {
        let mut st = self.lock();
        match st.try_send(self.cap, value) {
            Ok(waker) => {
                drop(st);
                wake(waker);
                Ok(())
            }
            Err(SendBlocked::Disconnected(v)) => Err((v, Failure::Disconnected)),
            Err(SendBlocked::Full(v)) => self.send_slow(st, v, deadline),
        }
    }

    #[cold]
    fn send_slow<'a>(
        &'a self,
        mut st: MutexGuard<'a, State<T>>,
        value: T,
        deadline: Deadline,
    ) -> Result<(), (T, Failure)> {
        let slot = Slot::new(Some(value));
        loop {
            // Here: locked, the channel is full, and `slot` holds the message.
            if deadline_passed(deadline) {
                drop(st);
                // SAFETY: no node carries the slot's pointer.
                let value = unsafe { slot.take() }.expect("our message");
                timed_out_without_waiting();
                return Err((value, Failure::Timeout));
            }
            let signal = Signal::new();
            let node = WaitNode::new(&signal, 0, slot.ptr());
            // SAFETY: `node` stays in this frame until it is popped by whoever serves or
            // releases us, or removed below (or by the guard if we unwind).
            unsafe { st.senders_waiting.push_back(&node) };
            drop(st);
            let guard = LinkedGuard {
                chan: self,
                side: Side::Senders,
                node: &node,
                signal: &signal,
            };
            let tag = signal.wait_deadline(deadline);
            guard.disarm();
            if tag == TIMED_OUT {
                st = self.lock();
                // SAFETY: our node, alive, in this list if linked.
                unsafe { st.senders_waiting.remove(&node) };
                drop(st);
                // SAFETY: we won our own claim and unlinked the node under the lock.
                let value = unsafe { slot.take() }.expect("our message");
                return Err((value, Failure::Timeout));
            }
            // SAFETY: DONE was published: the notifier is finished with the slot.
            let Some(value) = (unsafe { slot.take() }) else {
                return Ok(()); // served
            };
            // Released without being served: try again.
            st = self.lock();
            match st.try_send(self.cap, value) {
                Ok(waker) => {
                    drop(st);
                    wake(waker);
                    return Ok(());
                }
                Err(SendBlocked::Disconnected(v)) => return Err((v, Failure::Disconnected)),
                // SAFETY: the node is unlinked (popped by the notifier).
                Err(SendBlocked::Full(v)) => unsafe { slot.put(v) },
            }
        }
    }

    // ----- receiving -----

    /// Receives without waiting.
    #[inline]
    pub(crate) fn try_recv(&self) -> Result<T, RecvBlocked> {
        let mut st = self.lock();
        let received = st.try_recv();
        drop(st);
        received.map(|(v, waker)| {
            wake(waker);
            v
        })
    }

    /// Receives, waiting until `deadline` for a message.
    #[inline]
    pub(crate) fn recv(&self, deadline: Deadline) -> Result<T, Failure> {
        let mut st = self.lock();
        match st.try_recv() {
            Ok((v, waker)) => {
                drop(st);
                wake(waker);
                Ok(v)
            }
            Err(RecvBlocked::Disconnected) => Err(Failure::Disconnected),
            Err(RecvBlocked::Empty) => self.recv_slow(st, deadline),
        }
    }

    #[cold]
    fn recv_slow<'a>(
        &'a self,
        mut st: MutexGuard<'a, State<T>>,
        deadline: Deadline,
    ) -> Result<T, Failure> {
        let slot = Slot::new(None);
        loop {
            // Here: locked, and nothing to receive yet.
            if deadline_passed(deadline) {
                drop(st);
                timed_out_without_waiting();
                return Err(Failure::Timeout);
            }
            let signal = Signal::new();
            let node = WaitNode::new(&signal, 0, slot.ptr());
            // SAFETY: `node` stays in this frame until it is popped by whoever serves or
            // releases us, or removed below (or by the guard if we unwind).
            unsafe { st.receivers_waiting.push_back(&node) };
            drop(st);
            let guard = LinkedGuard {
                chan: self,
                side: Side::Receivers,
                node: &node,
                signal: &signal,
            };
            let tag = signal.wait_deadline(deadline);
            guard.disarm();
            if tag == TIMED_OUT {
                st = self.lock();
                // SAFETY: our node, alive, in this list if linked.
                unsafe { st.receivers_waiting.remove(&node) };
                return Err(Failure::Timeout);
            }
            // SAFETY: DONE was published: the notifier is finished with the slot.
            if let Some(value) = unsafe { slot.take() } {
                return Ok(value); // served
            }
            // Released without being served (disconnection): look again.
            st = self.lock();
            match st.try_recv() {
                Ok((v, waker)) => {
                    drop(st);
                    wake(waker);
                    return Ok(v);
                }
                Err(RecvBlocked::Disconnected) => return Err(Failure::Disconnected),
                Err(RecvBlocked::Empty) => {}
            }
        }
    }

    // ----- select -----

    /// Registers a select's receive arm: under the lock, completes it at once if it can
    /// (winning the select's signal first), else links `node`.
    ///
    /// # Safety
    /// `node` carries `slot`'s pointer and the select's signal, is not linked, and stays in
    /// place (as does `slot`) until unlinked by a notifier or [`Chan::unregister_recv`];
    /// the select's owner touches `slot` only once its signal is DONE and the node unlinked.
    pub(crate) unsafe fn register_recv(&self, slot: &Slot<T>, node: &WaitNode) -> Registration {
        // SAFETY: the caller's waiter, whose signal is alive.
        let own = unsafe { node.signal() };
        node.set_data(slot.ptr());
        let mut st = self.lock();
        if own.is_claimed() {
            return Registration::Lost;
        }
        if st.can_recv() {
            if !own.try_claim(node.tag()) {
                return Registration::Lost;
            }
            let mut refilled = None;
            if let Some(value) = st.buffer.pop_front() {
                // SAFETY: we hold our own claim, so no notifier touches the slot.
                unsafe { slot.put(value) };
                refilled = st.refill();
            } // else disconnected: the slot stays empty
            // SAFETY: we won our own claim just now; our own waker needs no wake.
            drop(unsafe { own.complete() });
            drop(st);
            wake(refilled);
            return Registration::Completed;
        }
        if let Some(peer) = state::pop_peer(&mut st.senders_waiting, own) {
            if !own.try_claim(node.tag()) {
                // Another arm won meanwhile: let the sender go, unserved.
                // SAFETY: `pop_peer` won the peer's claim under our lock.
                let waker = unsafe { state::release(peer) };
                drop(st);
                waker.wake();
                return Registration::Lost;
            }
            // SAFETY: `pop_peer` won the peer's claim under our lock; the list holds
            // `Slot<T>` pointers.
            let (value, waker) = unsafe { state::serve_sender(peer) };
            // SAFETY: we hold our own claim, so no notifier touches the slot.
            unsafe { slot.put(value) };
            // SAFETY: we won our own claim; our own waker needs no wake.
            drop(unsafe { own.complete() });
            drop(st);
            waker.wake();
            return Registration::Completed;
        }
        // SAFETY: the caller's contract.
        unsafe { st.receivers_waiting.push_back(node) };
        Registration::Linked
    }

    /// Registers a select's send arm (see [`Chan::register_recv`]); `slot` holds the
    /// message.
    ///
    /// # Safety
    /// As [`Chan::register_recv`].
    pub(crate) unsafe fn register_send(&self, slot: &Slot<T>, node: &WaitNode) -> Registration {
        // SAFETY: the caller's waiter, whose signal is alive.
        let own = unsafe { node.signal() };
        node.set_data(slot.ptr());
        let mut st = self.lock();
        if own.is_claimed() {
            return Registration::Lost;
        }
        if st.receivers == 0 {
            if !own.try_claim(node.tag()) {
                return Registration::Lost;
            }
            // Disconnected: the message stays in the slot, to go back to the caller.
            // SAFETY: we won our own claim; our own waker needs no wake.
            drop(unsafe { own.complete() });
            return Registration::Completed;
        }
        if let Some(peer) = state::pop_peer(&mut st.receivers_waiting, own) {
            if !own.try_claim(node.tag()) {
                // SAFETY: `pop_peer` won the peer's claim under our lock.
                let waker = unsafe { state::release(peer) };
                drop(st);
                waker.wake();
                return Registration::Lost;
            }
            // SAFETY: we hold our own claim, so no notifier touches our slot.
            let value = unsafe { slot.take() }.expect("a send arm's message");
            // SAFETY: `pop_peer` won the peer's claim under our lock; the list holds
            // `Slot<T>` pointers.
            let waker = unsafe { state::serve_receiver(peer, value) };
            // SAFETY: we won our own claim; our own waker needs no wake.
            drop(unsafe { own.complete() });
            drop(st);
            waker.wake();
            return Registration::Completed;
        }
        if st.buffer.len() < self.cap {
            if !own.try_claim(node.tag()) {
                return Registration::Lost;
            }
            // SAFETY: we hold our own claim, so no notifier touches our slot.
            let value = unsafe { slot.take() }.expect("a send arm's message");
            st.buffer.push_back(value);
            // SAFETY: we won our own claim; our own waker needs no wake.
            drop(unsafe { own.complete() });
            return Registration::Completed;
        }
        // SAFETY: the caller's contract.
        unsafe { st.senders_waiting.push_back(node) };
        Registration::Linked
    }

    /// Unlinks a select's receive node if it is still linked.
    ///
    /// # Safety
    /// `node` is alive and, if linked, linked in this channel's receiver list.
    pub(crate) unsafe fn unregister_recv(&self, node: &WaitNode) {
        // SAFETY: the caller's contract.
        unsafe { self.lock().receivers_waiting.remove(node) };
    }

    /// Unlinks a select's send node if it is still linked.
    ///
    /// # Safety
    /// `node` is alive and, if linked, linked in this channel's sender list.
    pub(crate) unsafe fn unregister_send(&self, node: &WaitNode) {
        // SAFETY: the caller's contract.
        unsafe { self.lock().senders_waiting.remove(node) };
    }
}
