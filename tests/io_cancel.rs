//! Timed-out and abandoned operations: no late write into a buffer after its call
//! returned, no byte lost, and a runtime dropped with fibers blocked in I/O shuts down.
//!
//! Linux only: elsewhere these types are std's blocking sockets, and a fiber blocked in
//! one (a server's accept loop here) keeps its worker, and so the runtime's drop, waiting.

#![cfg(target_os = "linux")]

mod common;

use common::bounded;
use fibra::Runtime;
use fibra::net::{TcpListener, TcpStream, UdpSocket};
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

#[test]
fn timed_out_read_leaves_its_buffer_alone_and_loses_no_byte() {
    bounded(60, || {
        let rt = Runtime::builder().workers(2).build().unwrap();
        rt.block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            server
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            for round in 0..20u8 {
                let mut buf = [0xAAu8; 64];
                let e = (&server).read(&mut buf).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::TimedOut);
                // The peer writes right after the timeout: a read the kernel still had
                // would now land in `buf`.
                client.write_all(&[round; 16]).unwrap();
                fibra::sleep(Duration::from_millis(20));
                assert!(
                    buf.iter().all(|&b| b == 0xAA),
                    "round {round}: the timed-out read wrote into its buffer afterwards"
                );
                // And the bytes are still there for the next read.
                let mut got = [0u8; 16];
                (&server).read_exact(&mut got).unwrap();
                assert_eq!(got, [round; 16]);
            }
        });
    });
}

#[test]
fn timed_out_udp_receive_then_the_datagram_arrives() {
    bounded(60, || {
        let rt = Runtime::builder().workers(1).build().unwrap();
        rt.block_on(|| {
            let a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").unwrap();
            a.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
            let mut buf = [0u8; 8];
            assert_eq!(
                a.recv_from(&mut buf).unwrap_err().kind(),
                ErrorKind::TimedOut
            );
            b.send_to(b"late", a.local_addr().unwrap()).unwrap();
            let (n, from) = a.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"late");
            assert_eq!(from, b.local_addr().unwrap());
        });
    });
}

#[test]
fn dropping_the_runtime_with_fibers_blocked_in_io_returns() {
    bounded(60, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // Connections for the readers queue here, never accepted.
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = other.local_addr().unwrap();
        let rt = Runtime::builder().workers(2).build().unwrap();
        // One fiber blocked in accept, several in reads with buffers on their stacks,
        // one in a UDP receive.
        let l = rt.spawn(move || {
            let _ = listener.accept();
        });
        let mut peers = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..4 {
            let s = TcpStream::connect(addr).unwrap();
            peers.push(s.try_clone().unwrap());
            readers.push(rt.spawn(move || {
                let mut buf = [0u8; 256];
                let _ = (&s).read(&mut buf);
            }));
        }
        let u = rt.spawn(|| {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut buf = [0u8; 64];
            let _ = sock.recv_from(&mut buf);
        });
        std::thread::sleep(Duration::from_millis(100));
        drop(rt);
        // Their joins report the cancellation.
        assert!(l.join().is_err());
        assert!(u.join().is_err());
        for r in readers {
            let _ = r.join();
        }
        drop(peers);
        drop(other);
    });
}
