//! [`Sender`]: the sending half of a channel.

use super::chan::{Chan, Failure};
use super::errors::{SendError, SendTimeoutError, TrySendError};
use super::state::SendBlocked;
use crate::loom::Arc;
use crate::sync::signal::{deadline_after, deadline_at};
use std::fmt;
use std::time::{Duration, Instant};

/// The sending half of a channel. Clone it for more producers; when the last clone is
/// dropped, receivers get what is still queued and then [`RecvError`](super::RecvError).
///
/// Blocking calls suspend a fiber (its worker runs other fibers meanwhile) or park a plain
/// thread; fibers and threads can share one channel.
pub struct Sender<T> {
    pub(crate) chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full (for a rendezvous channel: until a
    /// receiver takes it). Fails, handing `value` back, once every receiver is gone.
    #[inline]
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan.send(value, None).map_err(|(v, _)| SendError(v))
    }

    /// Sends `value` if that needs no waiting: there is room in the buffer or (for a
    /// rendezvous channel) a receiver is waiting.
    #[inline]
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(value).map_err(|e| match e {
            SendBlocked::Full(v) => TrySendError::Full(v),
            SendBlocked::Disconnected(v) => TrySendError::Disconnected(v),
        })
    }

    /// As [`Sender::send`], giving up after `timeout`.
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, deadline_after(timeout))
    }

    /// As [`Sender::send`], giving up at `deadline`.
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, deadline_at(deadline))
    }

    fn send_until(
        &self,
        value: T,
        deadline: crate::sync::signal::Deadline,
    ) -> Result<(), SendTimeoutError<T>> {
        self.chan
            .send(value, deadline)
            .map_err(|(v, why)| match why {
                Failure::Timeout => SendTimeoutError::Timeout(v),
                Failure::Disconnected => SendTimeoutError::Disconnected(v),
            })
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

    /// Whether `self` and `other` send into the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

/// The public capacity of a channel whose buffer holds `cap` (`usize::MAX`: unbounded).
pub(crate) fn capacity(cap: usize) -> Option<usize> {
    (cap != usize::MAX).then_some(cap)
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}
