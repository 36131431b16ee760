//! tokio's servers: a current-thread runtime (one thread, which is also the I/O driver's),
//! one spawned task per connection.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::{BUF, announce, http};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("build the tokio runtime")
}

/// Echo: read what arrives, write it back.
pub(crate) fn echo() {
    runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        announce(listener.local_addr().expect("local_addr"));
        loop {
            let (mut stream, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut buf = [0u8; BUF];
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

/// A minimal HTTP/1.1 keep-alive responder: read until a request's blank line, answer
/// every complete request with the same fixed response, as fibra's
/// `examples/http_hello.rs` does (`http.rs`).
pub(crate) fn http() {
    runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        announce(listener.local_addr().expect("local_addr"));
        loop {
            let (mut stream, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut conn = http::Conn::new();
                loop {
                    let n = match stream.read(conn.unfilled()).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let (out, close) = match conn.received(n) {
                        http::Reply::Write(out) => (out, false),
                        http::Reply::WriteAndClose(out) => (out, true),
                        http::Reply::Close => return,
                    };
                    if !out.is_empty() && stream.write_all(out).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    })
}
