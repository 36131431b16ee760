//! 10 000 TCP connections open at once, one fiber per connection on each side, every
//! byte accounted for. The clients run in a child process (this test binary, re-run with
//! `FIBRA_CHILD` set): one process could not hold both ends within the fd limit.

#![cfg(unix)]

mod common;

use common::{bounded, raise_fd_limit};
use fibra::Runtime;
use fibra::net::{TcpListener, TcpStream};
use fibra::sync::Barrier;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const CONNECTIONS: usize = 10_000;
/// Bytes each client sends (in messages of varying size) and reads back.
const BYTES_PER_CONNECTION: usize = 3_000;
const STACK: usize = 32 * 1024;

/// What each client sends: a function of its index and the byte's position.
fn byte(client: usize, i: usize) -> u8 {
    (client.wrapping_mul(31) ^ i.wrapping_mul(7)) as u8
}

#[test]
fn ten_thousand_connections_at_once() {
    if std::env::var("FIBRA_CHILD").is_ok() {
        return; // this is the child of `clients`, which runs the other test
    }
    bounded(300, || {
        let limit = raise_fd_limit();
        assert!(
            limit >= CONNECTIONS as u64 + 100,
            "open-files hard limit {limit} is below what the test needs"
        );
        let rt = Runtime::builder()
            .workers(2)
            .stack_size(STACK)
            .build()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let echoed = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        {
            let (live, peak, echoed, done) =
                (live.clone(), peak.clone(), echoed.clone(), done.clone());
            drop(rt.spawn(move || {
                // Server fibers too wait until every connection is accepted.
                let all_accepted = Arc::new(Barrier::new(CONNECTIONS));
                for _ in 0..CONNECTIONS {
                    let (mut conn, _) = listener.accept().expect("accept");
                    let now = live.fetch_add(1, Ordering::Relaxed) + 1;
                    peak.fetch_max(now, Ordering::Relaxed);
                    let (live, echoed, done) = (live.clone(), echoed.clone(), done.clone());
                    let all_accepted = all_accepted.clone();
                    drop(fibra::spawn(move || {
                        all_accepted.wait();
                        let mut buf = [0u8; 1024];
                        loop {
                            match conn.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => {
                                    conn.write_all(&buf[..n]).expect("echo write");
                                    echoed.fetch_add(n, Ordering::Relaxed);
                                }
                                Err(e) => panic!("server read: {e}"),
                            }
                        }
                        live.fetch_sub(1, Ordering::Relaxed);
                        done.fetch_add(1, Ordering::Relaxed);
                    }));
                }
            }));
        }
        let child = std::thread::spawn(move || {
            let mut cmd = child_command();
            cmd.env("FIBRA_IO_MANY_ADDR", addr.to_string());
            cmd.output().expect("spawn the client process")
        });
        let out = child.join().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("clients ok"),
            "client process failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        // The clients held all their connections before any sent a byte, and the server
        // side counts them accepted and not yet closed.
        while done.load(Ordering::Relaxed) < CONNECTIONS {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(peak.load(Ordering::Relaxed), CONNECTIONS);
        assert_eq!(
            echoed.load(Ordering::Relaxed),
            CONNECTIONS * BYTES_PER_CONNECTION
        );
    });
}

/// The child's half: connects every client, waits until all are connected, then each
/// sends its bytes and checks the echo.
#[test]
fn clients() {
    let Ok(addr) = std::env::var("FIBRA_IO_MANY_ADDR") else {
        return; // only in the child process
    };
    raise_fd_limit();
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let rt = Runtime::builder()
        .workers(2)
        .stack_size(STACK)
        .build()
        .unwrap();
    let all_connected = Arc::new(Barrier::new(CONNECTIONS));
    let verified = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let (all_connected, verified) = (all_connected.clone(), verified.clone());
            rt.spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                all_connected.wait();
                let data: Vec<u8> = (0..BYTES_PER_CONNECTION).map(|i| byte(c, i)).collect();
                let mut back = vec![0u8; BYTES_PER_CONNECTION];
                let mut at = 0;
                let mut size = 1 + c % 700;
                while at < data.len() {
                    let end = (at + size).min(data.len());
                    s.write_all(&data[at..end]).expect("client write");
                    s.read_exact(&mut back[at..end]).expect("client read");
                    at = end;
                    size = size * 3 % 1000 + 1;
                }
                assert!(back == data, "client {c}: echo differs");
                verified.fetch_add(BYTES_PER_CONNECTION, Ordering::Relaxed);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client fiber");
    }
    assert_eq!(
        verified.load(Ordering::Relaxed),
        CONNECTIONS * BYTES_PER_CONNECTION
    );
    println!("clients ok");
}

fn child_command() -> std::process::Command {
    let exe = std::env::current_exe().unwrap();
    let mut runner: Vec<String> = std::env::var("FIBRA_CHILD_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let mut cmd = if runner.is_empty() {
        std::process::Command::new(&exe)
    } else {
        let mut c = std::process::Command::new(runner.remove(0));
        c.args(runner).arg(&exe);
        c
    };
    cmd.args(["--exact", "clients", "--nocapture", "--test-threads=1"])
        .env("FIBRA_CHILD", "clients");
    cmd
}
