//! `fibra::sync::Barrier` from fibers, from threads, and mixed, over several rounds.

use fibra::Runtime;
use fibra::sync::Barrier;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const ROUNDS: usize = 50;

struct Rounds {
    barrier: Barrier,
    arrived: Vec<AtomicUsize>,
    leaders: Vec<AtomicUsize>,
}

impl Rounds {
    fn new(parties: usize) -> Arc<Self> {
        Arc::new(Rounds {
            barrier: Barrier::new(parties),
            arrived: (0..ROUNDS).map(|_| AtomicUsize::new(0)).collect(),
            leaders: (0..ROUNDS).map(|_| AtomicUsize::new(0)).collect(),
        })
    }

    /// One party's rounds: nobody leaves a round before everyone has arrived.
    fn party(&self, parties: usize) {
        for r in 0..ROUNDS {
            self.arrived[r].fetch_add(1, Ordering::Relaxed);
            if self.barrier.wait().is_leader() {
                self.leaders[r].fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(self.arrived[r].load(Ordering::Relaxed), parties);
        }
    }

    fn check_one_leader_per_round(&self) {
        for (r, l) in self.leaders.iter().enumerate() {
            assert_eq!(l.load(Ordering::Relaxed), 1, "round {r}");
        }
    }
}

#[test]
fn fibers_and_threads_mixed_over_rounds() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let parties = 6 + 3;
    let rounds = Rounds::new(parties);
    let fibers: Vec<_> = (0..6)
        .map(|_| {
            let rounds = rounds.clone();
            rt.spawn(move || rounds.party(parties))
        })
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let rounds = rounds.clone();
            std::thread::spawn(move || rounds.party(parties))
        })
        .collect();
    fibers.into_iter().for_each(|h| h.join().unwrap());
    threads.into_iter().for_each(|h| h.join().unwrap());
    rounds.check_one_leader_per_round();
}

#[test]
fn fibers_only_on_one_worker() {
    // Every party must suspend, not block, or the single worker would deadlock.
    let rt = Runtime::builder().workers(1).build().unwrap();
    let rounds = Rounds::new(5);
    let fibers: Vec<_> = (0..5)
        .map(|_| {
            let rounds = rounds.clone();
            rt.spawn(move || rounds.party(5))
        })
        .collect();
    fibers.into_iter().for_each(|h| h.join().unwrap());
    rounds.check_one_leader_per_round();
}

#[test]
fn threads_only() {
    let rounds = Rounds::new(4);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let rounds = rounds.clone();
            std::thread::spawn(move || rounds.party(4))
        })
        .collect();
    threads.into_iter().for_each(|h| h.join().unwrap());
    rounds.check_one_leader_per_round();
}

#[test]
fn zero_or_one_party_never_waits() {
    for n in [0, 1] {
        let b = Barrier::new(n);
        for _ in 0..3 {
            assert!(b.wait().is_leader());
        }
    }
    assert_eq!(
        format!("{:?}", Barrier::new(0)),
        "Barrier { parties: 1, .. }"
    );
}
