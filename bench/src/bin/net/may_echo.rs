//! may's echo server: one worker (`may::config().set_workers(1)`), unpinned like every
//! other server here, one coroutine per connection on may's default stacks.

use std::io::{Read as _, Write as _};

use may::net::TcpListener;

use crate::{BUF, announce};

pub(crate) fn echo() {
    may::config().set_workers(1);
    // may pins its workers to CPUs by default; no other server is pinned.
    may::config().set_worker_pin(false);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    announce(listener.local_addr().expect("local_addr"));
    let acceptor = may::go!(move || {
        for stream in listener.incoming() {
            let mut stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            may::go!(move || {
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
    });
    let _ = acceptor.join();
}
