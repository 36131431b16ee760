//! fibra's echo server: a runtime of one worker, one fiber per connection, written as
//! plain blocking code against `fibra::net` (std's API). The backend is whatever
//! `FIBRA_IO` forces (`uring` or `epoll`); the server says which in its `listening` line.
//! Compiled only with the `fibra-net` feature.

use std::io::{Read as _, Write as _};

use fibra::net::TcpListener;

use crate::{BUF, announce_with, http};

pub(crate) fn echo() {
    let rt = fibra::Runtime::builder()
        .workers(1)
        .build()
        .expect("build the fibra runtime");
    let backend = rt.io_backend().to_string();
    rt.block_on(move || {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        announce_with(listener.local_addr().expect("local_addr"), &backend);
        loop {
            let (stream, _) = match listener.accept() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            fibra::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut buf = [0u8; BUF];
                loop {
                    let n = match (&stream).read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if (&stream).write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    })
}

/// The HTTP/1.1 keep-alive responder of the tokio column (`tokio_echo::http`), written
/// the same way for fibra: used by the HTTP run when `examples/http_hello.rs` is absent.
pub(crate) fn http() {
    let rt = fibra::Runtime::builder()
        .workers(1)
        .build()
        .expect("build the fibra runtime");
    let backend = rt.io_backend().to_string();
    rt.block_on(move || {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        announce_with(listener.local_addr().expect("local_addr"), &backend);
        loop {
            let (stream, _) = match listener.accept() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            fibra::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut conn = http::Conn::new();
                loop {
                    let n = match (&stream).read(conn.unfilled()) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let (out, close) = match conn.received(n) {
                        http::Reply::Write(out) => (out, false),
                        http::Reply::WriteAndClose(out) => (out, true),
                        http::Reply::Close => return,
                    };
                    if !out.is_empty() && (&stream).write_all(out).is_err() || close {
                        return;
                    }
                }
            });
        }
    })
}
