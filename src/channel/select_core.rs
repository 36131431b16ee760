//! The select algorithm that both [`select!`](crate::select) and [`Select`](super::Select)
//! run, over arms that each send to or receive from one channel.
//!
//! 1. Try every arm once, in a random order, without waiting; the first that completes
//!    (or finds its channel disconnected) is chosen.
//! 2. With nothing ready: a select that must not wait returns (its default arm).
//! 3. Otherwise register: one [`Signal`] for the whole select and one wait node per arm.
//!    Under each arm's channel lock in turn, the arm completes at once if it can (winning
//!    the select's signal with its own index first; see `Chan::register_recv`), else its
//!    node is linked. Registering stops once the signal is claimed.
//! 4. Wait on the signal (until the deadline, if any). A notifier that wins it with an
//!    arm's index has already moved that arm's message.
//! 5. Unlink every node still linked, under its channel's lock, before the nodes' frame
//!    ends. An arm that was woken without being served (its channel disconnected, or a
//!    select that claimed it had to let it go) makes the select start over at 1.
//!
//! Exactly one arm completes, because completing an arm takes winning the one signal.

use super::chan::Registration;
use super::state::WaitNode;
use crate::sync::signal::{Deadline, Signal, TIMED_OUT};
use std::ops::Deref;

/// One arm of a select, as the algorithm drives it. The arm owns its message slot; the
/// algorithm owns the arm's wait node.
pub(crate) trait ArmOps {
    /// Readies the arm for a new select (drops a message a dynamic select left in it).
    ///
    /// # Safety
    /// No node carrying this arm's slot is linked.
    unsafe fn prepare(&self);

    /// Whether the arm takes part (a dynamic select's send arm whose message is gone
    /// does not).
    ///
    /// # Safety
    /// No node carrying this arm's slot is linked.
    unsafe fn is_active(&self) -> bool;

    /// Tries to complete the arm without waiting; true if it completed (including
    /// finding its channel disconnected).
    ///
    /// # Safety
    /// No node carrying this arm's slot is linked.
    unsafe fn try_complete(&self) -> bool;

    /// Registers the arm (see `Chan::register_recv`).
    ///
    /// # Safety
    /// `node` carries the select's signal and the arm's index, is not linked, and stays in
    /// place until [`ArmOps::unregister`] is called with it, or a notifier popped it. The
    /// arm stays in place meanwhile too.
    unsafe fn register(&self, node: &WaitNode) -> Registration;

    /// Unlinks `node` if it is still linked.
    ///
    /// # Safety
    /// `node` was passed to [`ArmOps::register`] of this arm (or is not linked at all).
    unsafe fn unregister(&self, node: &WaitNode);

    /// After a notifier completed the select's signal with this arm's index: whether it
    /// served the arm (moved its message), as opposed to merely waking it.
    ///
    /// # Safety
    /// The select's signal is DONE and the arm's node is unlinked.
    unsafe fn was_served(&self) -> bool;

    /// Whether the arm sends or receives.
    fn kind(&self) -> super::arms::Kind;

    /// The channel the arm works on (see `Chan::id`).
    fn channel_id(&self) -> *const ();
}

/// How long a select may wait when no arm is ready.
#[derive(Clone, Copy)]
pub(crate) enum Wait {
    /// Not at all (a `default` arm).
    Never,
    /// Until the deadline (`None`: forever).
    Until(Deadline),
}

/// Runs the select over `arms`; returns the index of the arm that completed, or `None` if
/// `wait` ran out first. `order` is scratch space of `arms.len()` entries; `make_nodes`
/// makes one unlinked node per arm, node `i` tagged `i`, for the given signal.
///
/// # Panics
/// If it would wait forever with no active arm.
pub(crate) fn run<A, N>(
    arms: &[A],
    order: &mut [usize],
    wait: Wait,
    make_nodes: impl Fn(&Signal) -> N,
) -> Option<usize>
where
    A: Deref<Target: ArmOps>,
    N: AsRef<[WaitNode]>,
{
    debug_assert_eq!(arms.len(), order.len());
    for (i, o) in order.iter_mut().enumerate() {
        *o = i;
    }
    for arm in arms {
        // SAFETY: nothing of ours is linked before the select starts.
        unsafe { arm.prepare() };
    }
    loop {
        super::rng::shuffle(order);
        for &i in order.iter() {
            let arm = &*arms[i];
            // SAFETY: nothing of ours is linked between selects' registrations.
            if unsafe { arm.is_active() && arm.try_complete() } {
                return Some(i);
            }
        }
        let deadline = match wait {
            Wait::Never => return None,
            Wait::Until(deadline) => deadline,
        };
        if super::chan::deadline_passed(deadline) {
            return None;
        }
        if deadline.is_none() {
            // SAFETY: as above.
            let any_active = arms.iter().any(|a| unsafe { a.is_active() });
            assert!(
                any_active,
                "fibra: a select with no operations would wait forever"
            );
        }
        let signal = Signal::new();
        let nodes = make_nodes(&signal);
        let nodes = nodes.as_ref();
        debug_assert_eq!(nodes.len(), arms.len());
        match block(arms, order, nodes, &signal, deadline) {
            Blocked::Chosen(i) => return Some(i),
            Blocked::TimedOut => return None,
            Blocked::Retry => {}
        }
    }
}

enum Blocked {
    Chosen(usize),
    TimedOut,
    Retry,
}

/// Steps 3 to 5 (see the module docs).
fn block<A: Deref<Target: ArmOps>>(
    arms: &[A],
    order: &[usize],
    nodes: &[WaitNode],
    signal: &Signal,
    deadline: Deadline,
) -> Blocked {
    let mut registered = Registered {
        arms,
        order,
        nodes,
        signal,
        linked_prefix: 0,
        skip: None,
    };
    let mut completed = None;
    for (pos, &i) in order.iter().enumerate() {
        let arm = &*arms[i];
        // SAFETY: nothing of this arm is linked yet (each arm is registered once).
        if !unsafe { arm.is_active() } {
            continue;
        }
        // SAFETY: `nodes[i]` carries our signal and tag `i` and is unlinked; the nodes and
        // arms outlive `registered`, whose drop (or `finish`) unregisters them.
        match unsafe { arm.register(&nodes[i]) } {
            Registration::Linked => registered.linked_prefix = pos + 1,
            Registration::Completed => {
                completed = Some(i);
                break;
            }
            Registration::Lost => break,
        }
    }
    // Returns at once if the signal is DONE already (we completed an arm, or a notifier
    // served one); waits for DONE if a notifier claimed it but has not finished.
    let tag = signal.wait_deadline(deadline);
    if tag != TIMED_OUT {
        // The arm whose node won was popped by its notifier: nothing to unlink there.
        registered.skip = Some(tag);
    }
    registered.finish();
    if tag == TIMED_OUT {
        return Blocked::TimedOut;
    }
    // SAFETY: DONE was published and every node is unlinked.
    if completed == Some(tag) || unsafe { arms[tag].was_served() } {
        Blocked::Chosen(tag)
    } else {
        Blocked::Retry
    }
}

/// The arms whose nodes may be linked: the active ones among `order[..linked_prefix]`.
/// Dropped while unwinding out of `block` (a fiber dropped at runtime shutdown unwinds
/// from inside its wait), it first wins the signal if nobody has, then unlinks them all: a
/// notifier that claimed the signal finishes under the lock we take to unlink its node.
struct Registered<'a, A: Deref<Target: ArmOps>> {
    arms: &'a [A],
    order: &'a [usize],
    nodes: &'a [WaitNode],
    signal: &'a Signal,
    linked_prefix: usize,
    /// An arm known to be unlinked already.
    skip: Option<usize>,
}

impl<A: Deref<Target: ArmOps>> Registered<'_, A> {
    /// Unlinks every node still linked (the normal way out, once the wait is over).
    fn finish(mut self) {
        self.unregister_all();
        std::mem::forget(self);
    }

    fn unregister_all(&mut self) {
        for &i in &self.order[..self.linked_prefix] {
            if self.skip == Some(i) {
                continue;
            }
            // SAFETY: `nodes[i]` was registered with this arm, or (an inactive arm, or one
            // that completed or lost at registration) never linked.
            unsafe { self.arms[i].unregister(&self.nodes[i]) };
        }
    }
}

impl<A: Deref<Target: ArmOps>> Drop for Registered<'_, A> {
    #[cold]
    fn drop(&mut self) {
        self.signal.try_cancel();
        self.unregister_all();
    }
}
