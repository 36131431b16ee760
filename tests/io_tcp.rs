//! TCP through `fibra::net`: echo round trips in fibers and threads, concurrent use of a
//! shared stream, timeouts, errors, conversions. Runs under whichever backend the
//! process picks (`.ci/run` runs it again with `FIBRA_IO=epoll`).
//!
//! Linux only: elsewhere these types are std's blocking sockets, and a fiber blocked in
//! one (a server's accept loop here) keeps its worker, and so the runtime's drop, waiting.

#![cfg(target_os = "linux")]

mod common;

use common::bounded;
use fibra::Runtime;
use fibra::net::{Shutdown, TcpListener, TcpStream};
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

/// Echoes every connection of `listener` in a fiber of its own until the peer closes.
fn serve_echo(listener: TcpListener) {
    fibra::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            fibra::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => conn.write_all(&buf[..n]).unwrap(),
                    }
                }
            });
        }
    });
}

#[test]
fn backend_is_reported() {
    let rt = rt();
    let b = rt.io_backend();
    assert!(!b.to_string().is_empty());
    if let Ok(forced) = std::env::var("FIBRA_IO") {
        if forced == "epoll" {
            assert_eq!(b, fibra::IoBackend::Epoll);
        }
    }
    if cfg!(target_os = "linux") {
        assert_ne!(b, fibra::IoBackend::Blocking);
    }
}

#[test]
fn echo_round_trips_between_fibers() {
    bounded(60, || {
        let rt = rt();
        rt.block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            serve_echo(listener);
            let clients: Vec<_> = (0..50u32)
                .map(|c| {
                    fibra::spawn(move || {
                        let mut s = TcpStream::connect(addr).unwrap();
                        s.set_nodelay(true).unwrap();
                        assert_eq!(s.peer_addr().unwrap(), addr);
                        for i in 0..100u32 {
                            let msg = [c.to_le_bytes(), i.to_le_bytes()].concat();
                            s.write_all(&msg).unwrap();
                            let mut back = [0u8; 8];
                            s.read_exact(&mut back).unwrap();
                            assert_eq!(back[..], msg[..]);
                        }
                        // A large message: many partial reads and writes.
                        let big: Vec<u8> =
                            (0..1 << 20).map(|i| (i * 7 + c as usize) as u8).collect();
                        let mut w = s.try_clone().unwrap();
                        let sent = big.clone();
                        let writer = fibra::spawn(move || w.write_all(&sent).unwrap());
                        let mut got = vec![0u8; big.len()];
                        s.read_exact(&mut got).unwrap();
                        writer.join().unwrap();
                        assert!(got == big, "client {c}: echoed bytes differ");
                    })
                })
                .collect();
            for c in clients {
                c.join().unwrap();
            }
        });
    });
}

#[test]
fn plain_threads_use_the_same_types() {
    bounded(60, || {
        // A server in fibers, clients on plain threads, and one thread-only pair.
        let rt = rt();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(move || serve_echo(listener)).join().unwrap();
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    for i in 0..200u8 {
                        s.write_all(&[t, i]).unwrap();
                        let mut b = [0; 2];
                        s.read_exact(&mut b).unwrap();
                        assert_eq!(b, [t, i]);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }

        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, peer) = l.accept().unwrap();
            assert!(peer.ip().is_loopback());
            let mut s = String::new();
            c.read_to_string(&mut s).unwrap();
            s
        });
        let mut c = TcpStream::connect(a).unwrap();
        c.write_all(b"from a thread").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(server.join().unwrap(), "from a thread");
    });
}

#[test]
fn shared_stream_reads_and_writes_from_two_fibers() {
    bounded(60, || {
        let rt = rt();
        rt.block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            serve_echo(listener);
            let s = std::sync::Arc::new(TcpStream::connect(addr).unwrap());
            const N: usize = 200_000;
            let w = s.clone();
            let writer = fibra::spawn(move || {
                let data: Vec<u8> = (0..N).map(|i| i as u8).collect();
                (&*w).write_all(&data).unwrap();
            });
            let mut got = Vec::with_capacity(N);
            let mut buf = [0u8; 8192];
            while got.len() < N {
                let n = (&*s).read(&mut buf).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            writer.join().unwrap();
            assert!(got.iter().enumerate().all(|(i, &b)| b == i as u8));
        });
    });
}

#[test]
fn read_timeout_gives_timed_out_in_fibers_and_threads() {
    bounded(60, || {
        let rt = rt();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts and holds connections without writing.
        let held = rt.spawn(move || {
            let mut conns = Vec::new();
            for _ in 0..2 {
                conns.push(listener.accept().unwrap().0);
            }
            fibra::sleep(Duration::from_secs(2));
            drop(conns);
        });
        let check = |s: &TcpStream| {
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(100)));
            let start = Instant::now();
            let mut buf = [0u8; 16];
            let e = (&*s).read(&mut buf).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
            assert!(start.elapsed() >= Duration::from_millis(100));
        };
        rt.block_on(|| check(&TcpStream::connect(addr).unwrap()));
        check(&TcpStream::connect(addr).unwrap());
        let zero = TcpStream::connect(addr);
        if let Ok(z) = zero {
            assert_eq!(
                z.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
        }
        held.join().unwrap();
    });
}

#[test]
fn write_timeout_gives_timed_out_when_the_peer_does_not_read() {
    bounded(60, || {
        let rt = rt();
        rt.block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let s = TcpStream::connect(addr).unwrap();
            let (peer, _) = listener.accept().unwrap();
            s.set_write_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let chunk = vec![7u8; 1 << 16];
            let mut sent = 0usize;
            let err = loop {
                match (&s).write(&chunk) {
                    Ok(n) => sent += n,
                    Err(e) => break e,
                }
                assert!(sent < 1 << 30, "the socket buffers never filled");
            };
            assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
            // Everything reported as sent arrives.
            drop(s);
            let mut got = 0usize;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match (&peer).read(&mut buf).unwrap() {
                    0 => break,
                    n => {
                        assert!(buf[..n].iter().all(|&b| b == 7));
                        got += n;
                    }
                }
            }
            assert_eq!(got, sent);
        });
    });
}

/// A listener whose accept queue is full drops further SYNs, so a connect to it hangs
/// until its timeout.
#[cfg(target_os = "linux")]
#[test]
fn connect_timeout_gives_timed_out() {
    use std::os::fd::AsRawFd;
    bounded(60, || {
        let rt = rt();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // SAFETY: listen on our own socket, with a backlog of 0 (one pending connection).
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let addr = listener.local_addr().unwrap();
        let attempt = move || {
            let mut held = Vec::new();
            for _ in 0..16 {
                match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                    Ok(s) => held.push(s),
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
                        return true;
                    }
                }
            }
            false
        };
        assert!(rt.block_on(attempt), "no connect timed out in a fiber");
        assert!(attempt(), "no connect timed out on a thread");
        drop(listener);
    });
}

#[test]
fn errors_are_reported_not_hung() {
    bounded(60, || {
        let rt = rt();
        rt.block_on(|| {
            // Nobody listens: refused.
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            drop(l);
            let e = TcpStream::connect(addr).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");

            // The peer goes away: reads see EOF, writes eventually fail.
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (p, _) = l.accept().unwrap();
            drop(p);
            let mut buf = [0u8; 8];
            assert_eq!(c.read(&mut buf).unwrap(), 0);
            let mut failed = false;
            for _ in 0..100 {
                if c.write(&[1u8; 1024]).is_err() {
                    failed = true;
                    break;
                }
                fibra::sleep(Duration::from_millis(5));
            }
            assert!(failed, "writes to a closed peer kept succeeding");
        });
    });
}

#[test]
fn std_conversions_round_trip() {
    bounded(60, || {
        let rt = rt();
        rt.block_on(|| {
            let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let l = TcpListener::from_std(std_l).unwrap();
            let addr = l.local_addr().unwrap();
            let c = std::net::TcpStream::connect(addr).unwrap();
            let (s, _) = l.accept().unwrap();
            let mut s = s.into_std().unwrap();
            // Back in blocking mode: a std read with a std timeout works as std's.
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut c = TcpStream::from_std(c).unwrap();
            c.write_all(b"ok").unwrap();
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            assert_eq!(&b, b"ok");
            let _ = l.into_std().unwrap();
        });
    });
}
