//! Networking that suspends only the calling fiber: TCP, UDP and Unix-domain sockets
//! with std's API, so code moves over from `std::net` with an import change.
//!
//! Inside a fiber a call that would block parks the fiber and lets its worker run others
//! (on Linux through the worker's io_uring or epoll, see [`Runtime::io_backend`]); on a
//! plain thread the same call blocks the thread, as std's would.
//!
//! Differences from std:
//! - On Linux the sockets are in non-blocking mode underneath (`into_std` switches a
//!   socket back). Read and write timeouts are kept by the socket object, not in
//!   `SO_RCVTIMEO` / `SO_SNDTIMEO`; `try_clone` copies them. Their expiry is
//!   `ErrorKind::TimedOut` on every platform (std says `WouldBlock` on Unix).
//! - Name resolution (`ToSocketAddrs` with host names) is std's, which blocks.
//! - On the epoll backend a socket is registered with the worker whose fiber first waits
//!   on it, and that worker dispatches its readiness events (to fibers on any worker). A
//!   socket that outlives its runtime falls back to `poll(2)` in later waits; a fiber of
//!   another runtime already parked on it when the first runtime shuts down is not woken.
//! - On targets other than Linux these types are plain wrappers over std's blocking
//!   sockets: a fiber waiting on one occupies its worker thread.
//!
//! ```
//! use std::io::{Read, Write};
//! use fibra::net::{TcpListener, TcpStream};
//!
//! fibra::run(|| {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let server = fibra::spawn(move || {
//!         let (mut conn, _) = listener.accept().unwrap();
//!         let mut buf = [0; 5];
//!         conn.read_exact(&mut buf).unwrap();
//!         conn.write_all(&buf).unwrap();
//!     });
//!     let mut client = TcpStream::connect(addr).unwrap();
//!     client.write_all(b"hello").unwrap();
//!     let mut echo = [0; 5];
//!     client.read_exact(&mut echo).unwrap();
//!     assert_eq!(&echo, b"hello");
//!     server.join().unwrap();
//! });
//! ```
//!
//! [`Runtime::io_backend`]: crate::Runtime::io_backend

mod sys;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;

pub use std::net::{
    AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6,
    ToSocketAddrs,
};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixIncoming, UnixListener, UnixStream};

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A socket's read and write timeouts, in nanoseconds (0: none).
#[derive(Default)]
pub(crate) struct Timeouts {
    read: AtomicU64,
    write: AtomicU64,
}

impl Timeouts {
    fn store(slot: &AtomicU64, d: Option<Duration>) -> io::Result<()> {
        let nanos = match d {
            None => 0,
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ));
            }
            Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        };
        // Relaxed: a setting, read by the socket's next call; no other data rides on it.
        slot.store(nanos, Ordering::Relaxed);
        Ok(())
    }

    fn load(slot: &AtomicU64) -> Option<Duration> {
        // Relaxed: see `store`.
        match slot.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    pub(crate) fn set_read(&self, d: Option<Duration>) -> io::Result<()> {
        Self::store(&self.read, d)
    }

    pub(crate) fn set_write(&self, d: Option<Duration>) -> io::Result<()> {
        Self::store(&self.write, d)
    }

    pub(crate) fn read(&self) -> Option<Duration> {
        Self::load(&self.read)
    }

    pub(crate) fn write(&self) -> Option<Duration> {
        Self::load(&self.write)
    }

    /// The deadline of a read starting now.
    pub(crate) fn read_deadline(&self) -> Option<Instant> {
        self.read().and_then(|d| Instant::now().checked_add(d))
    }

    /// The deadline of a write starting now.
    pub(crate) fn write_deadline(&self) -> Option<Instant> {
        self.write().and_then(|d| Instant::now().checked_add(d))
    }

    /// A copy (for `try_clone`).
    pub(crate) fn copy(&self) -> Timeouts {
        Timeouts {
            read: AtomicU64::new(self.read.load(Ordering::Relaxed)),
            write: AtomicU64::new(self.write.load(Ordering::Relaxed)),
        }
    }
}

/// Implements the fd traits for a socket type whose std socket is the field `inner`.
macro_rules! impl_fd_traits {
    ($ty:ty, $std:ty) => {
        #[cfg(unix)]
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.inner)
            }
        }

        #[cfg(unix)]
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(&self.inner)
            }
        }

        #[cfg(unix)]
        impl std::os::fd::IntoRawFd for $ty {
            /// The fd stays in the mode fibra put it in (non-blocking on Linux).
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                let Self { inner, .. } = self;
                std::os::fd::IntoRawFd::into_raw_fd(inner)
            }
        }

        #[cfg(unix)]
        impl std::os::fd::FromRawFd for $ty {
            /// # Safety
            /// `fd` is an open socket of this type that the caller gives up.
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> Self {
                // SAFETY: the caller's contract.
                let inner = unsafe { <$std as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                Self::from_std(inner).expect("fibra: cannot set the socket's mode")
            }
        }

        #[cfg(windows)]
        impl std::os::windows::io::AsRawSocket for $ty {
            fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
                std::os::windows::io::AsRawSocket::as_raw_socket(&self.inner)
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.inner, f)
            }
        }
    };
}
pub(crate) use impl_fd_traits;

/// The timeout accessors of a socket type whose std socket is the field `inner` and whose
/// timeouts are the field `timeouts` ([`Timeouts`]); `$reads` and `$writes` name the
/// calls each timeout bounds, for the docs ("Reads", "Receives"...).
macro_rules! timeout_methods {
    ($reads:literal, $writes:literal) => {
        #[doc = concat!($reads, " give up with `ErrorKind::TimedOut` after `timeout` (None: never). A")]
        /// zero duration is an `InvalidInput` error, as in std.
        pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
            self.timeouts.set_read(timeout)?;
            if !sys::NONBLOCKING {
                self.inner.set_read_timeout(timeout)?;
            }
            Ok(())
        }

        #[doc = concat!($writes, " give up with `ErrorKind::TimedOut` after `timeout` (None: never). A")]
        /// zero duration is an `InvalidInput` error, as in std.
        pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
            self.timeouts.set_write(timeout)?;
            if !sys::NONBLOCKING {
                self.inner.set_write_timeout(timeout)?;
            }
            Ok(())
        }

        /// The read timeout.
        pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
            Ok(self.timeouts.read())
        }

        /// The write timeout.
        pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
            Ok(self.timeouts.write())
        }
    };
}
pub(crate) use timeout_methods;

/// `Read` and `Write` for a stream socket type and for shared references to it (as std
/// has them for `&TcpStream`), through the type's `recv_into`, `send_from` and
/// `send_vectored`.
macro_rules! impl_stream_io {
    ($ty:ty) => {
        $crate::net::impl_stream_io!(@one $ty);
        $crate::net::impl_stream_io!(@one &$ty);
    };
    (@one $ty:ty) => {
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.recv_into(buf)
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.send_from(buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.send_vectored(bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use impl_stream_io;
