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
