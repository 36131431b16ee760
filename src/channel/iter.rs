//! Iterators over a [`Receiver`]'s messages.

use super::receiver::Receiver;
use std::fmt;
use std::iter::FusedIterator;

/// Receives messages, waiting for each, until the channel is empty and disconnected
/// ([`Receiver::iter`]).
pub struct Iter<'a, T> {
    pub(crate) rx: &'a Receiver<T>,
}

/// Receives the messages ready now, without waiting ([`Receiver::try_iter`]).
pub struct TryIter<'a, T> {
    pub(crate) rx: &'a Receiver<T>,
}

/// Receives messages, waiting for each, until the channel is empty and disconnected
/// (`Receiver::into_iter`).
pub struct IntoIter<T> {
    pub(crate) rx: Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

// Disconnection is final: once `recv` fails it always fails.
impl<T> FusedIterator for Iter<'_, T> {}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> FusedIterator for IntoIter<T> {}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter").finish_non_exhaustive()
    }
}
