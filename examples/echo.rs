//! A TCP echo server, one fiber per connection, written as plain blocking code.
//!
//! Run with `cargo run --release --example echo [addr] [workers]` (defaults:
//! `127.0.0.1:7000`, one worker per CPU), then e.g. `nc 127.0.0.1 7000`. The I/O backend
//! (io_uring or epoll; `FIBRA_IO=epoll` forces the latter) is printed at start.

use fibra::Runtime;
use fibra::net::{TcpListener, TcpStream};
use std::io::{Read, Write};

fn serve(mut conn: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return, // the client closed
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".into());
    let mut builder = Runtime::builder();
    if let Some(n) = args.next() {
        builder = builder.workers(n.parse().expect("workers: a number"));
    }
    let rt = builder.build()?;
    let listener = TcpListener::bind(&addr)?;
    println!(
        "echo: listening on {} ({} workers, {})",
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
                // Out of descriptors and the like: report it and keep accepting.
                Err(e) => eprintln!("echo: accept: {e}"),
            }
        }
    });
    Ok(())
}
