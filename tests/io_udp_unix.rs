//! UDP and Unix-domain sockets through `fibra::net`, in fibers and on plain threads.
//!
//! Linux only: elsewhere these types are std's blocking sockets, and a fiber blocked in
//! one (a server's accept loop here) keeps its worker, and so the runtime's drop, waiting.

#![cfg(target_os = "linux")]

mod common;

use common::bounded;
use fibra::Runtime;
use fibra::net::UdpSocket;
use std::io::ErrorKind;
use std::time::Duration;

#[test]
fn udp_ping_pong_between_fibers() {
    bounded(60, || {
        let rt = Runtime::builder().workers(2).build().unwrap();
        rt.block_on(|| {
            let server = UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = server.local_addr().unwrap();
            let echo = fibra::spawn(move || {
                let mut buf = [0u8; 1500];
                for _ in 0..500 {
                    let (n, from) = server.recv_from(&mut buf).unwrap();
                    server.send_to(&buf[..n], from).unwrap();
                }
            });
            let client = UdpSocket::bind("127.0.0.1:0").unwrap();
            client.connect(addr).unwrap();
            assert_eq!(client.peer_addr().unwrap(), addr);
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            for i in 0..500u32 {
                client.send(&i.to_le_bytes()).unwrap();
                let mut b = [0u8; 16];
                let n = client.recv(&mut b).unwrap();
                assert_eq!(&b[..n], &i.to_le_bytes());
            }
            echo.join().unwrap();
        });
    });
}

#[test]
fn udp_from_threads_and_timeouts() {
    bounded(60, || {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.send_to(b"hi", a.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = a.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"hi"[..], b.local_addr().unwrap()));
        a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        assert_eq!(
            a.recv_from(&mut buf).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        let rt = Runtime::builder().workers(1).build().unwrap();
        let a = rt.block_on(move || {
            assert_eq!(
                a.recv_from(&mut buf).unwrap_err().kind(),
                ErrorKind::TimedOut
            );
            a
        });
        let clone = a.try_clone().unwrap();
        assert_eq!(
            clone.read_timeout().unwrap(),
            Some(Duration::from_millis(50))
        );
    });
}

#[cfg(unix)]
mod unix {
    use super::*;
    use fibra::net::{UnixListener, UnixStream};
    use std::io::{Read, Write};

    fn socket_path(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("fibra-{name}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn unix_echo_between_fibers_and_threads() {
        bounded(60, || {
            let path = socket_path("echo");
            let rt = Runtime::builder().workers(2).build().unwrap();
            let listener = UnixListener::bind(&path).unwrap();
            let server = rt.spawn(move || {
                let mut served = Vec::new();
                for conn in listener.incoming().take(3) {
                    let mut conn = conn.unwrap();
                    served.push(fibra::spawn(move || {
                        let mut buf = [0u8; 4096];
                        let mut total = 0;
                        loop {
                            match conn.read(&mut buf).unwrap() {
                                0 => break total,
                                n => {
                                    conn.write_all(&buf[..n]).unwrap();
                                    total += n;
                                }
                            }
                        }
                    }));
                }
                served.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
            });
            let exchange = |s: &mut UnixStream| {
                let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
                let w = s.try_clone().unwrap();
                let sent = data.clone();
                let writer = std::thread::spawn(move || {
                    (&w).write_all(&sent).unwrap();
                    w.shutdown(std::net::Shutdown::Write).unwrap();
                });
                let mut back = Vec::new();
                s.read_to_end(&mut back).unwrap();
                writer.join().unwrap();
                assert!(back == data);
            };
            // Two clients in fibers, one on this thread.
            let p = path.clone();
            rt.block_on(move || {
                let fibers: Vec<_> = (0..2)
                    .map(|_| {
                        let p = p.clone();
                        fibra::spawn(move || {
                            let mut s = UnixStream::connect(&p).unwrap();
                            let data: Vec<u8> = (0..100_000u32).map(|i| (i * 3) as u8).collect();
                            let w = s.try_clone().unwrap();
                            let sent = data.clone();
                            let writer = fibra::spawn(move || {
                                (&w).write_all(&sent).unwrap();
                                w.shutdown(std::net::Shutdown::Write).unwrap();
                            });
                            let mut back = Vec::new();
                            s.read_to_end(&mut back).unwrap();
                            writer.join().unwrap();
                            assert!(back == data);
                        })
                    })
                    .collect();
                for f in fibers {
                    f.join().unwrap();
                }
            });
            exchange(&mut UnixStream::connect(&path).unwrap());
            assert_eq!(server.join().unwrap(), 300_000);
            let _ = std::fs::remove_file(&path);
        });
    }

    #[test]
    fn unix_pair_timeout_and_conversion() {
        bounded(60, || {
            let rt = Runtime::builder().workers(1).build().unwrap();
            rt.block_on(|| {
                let (a, b) = UnixStream::pair().unwrap();
                a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                let mut buf = [0u8; 4];
                assert_eq!((&a).read(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
                (&b).write_all(b"ping").unwrap();
                (&a).read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"ping");
                let mut a = a.into_std().unwrap();
                (&b).write_all(b"std!").unwrap();
                a.read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"std!");
            });
        });
    }
}
