//! `fibra::select!` and `fibra::channel::Select`: receive, send, default, default with a
//! timeout, exactly one arm completing, disconnected arms, from threads and fibers.

use fibra::Runtime;
use fibra::channel::{self, RecvError, Select, SendError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

#[test]
fn recv_arm_takes_the_ready_message() {
    let (tx1, rx1) = channel::unbounded::<u32>();
    let (_tx2, rx2) = channel::unbounded::<&str>();
    tx1.send(1).unwrap();
    let got = fibra::select! {
        recv(rx1) -> m => m.unwrap(),
        recv(rx2) -> _ => unreachable!(),
    };
    assert_eq!(got, 1);
}

#[test]
fn send_arm_and_evaluation_of_unchosen_values() {
    // Every send value is evaluated once, up front; the unchosen one is dropped.
    let token = Arc::new(());
    let (tx_full, _rx_full) = channel::bounded::<Arc<()>>(0);
    let (tx_room, rx_room) = channel::bounded::<Arc<()>>(1);
    let evaluated = AtomicUsize::new(0);
    let make = || {
        evaluated.fetch_add(1, Ordering::SeqCst);
        token.clone()
    };
    fibra::select! {
        send(tx_full, make()) -> _ => panic!("nobody receives"),
        send(tx_room, make()) -> r => assert_eq!(r, Ok(())),
    }
    assert_eq!(evaluated.load(Ordering::SeqCst), 2);
    // One copy in the channel, the other dropped with its arm.
    assert_eq!(Arc::strong_count(&token), 2);
    drop(rx_room);
    assert_eq!(Arc::strong_count(&token), 1);
}

#[test]
fn default_runs_when_nothing_is_ready() {
    let (_tx, rx) = channel::bounded::<u32>(0);
    let r = fibra::select! {
        recv(rx) -> _ => 1,
        default => 2,
    };
    assert_eq!(r, 2);
    let t0 = Instant::now();
    let r = fibra::select! {
        recv(rx) -> _ => 1,
        default(Duration::from_millis(30)) => 3,
    };
    assert_eq!(r, 3);
    assert!(t0.elapsed() >= Duration::from_millis(30));
    // A default with nothing else.
    let r = fibra::select! { default => 4 };
    assert_eq!(r, 4);
}

#[test]
fn default_timeout_is_not_taken_when_a_message_comes_in_time() {
    let (tx, rx) = channel::bounded::<u32>(0);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        tx.send(8).unwrap();
    });
    let r = fibra::select! {
        recv(rx) -> m => m.unwrap(),
        default(Duration::from_secs(10)) => 0,
    };
    assert_eq!(r, 8);
    t.join().unwrap();
}

#[test]
fn blocking_select_wakes_on_either_channel() {
    let rt = rt();
    for which in 0..2 {
        let (tx1, rx1) = channel::bounded::<u32>(0);
        let (tx2, rx2) = channel::bounded::<u32>(0);
        let sel = rt.spawn(move || {
            fibra::select! {
                recv(rx1) -> m => (1, m.unwrap()),
                recv(rx2) -> m => (2, m.unwrap()),
            }
        });
        std::thread::sleep(Duration::from_millis(10));
        if which == 0 {
            tx1.send(10).unwrap();
            assert_eq!(sel.join().unwrap(), (1, 10));
        } else {
            tx2.send(20).unwrap();
            assert_eq!(sel.join().unwrap(), (2, 20));
        }
    }
}

#[test]
fn blocking_send_arm_completes_when_a_receiver_comes() {
    let rt = rt();
    let (tx, rx) = channel::bounded::<u32>(0);
    let (_tx_idle, rx_idle) = channel::bounded::<u32>(0);
    let sel = rt.spawn(move || {
        fibra::select! {
            send(tx, 5) -> r => { r.unwrap(); "sent" }
            recv(rx_idle) -> _ => "received",
        }
    });
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(rx.recv(), Ok(5));
    assert_eq!(sel.join().unwrap(), "sent");
}

#[test]
fn disconnected_arms_are_ready() {
    let (tx, rx) = channel::bounded::<u32>(0);
    drop(tx);
    fibra::select! {
        recv(rx) -> m => assert_eq!(m, Err(RecvError)),
    }
    let (tx, rx) = channel::bounded::<u32>(0);
    drop(rx);
    fibra::select! {
        send(tx, 3) -> r => assert_eq!(r, Err(SendError(3))),
    }
    // Disconnection while blocked wakes the select.
    let rt = rt();
    let (tx, rx) = channel::bounded::<u32>(0);
    let sel = rt.spawn(move || {
        fibra::select! {
            recv(rx) -> m => m,
        }
    });
    std::thread::sleep(Duration::from_millis(10));
    drop(tx);
    assert_eq!(sel.join().unwrap(), Err(RecvError));
}

#[test]
fn exactly_one_arm_completes_from_threads_and_fibers() {
    // Two always-ready buffered channels: each select takes exactly one message.
    let rt = rt();
    let (tx1, rx1) = channel::unbounded::<u32>();
    let (tx2, rx2) = channel::unbounded::<u32>();
    for i in 0..400 {
        tx1.send(i).unwrap();
        tx2.send(i).unwrap();
    }
    let rx1 = Arc::new(rx1);
    let rx2 = Arc::new(rx2);
    let run = {
        let (rx1, rx2) = (rx1.clone(), rx2.clone());
        move || {
            let mut n = 0;
            for _ in 0..100 {
                fibra::select! {
                    recv(rx1) -> m => { m.unwrap(); }
                    recv(rx2) -> m => { m.unwrap(); }
                }
                n += 1;
            }
            n
        }
    };
    let fibers: Vec<_> = (0..4).map(|_| rt.spawn(run.clone())).collect();
    let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(run.clone())).collect();
    let total: u32 = fibers.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
        + threads.into_iter().map(|h| h.join().unwrap()).sum::<u32>();
    assert_eq!(total, 800);
    assert_eq!(rx1.len() + rx2.len(), 0);
}

#[test]
fn selects_on_both_sides_of_rendezvous_channels() {
    // Selecting senders against selecting receivers over two rendezvous channels, fibers
    // and threads: every message arrives exactly once.
    let rt = rt();
    let (tx1, rx1) = channel::bounded::<u32>(0);
    let (tx2, rx2) = channel::bounded::<u32>(0);
    let n = 2_000;
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let (tx1, tx2) = (tx1.clone(), tx2.clone());
            rt.spawn(move || {
                for i in 0..n {
                    let v = p * n + i;
                    fibra::select! {
                        send(tx1, v) -> r => r.unwrap(),
                        send(tx2, v) -> r => r.unwrap(),
                    }
                }
            })
        })
        .collect();
    drop((tx1, tx2));
    let consumer = |rx1: channel::Receiver<u32>, rx2: channel::Receiver<u32>| {
        let mut got = vec![];
        let (mut open1, mut open2) = (true, true);
        while open1 || open2 {
            fibra::select! {
                recv(rx1) -> m => match m { Ok(v) => got.push(v), Err(_) => open1 = false },
                recv(rx2) -> m => match m { Ok(v) => got.push(v), Err(_) => open2 = false },
            }
            if !open1 && !open2 {
                break;
            }
            if !open1 {
                got.extend(rx2.iter());
                break;
            }
            if !open2 {
                got.extend(rx1.iter());
                break;
            }
        }
        got
    };
    let c1 = {
        let (rx1, rx2) = (rx1.clone(), rx2.clone());
        rt.spawn(move || consumer(rx1, rx2))
    };
    let c2 = std::thread::spawn(move || consumer(rx1, rx2));
    for p in producers {
        p.join().unwrap();
    }
    let mut all = c1.join().unwrap();
    all.extend(c2.join().unwrap());
    all.sort_unstable();
    assert_eq!(all, (0..2 * n).collect::<Vec<_>>());
}

#[test]
fn a_select_never_matches_itself() {
    // Sending and receiving on the same rendezvous channel in one select: the select must
    // not be its own counterpart, so it waits until someone else comes.
    let (tx, rx) = channel::bounded::<u32>(0);
    let r = fibra::select! {
        send(tx, 1) -> _ => "sent",
        recv(rx) -> _ => "received",
        default(Duration::from_millis(20)) => "timeout",
    };
    assert_eq!(r, "timeout");
    let rx2 = rx.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        rx2.recv().unwrap()
    });
    let r = fibra::select! {
        send(tx, 1) -> _ => "sent",
        recv(rx) -> _ => "received",
    };
    assert_eq!(r, "sent");
    assert_eq!(t.join().unwrap(), 1);
}

#[test]
fn macro_syntax_variants() {
    let (tx, rx) = channel::unbounded::<u32>();
    tx.send(1).unwrap();
    // Blocks without commas, a temporary channel expression (kept alive by the select).
    let r = fibra::select! {
        recv(rx) -> m => { m.unwrap() }
        recv(channel::bounded::<u32>(0).1) -> _ => { 0 }
    };
    assert_eq!(r, 1);
    let rx_ref = &rx;
    tx.send(2).unwrap();
    let r = fibra::channel::select! {
        recv(rx_ref) -> m => m.unwrap(),
        default => 0,
    };
    assert_eq!(r, 2);
    // `return` and `?` inside bodies.
    fn first(rx: &channel::Receiver<u32>) -> Result<u32, RecvError> {
        fibra::select! {
            recv(rx) -> m => return Ok(m? + 100),
        }
    }
    tx.send(3).unwrap();
    assert_eq!(first(&rx), Ok(103));
}

#[test]
fn dynamic_select_over_a_vec_of_receivers() {
    let rt = rt();
    let n = 8;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| channel::bounded::<usize>(0)).unzip();
    let senders: Vec<_> = txs
        .into_iter()
        .enumerate()
        .map(|(i, tx)| {
            rt.spawn(move || {
                for k in 0..50 {
                    tx.send(i * 1000 + k).unwrap();
                }
            })
        })
        .collect();
    let mut got = vec![];
    let mut open: Vec<usize> = (0..n).collect();
    while !open.is_empty() {
        // One select over the channels still open; operation k is channel open[k].
        let mut sel = Select::new();
        for &i in &open {
            sel.recv(&rxs[i]);
        }
        loop {
            let op = sel.select();
            let k = op.index();
            let i = open[k];
            match op.recv(&rxs[i]) {
                Ok(v) => {
                    assert_eq!(v / 1000, i);
                    got.push(v);
                }
                Err(RecvError) => {
                    open.remove(k);
                    break;
                }
            }
        }
    }
    for s in senders {
        s.join().unwrap();
    }
    got.sort_unstable();
    let expected: Vec<_> = (0..n)
        .flat_map(|i| (0..50).map(move |k| i * 1000 + k))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn dynamic_select_send_try_and_timeouts() {
    let (tx1, rx1) = channel::bounded::<&str>(1);
    let (tx2, rx2) = channel::bounded::<&str>(0);
    let mut sel = Select::new();
    let a = sel.send(&tx1, "one");
    let b = sel.send(&tx2, "two");
    let op = sel.try_select().unwrap();
    assert_eq!(op.index(), a);
    assert_eq!(op.send(&tx1), Ok(()));
    // The sent arm is spent; the other has no receiver: nothing ready.
    assert!(sel.try_select().is_err());
    let t0 = Instant::now();
    assert!(sel.select_timeout(Duration::from_millis(20)).is_err());
    assert!(t0.elapsed() >= Duration::from_millis(20));
    assert!(
        sel.select_deadline(Instant::now() + Duration::from_millis(5))
            .is_err()
    );
    let t = std::thread::spawn(move || rx2.recv().unwrap());
    let op = sel.select();
    assert_eq!(op.index(), b);
    assert_eq!(op.send(&tx2), Ok(()));
    assert_eq!(t.join().unwrap(), "two");
    assert_eq!(rx1.recv(), Ok("one"));
}

#[test]
#[should_panic(expected = "not the selected operation")]
fn dynamic_select_checks_the_channel_given() {
    let (tx1, rx1) = channel::unbounded::<u32>();
    let (_tx2, rx2) = channel::unbounded::<u32>();
    tx1.send(1).unwrap();
    let mut sel = Select::new();
    sel.recv(&rx1);
    let op = sel.select();
    let _ = op.recv(&rx2);
}

#[test]
fn select_works_from_threads_with_fiber_counterparts() {
    let rt = rt();
    let (tx, rx) = channel::bounded::<u32>(0);
    let (done_tx, done_rx) = channel::bounded::<()>(0);
    let fiber = rt.spawn(move || {
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        done_tx.send(()).unwrap();
    });
    let mut sum = 0;
    loop {
        fibra::select! {
            recv(rx) -> m => sum += m.unwrap(),
            recv(done_rx) -> _ => break,
        }
    }
    fiber.join().unwrap();
    assert_eq!(sum, 4950);
}
