//! UDP: [`UdpSocket`].

use super::sys::{self, Source};
use super::{Timeouts, impl_fd_traits};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// A UDP socket (see [`std::net::UdpSocket`]); sends and receives suspend only the
/// calling fiber.
pub struct UdpSocket {
    // Declared first: dropped (deregistered) before the fd closes.
    source: Source,
    inner: std::net::UdpSocket,
    timeouts: Timeouts,
}

impl UdpSocket {
    /// Binds to `addr`.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        Self::from_std(std::net::UdpSocket::bind(addr)?)
    }

    /// Wraps a std socket (non-blocking mode on Linux).
    pub fn from_std(inner: std::net::UdpSocket) -> io::Result<UdpSocket> {
        if sys::NONBLOCKING {
            inner.set_nonblocking(true)?;
        }
        Ok(UdpSocket {
            source: Source::default(),
            inner,
            timeouts: Timeouts::default(),
        })
    }

    /// The std socket, back in blocking mode.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        let UdpSocket { inner, .. } = self;
        if sys::NONBLOCKING {
            inner.set_nonblocking(false)?;
        }
        Ok(inner)
    }

    /// Receives one datagram and its sender's address.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        sys::readable(
            &self.source,
            &self.inner,
            self.timeouts.read_deadline(),
            || self.inner.recv_from(buf),
        )
    }

    /// Receives one datagram without removing it from the queue.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        sys::readable(
            &self.source,
            &self.inner,
            self.timeouts.read_deadline(),
            || self.inner.peek_from(buf),
        )
    }

    /// Sends one datagram to `addr` (the first address it resolves to).
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = addr.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
        })?;
        sys::writable(
            &self.source,
            &self.inner,
            self.timeouts.write_deadline(),
            || self.inner.send_to(buf, addr),
        )
    }

    /// Sets the default peer (for `send` and `recv`) and filters others out.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        self.inner.connect(addr)
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        sys::writable(
            &self.source,
            &self.inner,
            self.timeouts.write_deadline(),
            || self.inner.send(buf),
        )
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::readable(
            &self.source,
            &self.inner,
            self.timeouts.read_deadline(),
            || self.inner.recv(buf),
        )
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Another handle to the same socket, with a copy of this one's timeouts.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        let mut s = Self::from_std(self.inner.try_clone()?)?;
        s.timeouts = self.timeouts.copy();
        Ok(s)
    }

    super::timeout_methods!("Receives", "Sends");

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.set_broadcast(on)
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.broadcast()
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

impl_fd_traits!(UdpSocket, std::net::UdpSocket);
