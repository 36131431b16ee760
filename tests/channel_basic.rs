//! `fibra::channel`: bounded, unbounded and rendezvous channels from fibers, threads and
//! both mixed; FIFO order; len/capacity; timeouts; disconnection both ways; iterators.

use fibra::Runtime;
use fibra::channel::{
    self, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

#[test]
fn bounded_buffers_up_to_capacity_in_order() {
    let (tx, rx) = channel::bounded(3);
    assert_eq!(tx.capacity(), Some(3));
    assert!(tx.is_empty() && !tx.is_full());
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
    assert!(tx.is_full() && rx.is_full());
    assert_eq!((tx.len(), rx.len()), (3, 3));
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(rx.is_empty());
}

#[test]
fn unbounded_never_blocks() {
    let (tx, rx) = channel::unbounded();
    assert_eq!(rx.capacity(), None);
    for i in 0..10_000 {
        tx.send(i).unwrap();
    }
    assert!(!tx.is_full());
    assert_eq!(rx.len(), 10_000);
    assert!(rx.try_iter().eq(0..10_000));
}

#[test]
fn rendezvous_hands_over_only_to_a_receiver() {
    let (tx, rx) = channel::bounded::<u32>(0);
    assert_eq!(tx.capacity(), Some(0));
    assert!(tx.is_full() && tx.is_empty());
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    let sent = Arc::new(AtomicUsize::new(0));
    let t = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            tx.send(5).unwrap();
            sent.store(1, Ordering::SeqCst);
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        sent.load(Ordering::SeqCst),
        0,
        "a rendezvous send completed alone"
    );
    assert_eq!(rx.recv(), Ok(5));
    t.join().unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), 1);
}

/// Producers and consumers of the given kinds exchange `per` messages each; every id
/// arrives exactly once and each producer's messages arrive in order.
fn exchange(
    cap: Option<usize>,
    fiber_producers: usize,
    thread_producers: usize,
    fiber_consumers: usize,
    thread_consumers: usize,
) {
    let rt = rt();
    let per = 2_000usize;
    let (tx, rx) = match cap {
        Some(n) => channel::bounded::<(usize, usize)>(n),
        None => channel::unbounded(),
    };
    let producers = fiber_producers + thread_producers;
    let mut fibers = vec![];
    let mut threads = vec![];
    for p in 0..producers {
        let tx = tx.clone();
        let body = move || {
            for i in 0..per {
                tx.send((p, i)).unwrap();
            }
        };
        if p < fiber_producers {
            fibers.push(rt.spawn(move || {
                body();
                Vec::new()
            }));
        } else {
            threads.push(std::thread::spawn(move || {
                body();
                Vec::new()
            }));
        }
    }
    drop(tx);
    for c in 0..fiber_consumers + thread_consumers {
        let rx = rx.clone();
        let body = move || {
            let mut last = vec![None::<usize>; producers];
            let mut got = vec![];
            for (p, i) in &rx {
                assert!(
                    last[p].is_none_or(|l| l < i),
                    "producer {p}: {i} after {:?}",
                    last[p]
                );
                last[p] = Some(i);
                got.push((p, i));
            }
            got
        };
        if c < fiber_consumers {
            fibers.push(rt.spawn(body));
        } else {
            threads.push(std::thread::spawn(body));
        }
    }
    drop(rx);
    let mut all: Vec<(usize, usize)> = fibers.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.extend(threads.into_iter().flat_map(|h| h.join().unwrap()));
    all.sort_unstable();
    let expected: Vec<_> = (0..producers)
        .flat_map(|p| (0..per).map(move |i| (p, i)))
        .collect();
    assert_eq!(all, expected);
}

#[test]
fn fibers_only() {
    for cap in [Some(0), Some(1), Some(16), None] {
        exchange(cap, 4, 0, 3, 0);
    }
}

#[test]
fn threads_only() {
    for cap in [Some(0), Some(1), Some(16), None] {
        exchange(cap, 0, 3, 0, 2);
    }
}

#[test]
fn fibers_and_threads_mixed() {
    for cap in [Some(0), Some(1), Some(16), None] {
        exchange(cap, 3, 2, 2, 2);
    }
}

#[test]
fn fifo_order_single_producer_blocking() {
    // A full buffer with blocked senders still delivers in send order.
    let rt = rt();
    let (tx, rx) = channel::bounded(2);
    let producer = rt.spawn(move || {
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(5));
    assert!(rx.iter().eq(0..1000));
    producer.join().unwrap();
}

#[test]
fn a_fiber_waiting_on_a_channel_lets_its_worker_run_others() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let (tx, rx) = channel::bounded::<u32>(0);
    let waiter = rt.spawn(move || rx.recv().unwrap());
    assert_eq!(rt.spawn(|| 7).join().unwrap(), 7);
    tx.send(3).unwrap();
    assert_eq!(waiter.join().unwrap(), 3);
}

#[test]
fn recv_timeouts_and_deadlines() {
    let rt = rt();
    let (tx, rx) = channel::bounded::<u32>(1);
    let t0 = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(30)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(t0.elapsed() >= Duration::from_millis(30));
    let deadline = Instant::now() + Duration::from_millis(20);
    assert_eq!(rx.recv_deadline(deadline), Err(RecvTimeoutError::Timeout));
    assert!(Instant::now() >= deadline);
    // From a fiber, and then a message arriving in time.
    let rx2 = rx.clone();
    let in_fiber = rt
        .spawn(move || rx2.recv_timeout(Duration::from_millis(20)))
        .join()
        .unwrap();
    assert_eq!(in_fiber, Err(RecvTimeoutError::Timeout));
    let rx3 = rx.clone();
    let waiter = rt.spawn(move || rx3.recv_timeout(Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(10));
    tx.send(4).unwrap();
    assert_eq!(waiter.join().unwrap(), Ok(4));
    // A timed-out receiver leaves nothing behind: the next message goes to the next one.
    tx.send(5).unwrap();
    assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(5));
    drop(tx);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Err(RecvTimeoutError::Disconnected)
    );
}

#[test]
fn send_timeouts_return_the_message() {
    let rt = rt();
    let (tx, rx) = channel::bounded::<String>(0);
    let t0 = Instant::now();
    let e = tx
        .send_timeout("a".into(), Duration::from_millis(30))
        .unwrap_err();
    assert!(t0.elapsed() >= Duration::from_millis(30));
    assert!(e.is_timeout());
    assert_eq!(e.into_inner(), "a");
    let deadline = Instant::now() + Duration::from_millis(10);
    assert_eq!(
        tx.send_deadline("b".into(), deadline),
        Err(SendTimeoutError::Timeout("b".into()))
    );
    let tx2 = tx.clone();
    let fiber = rt.spawn(move || tx2.send_timeout("c".into(), Duration::from_millis(10)));
    assert_eq!(
        fiber.join().unwrap(),
        Err(SendTimeoutError::Timeout("c".into()))
    );
    // In time.
    let tx3 = tx.clone();
    let fiber = rt.spawn(move || tx3.send_timeout("d".into(), Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(rx.recv().unwrap(), "d");
    assert_eq!(fiber.join().unwrap(), Ok(()));
    drop(rx);
    assert_eq!(
        tx.send_timeout("e".into(), Duration::from_secs(10)),
        Err(SendTimeoutError::Disconnected("e".into()))
    );
}

#[test]
fn receivers_drain_then_see_disconnected() {
    let (tx, rx) = channel::bounded(4);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    let tx2 = tx.clone();
    drop(tx);
    assert_eq!(rx.recv(), Ok(1));
    drop(tx2);
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn blocked_receivers_are_woken_by_disconnection() {
    let rt = rt();
    let (tx, rx) = channel::bounded::<u32>(0);
    let fibers: Vec<_> = (0..5)
        .map(|_| {
            let rx = rx.clone();
            rt.spawn(move || rx.recv())
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || rx.recv())
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    drop(tx);
    for h in fibers {
        assert_eq!(h.join().unwrap(), Err(RecvError));
    }
    for h in threads {
        assert_eq!(h.join().unwrap(), Err(RecvError));
    }
}

#[test]
fn blocked_senders_get_their_messages_back() {
    let rt = rt();
    let (tx, rx) = channel::bounded::<u32>(1);
    tx.send(0).unwrap();
    let fibers: Vec<_> = (1..5)
        .map(|i| {
            let tx = tx.clone();
            rt.spawn(move || tx.send(i))
        })
        .collect();
    let threads: Vec<_> = (5..7)
        .map(|i| {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(i))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    drop(rx);
    let mut back = vec![];
    for h in fibers {
        back.push(h.join().unwrap().unwrap_err().into_inner());
    }
    for h in threads {
        let SendError(v) = h.join().unwrap().unwrap_err();
        back.push(v);
    }
    back.sort_unstable();
    assert_eq!(back, [1, 2, 3, 4, 5, 6]);
    assert_eq!(tx.send(9), Err(SendError(9)));
    assert_eq!(tx.try_send(9), Err(TrySendError::Disconnected(9)));
}

#[test]
fn buffered_messages_are_dropped_when_receivers_go() {
    let token = Arc::new(());
    let (tx, rx) = channel::unbounded();
    tx.send(token.clone()).unwrap();
    tx.send(token.clone()).unwrap();
    assert_eq!(Arc::strong_count(&token), 3);
    drop(rx);
    assert_eq!(Arc::strong_count(&token), 1);
}

#[test]
fn iterators() {
    let (tx, rx) = channel::unbounded();
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().take(2).collect::<Vec<_>>(), [0, 1]);
    let t = std::thread::spawn(move || {
        for i in 5..10 {
            tx.send(i).unwrap();
        }
    });
    let mut got: Vec<i32> = (&rx).into_iter().take(3).collect();
    got.extend(rx);
    assert_eq!(got, (2..10).collect::<Vec<_>>());
    t.join().unwrap();
}

#[test]
fn errors_print_without_debug_messages() {
    struct NoDebug;
    let (tx, rx) = channel::bounded::<NoDebug>(0);
    drop(rx);
    let e = tx.send(NoDebug).unwrap_err();
    assert_eq!(format!("{e:?}"), "SendError(..)");
    assert!(e.to_string().contains("receivers"));
    let e: Box<dyn std::error::Error> = Box::new(tx.try_send(NoDebug).unwrap_err());
    assert!(!e.to_string().is_empty());
    assert_eq!(
        RecvTimeoutError::Timeout.to_string(),
        "timed out waiting to receive on a channel"
    );
    assert!(format!("{:?}", tx).starts_with("Sender"));
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<channel::Sender<Vec<u8>>>();
    check::<channel::Receiver<Vec<u8>>>();
}
