//! Releasing a whole wait list at once (a broadcast): the notifier claims every waiter
//! under the primitive's lock, then completes and wakes them after dropping it, without
//! allocating: the claimed nodes are chained through their data.

use super::wait_list::{Node, WaitList};
use std::ptr;

/// The wait-list data of primitives that release waiters in batches: nothing while the
/// node waits; once a notifier claimed it, the next claimed node of the same batch.
#[derive(Clone, Copy)]
pub(crate) struct Chained(*const Node<Chained>);

// SAFETY: the pointer is written and followed only by the notifier that claimed the nodes,
// between its claims and its `complete`s, while their waiters wait for DONE (so the nodes
// are alive); it crosses threads only inside a list guarded by its primitive's lock.
unsafe impl Send for Chained {}

impl Chained {
    /// The data of a node that is not part of a batch (or is its last node).
    pub(crate) const END: Chained = Chained(ptr::null());
}

/// Waiters claimed by a notifier and not completed yet. Dropping it (preferably after
/// dropping the primitive's lock, through [`Released::wake_all`]) completes and wakes them.
#[must_use = "claimed waiters stay asleep until they are woken"]
pub(crate) struct Released {
    head: *const Node<Chained>,
}

impl Released {
    /// Pops every node of `list` and keeps those whose signals it wins (FIFO); the list
    /// is empty afterwards.
    pub(crate) fn claim_all(list: &mut WaitList<Chained>) -> Released {
        let mut head: *const Node<Chained> = ptr::null();
        let mut tail: *const Node<Chained> = ptr::null();
        while let Some(node) = list.pop_claimed() {
            let node: *const Node<Chained> = node.as_ptr();
            // SAFETY: we won its claim, so its waiter waits for DONE: the node is alive.
            unsafe { (*node).set_data(Chained::END) };
            if tail.is_null() {
                head = node;
            } else {
                // SAFETY: as above, for the previous node of the batch.
                unsafe { (*tail).set_data(Chained(node)) };
            }
            tail = node;
        }
        Released { head }
    }

    /// Completes and wakes every claimed waiter.
    #[inline]
    pub(crate) fn wake_all(self) {
        drop(self);
    }
}

impl Drop for Released {
    fn drop(&mut self) {
        let mut next = self.head;
        while !next.is_null() {
            // SAFETY: claimed by us in `claim_all` and not completed yet, so its waiter is
            // still waiting: alive. The link is read before `complete`, after which the
            // node may be gone.
            let node = unsafe { &*next };
            next = node.data().0;
            // SAFETY: we won this node's claim and complete it exactly once, here; the
            // node is not touched afterwards.
            let waker = unsafe { node.signal().complete() };
            waker.wake();
        }
    }
}
