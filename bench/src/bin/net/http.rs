//! The HTTP/1.1 side shared by the Rust responders (tokio's, and fibra's fallback): a
//! connection's request buffer and the fixed response. It does what fibra's
//! `examples/http_hello.rs` does, so both sides of the wrk table parse alike: a request
//! head ends at its blank line (`\r\n\r\n`); its `Content-Length` body is skipped;
//! `Connection: close` (or HTTP/1.0 without keep-alive) closes after the response;
//! pipelined requests are answered in order, in one write.

/// The one response, with a body of 13 bytes; keep-alive is HTTP/1.1's default.
pub(crate) const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";
/// The response to a request that asked to close.
const RESPONSE_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!";

/// Requests whose head is longer than this close the connection.
const MAX_HEAD: usize = 16 * 1024;

/// A complete request head at the start of `buf`: (its length, the length of the body
/// after it, whether the client asked to close); `None` until the blank line is there.
fn parse_head(buf: &[u8]) -> Option<(usize, usize, bool)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
    let mut lines = head.split("\r\n");
    let mut close = lines.next().unwrap_or("").ends_with("HTTP/1.0");
    let mut body = 0;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
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
    Some((end, body, close))
}

/// What to do after a read.
pub(crate) enum Reply<'a> {
    /// Write these responses (maybe none yet) and read on.
    Write(&'a [u8]),
    /// Write these responses, then close.
    WriteAndClose(&'a [u8]),
    /// Close: a request head does not fit the buffer.
    Close,
}

pub(crate) struct Conn {
    buf: Vec<u8>,
    filled: usize,
    out: Vec<u8>,
}

impl Conn {
    pub(crate) fn new() -> Conn {
        Conn {
            buf: vec![0; MAX_HEAD],
            filled: 0,
            out: Vec::with_capacity(RESPONSE.len() * 4),
        }
    }

    /// Where the next read goes.
    pub(crate) fn unfilled(&mut self) -> &mut [u8] {
        &mut self.buf[self.filled..]
    }

    /// Takes `n` more bytes read into `unfilled()` and answers every complete request.
    pub(crate) fn received(&mut self, n: usize) -> Reply<'_> {
        self.filled += n;
        self.out.clear();
        let mut at = 0;
        let mut close = false;
        while let Some((head, body, wants_close)) = parse_head(&self.buf[at..self.filled]) {
            if at + head + body > self.filled {
                break; // its body has not all arrived
            }
            at += head + body;
            close = wants_close;
            self.out
                .extend_from_slice(if close { RESPONSE_CLOSE } else { RESPONSE });
            if close {
                break;
            }
        }
        if close {
            return Reply::WriteAndClose(&self.out);
        }
        self.buf.copy_within(at..self.filled, 0);
        self.filled -= at;
        if self.filled == self.buf.len() {
            return Reply::Close;
        }
        Reply::Write(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes to write, or None when it closes (after writing them, if any).
    fn feed(c: &mut Conn, bytes: &[u8]) -> Option<Vec<u8>> {
        c.unfilled()[..bytes.len()].copy_from_slice(bytes);
        match c.received(bytes.len()) {
            Reply::Write(out) => Some(out.to_vec()),
            Reply::WriteAndClose(_) | Reply::Close => None,
        }
    }

    #[test]
    fn one_response_per_request_across_reads_and_pipelines() {
        let mut c = Conn::new();
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(feed(&mut c, req).unwrap(), RESPONSE);
        // A terminator split over reads.
        assert_eq!(feed(&mut c, &req[..req.len() - 2]).unwrap(), b"");
        assert_eq!(feed(&mut c, &req[req.len() - 2..]).unwrap(), RESPONSE);
        // Two and a half pipelined requests, then the rest of the third.
        let mut three = [req.as_slice(), req, &req[..5]].concat();
        assert_eq!(feed(&mut c, &three).unwrap(), [RESPONSE, RESPONSE].concat());
        three = req[5..].to_vec();
        assert_eq!(feed(&mut c, &three).unwrap(), RESPONSE);
    }

    #[test]
    fn a_request_larger_than_the_buffer_closes() {
        let mut c = Conn::new();
        assert!(feed(&mut c, &[b'a'; MAX_HEAD]).is_none());
    }

    #[test]
    fn bodies_are_skipped_and_close_is_honoured() {
        let mut c = Conn::new();
        let post = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(feed(&mut c, &post[..post.len() - 2]).unwrap(), b"");
        assert_eq!(feed(&mut c, &post[post.len() - 2..]).unwrap(), RESPONSE);
        c.unfilled()[..4].copy_from_slice(b"GET ");
        let close = b"/ HTTP/1.1\r\nconnection: Close\r\n\r\n";
        assert_eq!(feed(&mut c, b"GET ").unwrap(), b"");
        let n = close.len();
        c.unfilled()[..n].copy_from_slice(close);
        assert!(matches!(c.received(n), Reply::WriteAndClose(out) if out == RESPONSE_CLOSE));
    }
}
