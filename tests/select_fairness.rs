//! With several arms always ready, the select's random order gives each a fair share.

use fibra::channel::{self, Select};

const ROUNDS: usize = 20_000;

fn assert_fair(counts: &[usize]) {
    let expected = ROUNDS / counts.len();
    for (i, &c) in counts.iter().enumerate() {
        // Within 20% of an even share (a binomial's spread here is about 1%).
        assert!(
            c * 10 >= expected * 8 && c * 10 <= expected * 12,
            "arm {i} chosen {c} times of {ROUNDS}: {counts:?}"
        );
    }
}

#[test]
fn two_ready_recv_arms() {
    let (tx1, rx1) = channel::unbounded();
    let (tx2, rx2) = channel::unbounded();
    for _ in 0..ROUNDS {
        tx1.send(()).unwrap();
        tx2.send(()).unwrap();
    }
    let mut counts = [0; 2];
    for _ in 0..ROUNDS {
        fibra::select! {
            recv(rx1) -> _ => counts[0] += 1,
            recv(rx2) -> _ => counts[1] += 1,
        }
    }
    assert_fair(&counts);
}

#[test]
fn three_ready_arms_mixing_send_and_recv() {
    let (tx1, rx1) = channel::unbounded::<u8>();
    let (tx2, _rx2) = channel::unbounded::<u8>();
    let (tx3, rx3) = channel::bounded::<u8>(usize::MAX / 2);
    for _ in 0..ROUNDS {
        tx1.send(0).unwrap();
    }
    let mut counts = [0; 3];
    for _ in 0..ROUNDS {
        fibra::select! {
            recv(rx1) -> _ => counts[0] += 1,
            send(tx2, 1) -> _ => counts[1] += 1,
            send(tx3, 2) -> _ => counts[2] += 1,
        }
    }
    drop(rx3);
    assert_fair(&counts);
}

#[test]
fn disconnected_arms_are_ready_too_and_share_fairly() {
    let (tx1, rx1) = channel::bounded::<()>(0);
    let (tx2, rx2) = channel::bounded::<()>(0);
    drop((tx1, tx2));
    let mut counts = [0; 2];
    for _ in 0..ROUNDS {
        fibra::select! {
            recv(rx1) -> m => { assert!(m.is_err()); counts[0] += 1 }
            recv(rx2) -> m => { assert!(m.is_err()); counts[1] += 1 }
        }
    }
    assert_fair(&counts);
}

#[test]
fn dynamic_select_over_many_ready_receivers() {
    let n = 5;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| channel::unbounded::<()>()).unzip();
    for tx in &txs {
        for _ in 0..ROUNDS {
            tx.send(()).unwrap();
        }
    }
    let mut sel = Select::new();
    for rx in &rxs {
        sel.recv(rx);
    }
    let mut counts = vec![0; n];
    for _ in 0..ROUNDS {
        let op = sel.select();
        let i = op.index();
        op.recv(&rxs[i]).unwrap();
        counts[i] += 1;
    }
    assert_fair(&counts);
}

#[test]
fn fairness_from_a_fiber() {
    let rt = fibra::Runtime::builder().workers(2).build().unwrap();
    let counts = rt.block_on(|| {
        let (tx1, rx1) = channel::unbounded();
        let (tx2, rx2) = channel::unbounded();
        let mut counts = [0; 2];
        for _ in 0..ROUNDS {
            tx1.send(()).unwrap();
            tx2.send(()).unwrap();
            fibra::select! {
                recv(rx1) -> _ => counts[0] += 1,
                recv(rx2) -> _ => counts[1] += 1,
            }
        }
        counts
    });
    assert_fair(&counts);
}
