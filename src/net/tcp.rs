//! TCP: [`TcpListener`] and [`TcpStream`].

use super::sys::{self, Source};
use super::{Timeouts, impl_fd_traits};
use std::io::{self, IoSlice, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A TCP socket server, listening for connections (see [`std::net::TcpListener`]).
///
/// `accept` suspends only the calling fiber. When the process is out of file descriptors
/// (`EMFILE`, `ENFILE`) it returns that error and the listener keeps working: accept
/// again once descriptors are free.
pub struct TcpListener {
    // Declared first: dropped (deregistered) before the fd closes.
    source: Source,
    inner: std::net::TcpListener,
}

impl TcpListener {
    /// Binds to `addr` (the first address that works) and listens.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        Self::from_std(std::net::TcpListener::bind(addr)?)
    }

    /// Wraps a std listener (switching it to non-blocking mode on Linux).
    pub fn from_std(inner: std::net::TcpListener) -> io::Result<TcpListener> {
        if sys::NONBLOCKING {
            inner.set_nonblocking(true)?;
        }
        Ok(TcpListener {
            source: Source::default(),
            inner,
        })
    }

    /// The std listener, back in blocking mode.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        let TcpListener { inner, .. } = self;
        if sys::NONBLOCKING {
            inner.set_nonblocking(false)?;
        }
        Ok(inner)
    }

    /// Waits for a connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) =
            sys::readable(&self.source, &self.inner, None, || self.inner.accept())?;
        Ok((TcpStream::from_std(stream)?, addr))
    }

    /// An endless iterator over `accept`ed connections (without their addresses).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Another handle to the same socket (its own registration with the poller).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Self::from_std(self.inner.try_clone()?)
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// Takes the pending `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl_fd_traits!(TcpListener, std::net::TcpListener);

/// The iterator of [`TcpListener::incoming`]: never ends, yields each accept's result.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection (see [`std::net::TcpStream`]). [`Read`](std::io::Read) and [`Write`] are implemented
/// for `TcpStream` and `&TcpStream`; each call suspends only the calling fiber.
pub struct TcpStream {
    // Declared first: dropped (deregistered) before the fd closes.
    source: Source,
    inner: std::net::TcpStream,
    timeouts: Timeouts,
}

impl TcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match Self::connect_deadline(&a, None) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "could not resolve to any addresses",
            )
        }))
    }

    /// Connects to `addr`, giving up with `TimedOut` after `timeout`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        Self::connect_deadline(addr, Instant::now().checked_add(timeout))
    }

    #[cfg(all(target_os = "linux", not(loom)))]
    fn connect_deadline(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        use std::os::fd::FromRawFd;
        let (storage, len) = sockaddr(addr);
        let family = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        // SAFETY: no pointers; a non-negative result is a new fd we own.
        let fd = unsafe {
            libc::socket(
                family,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = TcpStream {
            source: Source::default(),
            // SAFETY: a fresh TCP socket, owned by nobody else.
            inner: unsafe { std::net::TcpStream::from_raw_fd(fd) },
            timeouts: Timeouts::default(),
        };
        // SAFETY: `storage` holds a valid sockaddr of `len` bytes.
        let r = unsafe { libc::connect(fd, (&raw const storage).cast(), len) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
            sys::writable(&stream.source, &stream.inner, deadline, || {
                if let Some(e) = stream.inner.take_error()? {
                    return Err(e);
                }
                match stream.inner.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                }
            })?;
        }
        Ok(stream)
    }

    #[cfg(not(all(target_os = "linux", not(loom))))]
    fn connect_deadline(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let inner = match deadline {
            None => std::net::TcpStream::connect(addr)?,
            Some(d) => std::net::TcpStream::connect_timeout(
                addr,
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_nanos(1)),
            )?,
        };
        Self::from_std(inner)
    }

    /// Wraps a std stream (switching it to non-blocking mode on Linux). Its std timeouts
    /// are not carried over: set them on the result.
    pub fn from_std(inner: std::net::TcpStream) -> io::Result<TcpStream> {
        if sys::NONBLOCKING {
            inner.set_nonblocking(true)?;
        }
        Ok(TcpStream {
            source: Source::default(),
            inner,
            timeouts: Timeouts::default(),
        })
    }

    /// The std stream, back in blocking mode (without this stream's timeouts).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        let TcpStream { inner, .. } = self;
        if sys::NONBLOCKING {
            inner.set_nonblocking(false)?;
        }
        Ok(inner)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Another handle to the same connection, with a copy of this one's timeouts.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let mut s = Self::from_std(self.inner.try_clone()?)?;
        s.timeouts = self.timeouts.copy();
        Ok(s)
    }

    super::timeout_methods!("Reads", "Writes");

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// Takes the pending `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Reads without removing the data from the queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::readable(
            &self.source,
            &self.inner,
            self.timeouts.read_deadline(),
            || self.inner.peek(buf),
        )
    }

    fn recv_into(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::recv(
            &self.source,
            &self.inner,
            buf,
            self.timeouts.read_deadline(),
        )
    }

    fn send_from(&self, buf: &[u8]) -> io::Result<usize> {
        sys::send(
            &self.source,
            &self.inner,
            buf,
            self.timeouts.write_deadline(),
        )
    }

    fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        sys::writable(
            &self.source,
            &self.inner,
            self.timeouts.write_deadline(),
            || (&self.inner).write_vectored(bufs),
        )
    }
}

impl_fd_traits!(TcpStream, std::net::TcpStream);

super::impl_stream_io!(TcpStream);

/// `addr` as a C socket address and its length.
#[cfg(all(target_os = "linux", not(loom)))]
pub(crate) fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in>().write(sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in6>().write(sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}
