//! The HTTP/1.1 side shared by the Rust responders: a connection's request buffer and
//! the fixed response. A request ends at its blank line (`\r\n\r\n`); requests have no
//! body (wrk sends `GET /`). Pipelined requests each get a response, in one write.

/// The one response, with a body of 13 bytes; keep-alive is HTTP/1.1's default.
pub(crate) const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";

/// Requests larger than this close the connection.
const MAX_REQUEST: usize = 8192;

pub(crate) struct Conn {
    buf: Vec<u8>,
    filled: usize,
    out: Vec<u8>,
}

impl Conn {
    pub(crate) fn new() -> Conn {
        Conn {
            buf: vec![0; MAX_REQUEST],
            filled: 0,
            out: Vec::with_capacity(RESPONSE.len()),
        }
    }

    /// Where the next read goes.
    pub(crate) fn unfilled(&mut self) -> &mut [u8] {
        &mut self.buf[self.filled..]
    }

    /// Takes `n` more bytes read into `unfilled()`; returns the responses to write (maybe
    /// none yet), or `None` when a request does not fit the buffer.
    pub(crate) fn received(&mut self, n: usize) -> Option<&[u8]> {
        // Rescan from up to 3 bytes before the new data: a terminator may straddle reads.
        let mut scan = self.filled.saturating_sub(3);
        self.filled += n;
        self.out.clear();
        let mut consumed = 0;
        while let Some(end) = self.buf[scan..self.filled]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            consumed = scan + end + 4;
            scan = consumed;
            self.out.extend_from_slice(RESPONSE);
        }
        if consumed > 0 {
            self.buf.copy_within(consumed..self.filled, 0);
            self.filled -= consumed;
        } else if self.filled == self.buf.len() {
            return None;
        }
        Some(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(c: &mut Conn, bytes: &[u8]) -> Option<Vec<u8>> {
        c.unfilled()[..bytes.len()].copy_from_slice(bytes);
        c.received(bytes.len()).map(<[u8]>::to_vec)
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
        assert!(feed(&mut c, &[b'a'; MAX_REQUEST]).is_none());
    }
}
