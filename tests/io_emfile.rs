//! Out of file descriptors at accept (EMFILE): the accept returns the error, nothing
//! hangs, and the same listener accepts again once descriptors are free. Its own test
//! binary: it lowers the process's open-files limit.

#![cfg(target_os = "linux")]

mod common;

use common::bounded;
use fibra::Runtime;
use fibra::net::TcpListener;
use std::io::{Read, Write};

fn set_soft_limit(n: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit with a live rlimit struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let old = lim.rlim_cur as u64;
        lim.rlim_cur = n as libc::rlim_t;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

#[test]
fn accept_reports_emfile_and_keeps_working() {
    bounded(60, || {
        let rt = Runtime::builder().workers(1).build().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Clients from a plain thread: they connect into the backlog without needing
        // accepts.
        let clients: Vec<std::net::TcpStream> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let result = rt.block_on(move || {
            // Fill the descriptor table up to a low limit.
            let mut hog = Vec::new();
            let old = set_soft_limit(256);
            while let Ok(f) = std::fs::File::open("/dev/null") {
                hog.push(f);
            }
            let err = listener.accept().unwrap_err();
            let emfile = err.raw_os_error() == Some(libc::EMFILE);
            // Free descriptors: the same listener accepts the queued connections.
            drop(hog);
            set_soft_limit(old);
            let mut accepted = Vec::new();
            for _ in 0..3 {
                accepted.push(listener.accept().unwrap().0);
            }
            for (i, c) in accepted.iter().enumerate() {
                (&*c).write_all(&[i as u8]).unwrap();
            }
            (emfile, err.to_string(), accepted)
        });
        assert!(
            result.0,
            "accept failed with {} instead of EMFILE",
            result.1
        );
        let mut got: Vec<u8> = clients
            .into_iter()
            .map(|mut c| {
                let mut b = [0u8; 1];
                c.read_exact(&mut b).unwrap();
                b[0]
            })
            .collect();
        got.sort();
        assert_eq!(got, [0, 1, 2]);
        drop(result);
    });
}
