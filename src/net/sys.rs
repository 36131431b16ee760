//! The one platform switch of `net`: how a socket call waits.
//!
//! - Linux: sockets are non-blocking; a call that would block waits in the worker's
//!   poller inside a fiber, in `poll(2)` on a plain thread, up to the socket's deadline.
//! - Elsewhere (and in loom builds): sockets stay blocking; calls go straight to std,
//!   timeouts are std's (`SO_RCVTIMEO` / `SO_SNDTIMEO`), and a fiber's wait occupies its
//!   worker.

use std::io;
use std::time::Instant;

cfg_if::cfg_if! {
    if #[cfg(all(target_os = "linux", not(loom)))] {
        use crate::io::linux::{self as imp, Interest};
        use std::os::fd::AsRawFd;

        pub(crate) use crate::io::linux::Source;

        /// Sockets are switched to non-blocking mode.
        pub(crate) const NONBLOCKING: bool = true;

        /// A stream read (io_uring `Recv` in io_uring fibers).
        pub(crate) fn recv<S: AsRawFd>(
            src: &Source,
            s: &S,
            buf: &mut [u8],
            deadline: Option<Instant>,
        ) -> io::Result<usize> {
            imp::recv(src, s.as_raw_fd(), buf, deadline)
        }

        /// A stream write (io_uring `Send` in io_uring fibers).
        pub(crate) fn send<S: AsRawFd>(
            src: &Source,
            s: &S,
            buf: &[u8],
            deadline: Option<Instant>,
        ) -> io::Result<usize> {
            imp::send(src, s.as_raw_fd(), buf, deadline)
        }

        /// Runs the non-blocking `attempt` until the socket is readable enough for it.
        pub(crate) fn readable<S: AsRawFd, T>(
            src: &Source,
            s: &S,
            deadline: Option<Instant>,
            attempt: impl FnMut() -> io::Result<T>,
        ) -> io::Result<T> {
            imp::with_readiness(src, s.as_raw_fd(), Interest::Read, deadline, attempt)
        }

        /// Runs the non-blocking `attempt` until the socket is writable enough for it.
        pub(crate) fn writable<S: AsRawFd, T>(
            src: &Source,
            s: &S,
            deadline: Option<Instant>,
            attempt: impl FnMut() -> io::Result<T>,
        ) -> io::Result<T> {
            imp::with_readiness(src, s.as_raw_fd(), Interest::Write, deadline, attempt)
        }
    } else {
        /// No registration off Linux.
        #[derive(Default)]
        pub(crate) struct Source {
            _none: (),
        }

        /// Sockets stay blocking.
        pub(crate) const NONBLOCKING: bool = false;

        /// A blocking stream read; std's timeout expiry is reported as `TimedOut`.
        pub(crate) fn recv<S>(_: &Source, s: &S, buf: &mut [u8], _: Option<Instant>) -> io::Result<usize>
        where
            for<'a> &'a S: io::Read,
        {
            timed_out(io::Read::read(&mut &*s, buf))
        }

        /// A blocking stream write; std's timeout expiry is reported as `TimedOut`.
        pub(crate) fn send<S>(_: &Source, s: &S, buf: &[u8], _: Option<Instant>) -> io::Result<usize>
        where
            for<'a> &'a S: io::Write,
        {
            timed_out(io::Write::write(&mut &*s, buf))
        }

        /// Runs the blocking `attempt` once.
        pub(crate) fn readable<S, T>(
            _: &Source,
            _: &S,
            _: Option<Instant>,
            mut attempt: impl FnMut() -> io::Result<T>,
        ) -> io::Result<T> {
            timed_out(attempt())
        }

        /// Runs the blocking `attempt` once.
        pub(crate) fn writable<S, T>(
            _: &Source,
            _: &S,
            _: Option<Instant>,
            mut attempt: impl FnMut() -> io::Result<T>,
        ) -> io::Result<T> {
            timed_out(attempt())
        }

        /// Unix reports an expired `SO_RCVTIMEO` as `WouldBlock`: say `TimedOut`.
        fn timed_out<T>(r: io::Result<T>) -> io::Result<T> {
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::ErrorKind::TimedOut.into()),
                r => r,
            }
        }
    }
}
