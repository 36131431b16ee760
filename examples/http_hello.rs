//! A minimal HTTP/1.1 keep-alive responder: every request (any method or path) gets
//! `200 OK` with the body `Hello, world!`. One fiber per connection, blocking-style code.
//!
//! Run with `cargo run --release --example http_hello [addr] [workers]` (defaults:
//! `127.0.0.1:8080`, one worker per CPU), then e.g. `wrk -t1 -c256 -d10s
//! http://127.0.0.1:8080/`. Requests are parsed just far enough for keep-alive:
//! headers end at a blank line, a `Content-Length` body is skipped, `Connection: close`
//! is honoured; pipelined requests are answered in order.

use fibra::Runtime;
use fibra::net::{TcpListener, TcpStream};
use std::io::{Read, Write};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";
const RESPONSE_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!";
/// Longest request head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// One parsed request head: its length, the body length that follows, and whether the
/// client asked to close. None: the head is not complete yet.
fn parse_head(buf: &[u8]) -> Option<(usize, usize, bool)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
    let mut lines = head.split("\r\n");
    // HTTP/1.0 closes unless asked to keep alive; 1.1 keeps alive unless asked to close.
    let mut close = lines.next().unwrap_or("").ends_with("HTTP/1.0");
    let mut body = 0;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                body = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("connection") {
                if value.eq_ignore_ascii_case("close") {
                    close = true;
                } else if value.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
        }
    }
    Some((end, body, close))
}

fn serve(mut conn: TcpStream) {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    let mut out = Vec::with_capacity(RESPONSE.len() * 4);
    loop {
        // Answer every complete request in the buffer, in one write.
        let mut at = 0;
        let mut close = false;
        while let Some((head, body, wants_close)) = parse_head(&buf[at..filled]) {
            if at + head + body > filled {
                break; // its body has not arrived yet
            }
            at += head + body;
            close = wants_close;
            out.extend_from_slice(if close { RESPONSE_CLOSE } else { RESPONSE });
            if close {
                break;
            }
        }
        if !out.is_empty() {
            if conn.write_all(&out).is_err() {
                return;
            }
            out.clear();
        }
        if close {
            return;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
        if filled == buf.len() {
            return; // a head longer than MAX_HEAD
        }
        match conn.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let mut builder = Runtime::builder();
    if let Some(n) = args.next() {
        builder = builder.workers(n.parse().expect("workers: a number"));
    }
    let rt = builder.build()?;
    let listener = TcpListener::bind(&addr)?;
    println!(
        "http_hello: listening on http://{} ({} workers, {})",
        listener.local_addr()?,
        rt.workers(),
        rt.io_backend()
    );
    rt.block_on(move || {
        for conn in listener.incoming() {
            match conn {
                Ok(conn) => {
                    let _ = conn.set_nodelay(true);
                    drop(fibra::spawn(move || serve(conn)));
                }
                Err(e) => eprintln!("http_hello: accept: {e}"),
            }
        }
    });
    Ok(())
}
