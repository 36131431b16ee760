//! [`Barrier`]: a rendezvous of a fixed number of parties, round after round.
//!
//! Everything happens under one lock: a party counts itself in and, unless it is the
//! last of its round, queues a node and waits. The last one resets the count for the next
//! round and releases the queued ones (there are no timeouts, so every claim succeeds).

use super::signal::Signal;
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
        // claim (never cancelled) to complete before the frame ends.
        unsafe { round.waiters.push_back(&node) };
        drop(round);
        signal.wait();
        BarrierWaitResult { leader: false }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .finish_non_exhaustive()
    }
}
