//! [`Barrier`]: a rendezvous of a fixed number of parties, round after round.
//!
//! Everything happens under one lock: a party counts itself in and, unless it is the
//! last of its round, queues a node and waits. The last one resets the count for the next
//! round and releases the queued ones (there are no timeouts, so every claim succeeds,
//! unless a waiter was unwound: then it withdrew from its round, see `Barrier::withdraw`).

use super::signal::Signal;
use super::unwind_guard::UnwindGuard;
use super::wait_list::{Node, WaitList};
use super::wake_all::{Chained, Released};
use crate::loom::Mutex as ListLock;
use std::fmt;

/// A rendezvous point for a fixed number of fibers and threads: each [`wait`] blocks until
/// that many parties have called it, then all of them go on and the barrier is ready for
/// the next round.
///
/// A waiting fiber suspends (its worker runs other fibers); a waiting thread parks. One
/// party per round, the last to arrive, is the leader ([`BarrierWaitResult::is_leader`]).
/// Everything each party did before `wait` is visible to all of them after it.
///
/// [`wait`]: Barrier::wait
///
/// ```
/// use fibra::sync::Barrier;
/// use std::sync::Arc;
///
/// let barrier = Arc::new(Barrier::new(4));
/// let leaders = fibra::run(|| {
///     let parties: Vec<_> = (0..4)
///         .map(|_| {
///             let barrier = barrier.clone();
///             fibra::spawn(move || barrier.wait().is_leader())
///         })
///         .collect();
///     parties.into_iter().map(|h| h.join().unwrap()).filter(|&l| l).count()
/// });
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    parties: usize,
    round: ListLock<Round>,
}

/// The current round, guarded by the barrier's lock.
struct Round {
    /// Parties that have arrived (fewer than `parties`).
    arrived: usize,
    /// The arrived parties, waiting for the last one.
    waiters: WaitList<Chained>,
}

/// What [`Barrier::wait`] returns: whether this caller was the round's leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this caller was the leader of its round: exactly one per round is (the
    /// last to arrive).
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

impl Barrier {
    /// A barrier for `parties` parties (`0` behaves as `1`, like std's).
    #[cfg(not(loom))]
    pub const fn new(parties: usize) -> Self {
        Barrier {
            parties: if parties == 0 { 1 } else { parties },
            round: ListLock::new(Round {
                arrived: 0,
                waiters: WaitList::new(),
            }),
        }
    }

    /// A barrier for `parties` parties (`0` behaves as `1`, like std's). Not `const`
    /// under loom, whose locks are not.
    #[cfg(loom)]
    pub fn new(parties: usize) -> Self {
        Barrier {
            parties: parties.max(1),
            round: ListLock::new(Round {
                arrived: 0,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Waits until all parties of this round have called `wait`. Exactly one of them gets
    /// a result whose [`is_leader`](BarrierWaitResult::is_leader) is true.
    pub fn wait(&self) -> BarrierWaitResult {
        if self.parties == 1 {
            return BarrierWaitResult { leader: true };
        }
        let signal = Signal::new();
        let node = Node::new(&signal, 0, Chained::END);
        let mut round = super::lock_list(&self.round);
        round.arrived += 1;
        if round.arrived == self.parties {
            round.arrived = 0;
            let released = Released::claim_all(&mut round.waiters);
            drop(round);
            released.wake_all();
            return BarrierWaitResult { leader: true };
        }
        // SAFETY: the node stays on our stack until the leader pops it: we wait for its
        // claim to complete before the frame ends. Only a wait that unwinds cancels the
        // claim, and then its `UnwindGuard` unlinks the node before the frame ends.
        unsafe { round.waiters.push_back(&node) };
        drop(round);
        let guard = UnwindGuard::new(&signal, |claimed| {
            if claimed.is_none() {
                self.withdraw(&node);
            }
        });
        signal.wait();
        guard.disarm();
        BarrierWaitResult { leader: false }
    }

    /// A party unwound out of its wait, having cancelled its claim: it leaves the round it
    /// joined, so the round still needs `parties` live parties. If its node is no longer
    /// linked, the leader has completed that round already (counting it, but losing its
    /// claim): then there is nothing to undo.
    #[cold]
    fn withdraw(&self, node: &Node<Chained>) {
        let mut round = super::lock_list(&self.round);
        // SAFETY: our node, alive; if linked, it is in this list.
        if unsafe { round.waiters.remove(node) } {
            round.arrived -= 1;
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;

    /// Three parties meet once: exactly one leader, nobody leaves before all arrived,
    /// and the barrier is ready for the next round.
    #[test]
    fn loom_barrier_three_parties() {
        crate::sync::loom_model(3, || {
            let barrier = Arc::new(Barrier::new(3));
            let arrived = Arc::new(AtomicUsize::new(0));
            let party = {
                let (barrier, arrived) = (barrier.clone(), arrived.clone());
                move || {
                    arrived.fetch_add(1, Ordering::Relaxed);
                    let leader = barrier.wait().is_leader();
                    assert_eq!(
                        arrived.load(Ordering::Relaxed),
                        3,
                        "left before all arrived"
                    );
                    leader
                }
            };
            let others: Vec<_> = (0..2).map(|_| thread::spawn(party.clone())).collect();
            let mut leaders = usize::from(party());
            for t in others {
                leaders += usize::from(t.join().unwrap());
            }
            assert_eq!(leaders, 1);
            let round = super::super::lock_list(&barrier.round);
            assert!(round.arrived == 0 && round.waiters.is_empty());
        });
    }

    /// Two parties over two rounds: a fast party's second-round arrival never mixes with
    /// the first round.
    #[test]
    fn loom_barrier_two_rounds() {
        crate::sync::loom_model(3, || {
            let barrier = Arc::new(Barrier::new(2));
            let other = {
                let barrier = barrier.clone();
                thread::spawn(move || {
                    (0..2)
                        .map(|_| usize::from(barrier.wait().is_leader()))
                        .collect::<Vec<_>>()
                })
            };
            let mine: Vec<_> = (0..2)
                .map(|_| usize::from(barrier.wait().is_leader()))
                .collect();
            let theirs = other.join().unwrap();
            assert_eq!(mine[0] + theirs[0], 1);
            assert_eq!(mine[1] + theirs[1], 1);
        });
    }
}
