//! The reference server: std's blocking sockets, one OS thread per connection. Not a
//! contender (it is not limited to one thread); it checks the load generator and the
//! driver against the plainest possible server.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;

use crate::{BUF, announce};

pub(crate) fn echo() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    announce(listener.local_addr().expect("local_addr"));
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let mut buf = [0u8; BUF];
            loop {
                let n = match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        });
    }
}
