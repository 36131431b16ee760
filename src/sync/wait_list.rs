//! An intrusive FIFO of wait nodes that live on their waiters' stacks.
//!
//! A primitive keeps a `WaitList` inside the state its lock protects, and every list
//! operation happens under that lock (hence `&mut self`). A waiter's node must stay where it
//! is while linked: the waiter links it, waits on its [`Signal`], and before its frame ends
//! takes the lock again and [`WaitList::remove`]s the node if a notifier did not already
//! pop it. Notifiers pop nodes and race for their signals; a node whose signal they lose
//! (the waiter timed out, or another select arm won) is simply dropped from the list.

use super::signal::Signal;
use std::cell::Cell;
use std::ptr::{self, NonNull};

/// One waiter's entry in one wait list.
pub(crate) struct Node<D> {
    prev: Cell<*const Node<D>>,
    next: Cell<*const Node<D>>,
    linked: Cell<bool>,
    /// The waiter's signal (shared by all nodes of one select).
    signal: *const Signal,
    /// What a notifier tags the signal with when it wins through this node (a select arm's
    /// index; 0 for plain waits).
    tag: usize,
    /// What the primitive needs to know about the waiter (read and written under the lock).
    data: Cell<D>,
}

impl<D> Node<D> {
    /// A node for a waiter on `signal`, to be tagged `tag`.
    #[inline]
    pub(crate) fn new(signal: &Signal, tag: usize, data: D) -> Self {
        Node {
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            linked: Cell::new(false),
            signal,
            tag,
            data: Cell::new(data),
        }
    }

    /// The waiter's signal.
    ///
    /// # Safety
    /// The node is linked, or the caller is its waiter (so the signal is alive).
    #[inline]
    pub(crate) unsafe fn signal(&self) -> &Signal {
        // SAFETY: per the contract the waiter's frame, which holds the signal, is alive.
        unsafe { &*self.signal }
    }

    /// The node's tag.
    #[inline]
    pub(crate) fn tag(&self) -> usize {
        self.tag
    }

    /// Whether the node is in a list.
    #[inline]
    pub(crate) fn is_linked(&self) -> bool {
        self.linked.get()
    }

    /// Races for the waiter's signal with this node's tag (see [`Signal::try_claim`]).
    ///
    /// # Safety
    /// As [`Node::signal`].
    #[inline]
    pub(crate) unsafe fn try_claim(&self) -> bool {
        // SAFETY: the caller's contract.
        unsafe { self.signal() }.try_claim(self.tag)
    }
}

impl<D: Copy> Node<D> {
    /// The waiter's data.
    #[inline]
    pub(crate) fn data(&self) -> D {
        self.data.get()
    }

    /// Replaces the waiter's data.
    #[inline]
    pub(crate) fn set_data(&self, d: D) {
        self.data.set(d);
    }
}

/// A FIFO of nodes (see the module docs). Not `Send`/`Sync` by itself: the primitive that
/// embeds it under a lock vouches for that.
pub(crate) struct WaitList<D> {
    head: *const Node<D>,
    tail: *const Node<D>,
}

// SAFETY: the list only holds pointers to nodes, and every access to a linked node (its
// links, data and signal) happens under the lock of the primitive that owns the list, which
// orders those accesses between threads; nodes' data moves between threads, hence D: Send.
unsafe impl<D: Send> Send for WaitList<D> {}

impl<D> Default for WaitList<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D> WaitList<D> {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        WaitList {
            head: ptr::null(),
            tail: ptr::null(),
        }
    }

    /// Whether no node is linked.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Links `node` at the back.
    ///
    /// # Safety
    /// `node` is not linked anywhere, and stays alive and in place until it is unlinked
    /// (popped, or removed by its waiter).
    #[inline]
    pub(crate) unsafe fn push_back(&mut self, node: &Node<D>) {
        debug_assert!(!node.linked.get());
        node.prev.set(self.tail);
        node.next.set(ptr::null());
        node.linked.set(true);
        if self.tail.is_null() {
            self.head = node;
        } else {
            // SAFETY: linked nodes are alive (push_back's contract).
            unsafe { (*self.tail).next.set(node) };
        }
        self.tail = node;
    }

    /// The front node, still linked.
    #[inline]
    pub(crate) fn front(&self) -> Option<NonNull<Node<D>>> {
        NonNull::new(self.head.cast_mut())
    }

    /// Unlinks and returns the front node. It stays valid while its signal is unclaimed,
    /// or claimed by the caller and not yet completed.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<NonNull<Node<D>>> {
        let node = self.front()?;
        // SAFETY: `node` is linked, hence alive.
        unsafe { self.unlink(node.as_ref()) };
        Some(node)
    }

    /// Unlinks `node` if it is still linked (in this list). Returns whether it was.
    ///
    /// # Safety
    /// `node` is alive and, if linked, linked in this list.
    #[inline]
    pub(crate) unsafe fn remove(&mut self, node: &Node<D>) -> bool {
        if !node.linked.get() {
            return false;
        }
        // SAFETY: the caller's contract.
        unsafe { self.unlink(node) };
        true
    }

    /// # Safety
    /// `node` is linked in this list.
    unsafe fn unlink(&mut self, node: &Node<D>) {
        let (prev, next) = (node.prev.get(), node.next.get());
        if prev.is_null() {
            self.head = next;
        } else {
            // SAFETY: linked neighbours are alive.
            unsafe { (*prev).next.set(next) };
        }
        if next.is_null() {
            self.tail = prev;
        } else {
            // SAFETY: as above.
            unsafe { (*next).prev.set(prev) };
        }
        node.linked.set(false);
    }

    /// Pops nodes until one's signal is won with the node's own tag; returns it (claimed,
    /// not completed). Nodes whose signals are lost are dropped from the list.
    #[inline]
    pub(crate) fn pop_claimed(&mut self) -> Option<NonNull<Node<D>>> {
        self.pop_claimed_with(|node| node.tag())
    }

    /// As [`WaitList::pop_claimed`], claiming with the tag `tag_for` picks for each node.
    #[inline]
    pub(crate) fn pop_claimed_with(
        &mut self,
        mut tag_for: impl FnMut(&Node<D>) -> usize,
    ) -> Option<NonNull<Node<D>>> {
        while let Some(node) = self.pop_front() {
            // SAFETY: just unlinked and unclaimed by us, so its waiter is still waiting on
            // its signal or about to take our lock to remove it: alive.
            let node_ref = unsafe { node.as_ref() };
            // SAFETY: as above.
            if unsafe { node_ref.signal() }.try_claim(tag_for(node_ref)) {
                return Some(node);
            }
        }
        None
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_and_removal() {
        let signal = Signal::new();
        let nodes: Vec<Node<u32>> = (0..4).map(|i| Node::new(&signal, 0, i)).collect();
        let mut list = WaitList::new();
        for n in &nodes {
            // SAFETY: the nodes outlive the list's use below.
            unsafe { list.push_back(n) };
        }
        // SAFETY: nodes[2] is alive and in this list.
        assert!(unsafe { list.remove(&nodes[2]) });
        // SAFETY: as above; removing twice is a no-op.
        assert!(!unsafe { list.remove(&nodes[2]) });
        let mut order = vec![];
        while let Some(n) = list.pop_front() {
            // SAFETY: the nodes are alive.
            order.push(unsafe { n.as_ref() }.data());
        }
        assert_eq!(order, [0, 1, 3]);
        assert!(list.is_empty());
    }

    #[test]
    fn pop_claimed_skips_lost_signals() {
        let lost = Signal::new();
        assert!(lost.try_cancel());
        let live = Signal::new();
        let a = Node::new(&lost, 0, 'a');
        let b = Node::new(&live, 7, 'b');
        let mut list = WaitList::new();
        // SAFETY: both nodes outlive the list's use.
        unsafe {
            list.push_back(&a);
            list.push_back(&b);
        }
        let won = list.pop_claimed().expect("b is claimable");
        // SAFETY: `b` is alive.
        assert_eq!(unsafe { won.as_ref() }.data(), 'b');
        // SAFETY: we won the claim.
        let _waker = unsafe { live.complete() };
        assert_eq!(live.wait(), 7);
        assert!(list.is_empty() && !a.is_linked());
    }
}
