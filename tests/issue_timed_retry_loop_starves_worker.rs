//! A fiber retrying a timed send whose deadline passes before it can wait (here: a zero
//! timeout on a full channel) must still let the other fibers of its worker run: it used
//! to return `Timeout` without ever suspending, so the receiver on the same worker never
//! ran and the loop spun forever (found by `channel_stress`, which hung about one run in
//! five under load). The same holds for timed receives.

use fibra::Runtime;
use fibra::channel::{RecvTimeoutError, SendTimeoutError, bounded};
use std::time::Duration;

#[test]
fn a_timed_send_retry_loop_lets_the_receiver_run() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let h = rt.spawn(move || {
        let (tx, rx) = bounded::<u32>(1);
        tx.send(1).unwrap(); // full
        // The receiver is queued on this (only) worker behind us.
        let receiver = fibra::spawn(move || (rx.recv().unwrap(), rx.recv().unwrap()));
        let mut v = 2;
        loop {
            match tx.send_timeout(v, Duration::ZERO) {
                Ok(()) => break,
                Err(SendTimeoutError::Timeout(back)) => v = back,
                Err(SendTimeoutError::Disconnected(_)) => panic!("receiver gone"),
            }
        }
        receiver.join().unwrap()
    });
    std::thread::spawn(move || done_tx.send(h.join().unwrap()).unwrap());
    // Not a timing assertion: a generous bound that turns the old livelock into a failure.
    let got = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a timed-send retry loop starved its worker");
    assert_eq!(got, (1, 2));
}

#[test]
fn a_timed_recv_retry_loop_lets_the_sender_run() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let h = rt.spawn(move || {
        let (tx, rx) = bounded::<u32>(1);
        let sender = fibra::spawn(move || tx.send(7).unwrap());
        let got = loop {
            match rx.recv_timeout(Duration::ZERO) {
                Ok(v) => break v,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => panic!("sender gone"),
            }
        };
        sender.join().unwrap();
        got
    });
    std::thread::spawn(move || done_tx.send(h.join().unwrap()).unwrap());
    let got = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a timed-receive retry loop starved its worker");
    assert_eq!(got, 7);
}
