//! Unix-domain stream sockets: [`UnixListener`] and [`UnixStream`] (Unix targets).

use super::sys::{self, Source};
use super::{Timeouts, impl_fd_traits};
use std::io::{self, IoSlice, Write};
use std::net::Shutdown;
use std::os::unix::net::{self as std_unix, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// A Unix-domain socket server (see [`std::os::unix::net::UnixListener`]).
pub struct UnixListener {
    // Declared first: dropped (deregistered) before the fd closes.
    source: Source,
    inner: std_unix::UnixListener,
}

impl UnixListener {
    /// Binds to the socket file `path` and listens.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        Self::from_std(std_unix::UnixListener::bind(path)?)
    }

    /// Wraps a std listener (non-blocking mode on Linux).
    pub fn from_std(inner: std_unix::UnixListener) -> io::Result<UnixListener> {
        if sys::NONBLOCKING {
            inner.set_nonblocking(true)?;
        }
        Ok(UnixListener {
            source: Source::default(),
            inner,
        })
    }

    /// The std listener, back in blocking mode.
    pub fn into_std(self) -> io::Result<std_unix::UnixListener> {
        let UnixListener { inner, .. } = self;
        if sys::NONBLOCKING {
            inner.set_nonblocking(false)?;
        }
        Ok(inner)
    }

    /// Waits for a connection.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, addr) = sys::readable(&self.source, &self.inner, None, || self.inner.accept())?;
        Ok((UnixStream::from_std(s)?, addr))
    }

    /// An endless iterator over accepted connections.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Another handle to the same socket.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        Self::from_std(self.inner.try_clone()?)
    }

    /// Takes the pending `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl_fd_traits!(UnixListener, std_unix::UnixListener);

/// The iterator of [`UnixListener::incoming`].
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A Unix-domain stream connection (see [`std::os::unix::net::UnixStream`]).
pub struct UnixStream {
    // Declared first: dropped (deregistered) before the fd closes.
    source: Source,
    inner: std_unix::UnixStream,
    timeouts: Timeouts,
}

impl UnixStream {
    /// Connects to the socket file `path`. (A Unix-domain connect completes at once or
    /// fails; this is std's call, made before switching the socket to non-blocking mode.)
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        Self::from_std(std_unix::UnixStream::connect(path)?)
    }

    /// A connected pair.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std_unix::UnixStream::pair()?;
        Ok((Self::from_std(a)?, Self::from_std(b)?))
    }

    /// Wraps a std stream (non-blocking mode on Linux).
    pub fn from_std(inner: std_unix::UnixStream) -> io::Result<UnixStream> {
        if sys::NONBLOCKING {
            inner.set_nonblocking(true)?;
        }
        Ok(UnixStream {
            source: Source::default(),
            inner,
            timeouts: Timeouts::default(),
        })
    }

    /// The std stream, back in blocking mode.
    pub fn into_std(self) -> io::Result<std_unix::UnixStream> {
        let UnixStream { inner, .. } = self;
        if sys::NONBLOCKING {
            inner.set_nonblocking(false)?;
        }
        Ok(inner)
    }

    /// The peer's address.
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
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        let mut s = Self::from_std(self.inner.try_clone()?)?;
        s.timeouts = self.timeouts.copy();
        Ok(s)
    }

    super::timeout_methods!("Reads", "Writes");

    /// Takes the pending `SO_ERROR`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
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

impl_fd_traits!(UnixStream, std_unix::UnixStream);

super::impl_stream_io!(UnixStream);
