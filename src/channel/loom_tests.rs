//! loom models of the channel's hand-offs, timeouts, disconnection and select. Under loom
//! every deadline has passed already, so a timed operation links its node and then races
//! its own cancel against the other side, through the real code.

use super::{RecvTimeoutError, SendTimeoutError, TryRecvError, bounded};
use crate::sync::loom_model;
use loom::thread;
use std::time::Duration;

const T: Duration = Duration::from_secs(1);

/// A rendezvous: the receiver gets the message, and the send completes, whichever side
/// arrives first.
#[test]
fn loom_chan_rendezvous_hand_off() {
    loom_model(3, || {
        let (tx, rx) = bounded::<u32>(0);
        let sender = thread::spawn(move || tx.send(7));
        assert_eq!(rx.recv(), Ok(7));
        assert_eq!(sender.join().unwrap(), Ok(()));
    });
}

/// Two senders block on a rendezvous while one receiver takes both messages: each arrives
/// once, and both senders finish.
#[test]
fn loom_chan_two_senders_one_receiver() {
    loom_model(3, || {
        let (tx, rx) = bounded::<u32>(0);
        let tx2 = tx.clone();
        let s1 = thread::spawn(move || tx.send(1));
        let s2 = thread::spawn(move || tx2.send(2));
        let (a, b) = (rx.recv().unwrap(), rx.recv().unwrap());
        assert_eq!(a + b, 3);
        assert_eq!((s1.join().unwrap(), s2.join().unwrap()), (Ok(()), Ok(())));
        assert!(rx.recv().is_err(), "both senders are gone");
    });
}

/// A timed receive races a send into a one-slot buffer: the message is either received,
/// or still in the channel afterwards; never lost, never both.
#[test]
fn loom_chan_recv_timeout_races_send() {
    loom_model(3, || {
        let (tx, rx) = bounded::<u32>(1);
        let sender = thread::spawn(move || {
            tx.send(1).unwrap();
            tx // keep the channel connected until joined
        });
        let got = rx.recv_timeout(T);
        let _tx = sender.join().unwrap();
        match got {
            Ok(v) => {
                assert_eq!(v, 1);
                assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            }
            Err(RecvTimeoutError::Timeout) => assert_eq!(rx.try_recv(), Ok(1)),
            Err(RecvTimeoutError::Disconnected) => panic!("disconnected while a sender lives"),
        }
    });
}

/// On a rendezvous both sides time out: either the message moved (both succeeded) or it
/// went back to the sender (both timed out).
#[test]
fn loom_chan_timed_send_races_timed_recv() {
    loom_model(3, || {
        let (tx, rx) = bounded::<u32>(0);
        let sender = thread::spawn(move || {
            let r = tx.send_timeout(5, T);
            (r, tx)
        });
        let got = rx.recv_timeout(T);
        let (sent, _tx) = sender.join().unwrap();
        match (got, sent) {
            (Ok(5), Ok(())) => {}
            (Err(RecvTimeoutError::Timeout), Err(SendTimeoutError::Timeout(5))) => {}
            other => panic!("message lost or duplicated: {other:?}"),
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

/// The last sender goes while a receiver blocks: the receiver gets what was sent before,
/// then `Disconnected`, and is never left waiting.
#[test]
fn loom_chan_disconnect_races_blocked_recv() {
    loom_model(3, || {
        let (tx, rx) = bounded::<u32>(1);
        let receiver = thread::spawn(move || {
            let first = rx.recv();
            let second = rx.recv();
            (first, second)
        });
        tx.send(1).unwrap();
        drop(tx);
        let (first, second) = receiver.join().unwrap();
        assert_eq!(first, Ok(1));
        assert!(second.is_err());
    });
}

/// The last receiver goes while a sender blocks on a rendezvous: the sender gets its
/// message back.
#[test]
fn loom_chan_disconnect_races_blocked_send() {
    loom_model(3, || {
        let (tx, rx) = bounded::<u32>(0);
        let sender = thread::spawn(move || tx.send(3));
        drop(rx);
        assert_eq!(sender.join().unwrap().map_err(|e| e.into_inner()), Err(3));
    });
}

/// A select over two one-slot channels races two senders, one per channel: exactly one
/// arm completes, and the other message is still in its channel afterwards.
#[test]
fn loom_select_two_ready_arms_race_two_senders() {
    loom_model(3, || {
        let (tx1, rx1) = bounded::<u32>(1);
        let (tx2, rx2) = bounded::<u32>(1);
        let s1 = thread::spawn(move || {
            tx1.send(1).unwrap();
            tx1
        });
        let s2 = thread::spawn(move || {
            tx2.send(2).unwrap();
            tx2
        });
        let chosen = crate::select! {
            recv(rx1) -> m => { assert_eq!(m, Ok(1)); 1 }
            recv(rx2) -> m => { assert_eq!(m, Ok(2)); 2 }
        };
        let (_tx1, _tx2) = (s1.join().unwrap(), s2.join().unwrap());
        let (left1, left2) = (rx1.try_recv(), rx2.try_recv());
        if chosen == 1 {
            assert_eq!((left1, left2), (Err(TryRecvError::Empty), Ok(2)));
        } else {
            assert_eq!((left1, left2), (Ok(1), Err(TryRecvError::Empty)));
        }
    });
}

/// A select with a timeout races a timed rendezvous send: the message is received by the
/// select or returned to the sender, never both, never neither.
#[test]
fn loom_select_timeout_races_send() {
    loom_model(3, || {
        let (tx, rx) = bounded::<u32>(0);
        let (_idle_tx, idle_rx) = bounded::<u32>(0);
        let sender = thread::spawn(move || (tx.send_timeout(9, T), tx));
        let got = crate::select! {
            recv(idle_rx) -> _ => unreachable!(),
            recv(rx) -> m => Some(m.unwrap()),
            default(T) => None,
        };
        let (sent, _tx) = sender.join().unwrap();
        match (got, sent) {
            (Some(9), Ok(())) => {}
            (None, Err(SendTimeoutError::Timeout(9))) => {}
            other => panic!("message lost or duplicated: {other:?}"),
        }
    });
}

/// Two selects meet over two rendezvous channels from both sides (one sends on either,
/// the other receives from either), registering in opposite orders so that each can claim
/// the other as its counterpart while its own signal is being claimed: exactly one message
/// moves, and a select that had to let its counterpart go wakes it to try again.
#[test]
fn loom_select_meets_select() {
    loom_model(3, || {
        let (tx1, rx1) = bounded::<u32>(0);
        let (tx2, rx2) = bounded::<u32>(0);
        let sender = thread::spawn(move || {
            crate::select! {
                send(tx1, 1) -> r => { r.unwrap(); 1 }
                send(tx2, 2) -> r => { r.unwrap(); 2 }
            }
        });
        // Under loom the arms are tried and registered in the order written.
        let got = crate::select! {
            recv(rx2) -> m => m.unwrap(),
            recv(rx1) -> m => m.unwrap(),
        };
        assert_eq!(sender.join().unwrap(), got);
    });
}
