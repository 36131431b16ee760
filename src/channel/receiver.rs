//! [`Receiver`]: the receiving half of a channel.

use super::chan::{Chan, Failure};
use super::errors::{RecvError, RecvTimeoutError, TryRecvError};
use super::iter::{IntoIter, Iter, TryIter};
use super::sender::capacity;
use super::state::RecvBlocked;
use crate::loom::Arc;
use crate::sync::signal::{Deadline, deadline_after, deadline_at};
use std::fmt;
use std::time::{Duration, Instant};

/// The receiving half of a channel. Clone it for more consumers (each message goes to one
/// of them); when the last clone is dropped, senders get their messages back in errors
/// and what was buffered is dropped.
///
/// Blocking calls suspend a fiber (its worker runs other fibers meanwhile) or park a plain
/// thread; fibers and threads can share one channel.
pub struct Receiver<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

impl<T> Receiver<T> {
    /// Receives the oldest message, waiting for one if need be. Fails once the channel is
    /// empty and every sender is gone.
    #[inline]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan.recv(None).map_err(|_| RecvError)
    }

    /// Receives a message if one is ready now (buffered, or offered by a waiting sender).
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv().map_err(|e| match e {
            RecvBlocked::Empty => TryRecvError::Empty,
            RecvBlocked::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// As [`Receiver::recv`], giving up after `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(deadline_after(timeout))
    }

    /// As [`Receiver::recv`], giving up at `deadline`.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(deadline_at(deadline))
    }

    fn recv_until(&self, deadline: Deadline) -> Result<T, RecvTimeoutError> {
        self.chan.recv(deadline).map_err(|why| match why {
            Failure::Timeout => RecvTimeoutError::Timeout,
            Failure::Disconnected => RecvTimeoutError::Disconnected,
        })
    }

    /// An iterator that receives until the channel is empty and disconnected.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages ready now; it never waits.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// How many messages are buffered.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether no message is buffered (always true for a rendezvous channel).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer is full (always true for a rendezvous channel, never for an
    /// unbounded one).
    pub fn is_full(&self) -> bool {
        self.capacity().is_some_and(|cap| self.len() >= cap)
    }

    /// The buffer's capacity: `None` for an unbounded channel, `Some(0)` for a rendezvous.
    pub fn capacity(&self) -> Option<usize> {
        capacity(self.chan.cap())
    }

    /// Whether `self` and `other` receive from the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.add_receiver();
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}
