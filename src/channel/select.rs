//! [`Select`]: a select over a set of operations built at run time.

use super::arms::{Kind, RecvArm, SendArm};
use super::errors::{RecvError, SelectTimeoutError, SendError, TrySelectError};
use super::receiver::Receiver;
use super::select_core::{self, ArmOps, Wait};
use super::sender::Sender;
use super::slot::SlotPtr;
use super::state::WaitNode;
use crate::sync::signal::{Deadline, deadline_after, deadline_at};
use std::fmt;
use std::time::{Duration, Instant};

/// A select over operations added at run time, for when [`select!`](crate::select) cannot
/// list them (say, one receive per element of a `Vec<Receiver<T>>`).
///
/// Add operations with [`Select::recv`] and [`Select::send`] (each returns the operation's
/// index), then run [`Select::select`] (or [`try_select`](Select::try_select),
/// [`select_timeout`](Select::select_timeout), [`select_deadline`](Select::select_deadline)).
/// Exactly one operation completes; when several are ready the choice is random. The
/// [`SelectedOperation`] it returns tells which, and hands over its result:
/// [`SelectedOperation::recv`] gives the message received, [`SelectedOperation::send`]
/// whether the message was sent.
///
/// A send operation carries its message from the moment it is added (Go's rule): the
/// select that completes it sends that message. A `Select` can run again and again; a
/// send operation whose message has been sent (or handed back) takes no part any more.
/// Messages of send operations never chosen are dropped with the `Select`.
///
/// ```
/// use fibra::channel::{self, Select};
///
/// let channels: Vec<_> = (0..4).map(|_| channel::unbounded::<u32>()).collect();
/// channels[2].0.send(7).unwrap();
///
/// let mut sel = Select::new();
/// for (_, rx) in &channels {
///     sel.recv(rx);
/// }
/// let op = sel.select();
/// let i = op.index();
/// assert_eq!(i, 2);
/// assert_eq!(op.recv(&channels[i].1), Ok(7));
/// ```
pub struct Select<'a> {
    arms: Vec<Box<dyn ArmOps + 'a>>,
    /// Scratch space for the order the arms are tried in.
    order: Vec<usize>,
}

/// The operation a [`Select`] completed. Its result must be collected with
/// [`SelectedOperation::recv`] or [`SelectedOperation::send`] (a message received and not
/// collected is dropped).
#[must_use = "the result of the operation (a received message) is dropped unless collected"]
pub struct SelectedOperation<'s, 'a> {
    select: &'s mut Select<'a>,
    index: usize,
}

impl<'a> Select<'a> {
    /// A select with no operations.
    pub fn new() -> Self {
        Select {
            arms: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Adds a receive from `rx`; returns its index.
    pub fn recv<T>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.arms.push(Box::new(RecvArm::new(rx)));
        self.arms.len() - 1
    }

    /// Adds a send of `value` to `tx`; returns its index.
    pub fn send<T>(&mut self, tx: &'a Sender<T>, value: T) -> usize {
        self.arms.push(Box::new(SendArm::new(tx, value)));
        self.arms.len() - 1
    }

    /// Completes one operation, waiting as long as it takes.
    ///
    /// # Panics
    /// If there is no operation that can take part (it would wait forever).
    pub fn select(&mut self) -> SelectedOperation<'_, 'a> {
        let index = self
            .run(Wait::Until(None))
            .expect("waits until one completes");
        SelectedOperation {
            select: self,
            index,
        }
    }

    /// Completes an operation that is ready now, if any.
    pub fn try_select(&mut self) -> Result<SelectedOperation<'_, 'a>, TrySelectError> {
        match self.run(Wait::Never) {
            Some(index) => Ok(SelectedOperation {
                select: self,
                index,
            }),
            None => Err(TrySelectError),
        }
    }

    /// Completes one operation, waiting at most `timeout`.
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        self.select_until(deadline_after(timeout))
    }

    /// Completes one operation, waiting until `deadline` at most.
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        self.select_until(deadline_at(deadline))
    }

    fn select_until(
        &mut self,
        deadline: Deadline,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        match self.run(Wait::Until(deadline)) {
            Some(index) => Ok(SelectedOperation {
                select: self,
                index,
            }),
            None => Err(SelectTimeoutError),
        }
    }

    fn run(&mut self, wait: Wait) -> Option<usize> {
        let n = self.arms.len();
        self.order.resize(n, 0);
        select_core::run(&self.arms, &mut self.order, wait, |signal| {
            (0..n)
                .map(|i| WaitNode::new(signal, i, SlotPtr::dangling()))
                .collect::<Vec<_>>()
        })
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("operations", &self.arms.len())
            .finish()
    }
}

impl<'a> SelectedOperation<'_, 'a> {
    /// The index of the operation that completed (as returned when it was added).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The result of the receive that completed: the message, or `RecvError` if the
    /// channel was empty and disconnected.
    ///
    /// # Panics
    /// If the operation that completed is not a receive from `rx`'s channel.
    pub fn recv<'r, T>(self, rx: &'r Receiver<T>) -> Result<T, RecvError> {
        let arm = self.arm(Kind::Recv, rx.chan.id());
        // SAFETY: the arm receives from the very channel `rx` receives from. A channel's
        // shared state is a `Chan<T>` of a single `T` (handles are invariant in `T`, so no
        // two handle types can share one), and only `RecvArm` is a receive arm: the arm is
        // a `RecvArm<'a, T>` of `rx`'s `T`. We view its borrow of the receiver as `'r`
        // long (lifetimes do not change layout) and touch only its slot.
        let arm = unsafe { &*(arm as *const (dyn ArmOps + 'a)).cast::<RecvArm<'r, T>>() };
        // SAFETY: the select has returned, so none of its nodes is linked.
        unsafe { arm.slot.take() }.ok_or(RecvError)
    }

    /// The result of the send that completed: `Ok`, or the message back if every
    /// receiver was gone.
    ///
    /// # Panics
    /// If the operation that completed is not a send to `tx`'s channel.
    pub fn send<'r, T>(self, tx: &'r Sender<T>) -> Result<(), SendError<T>> {
        let arm = self.arm(Kind::Send, tx.chan.id());
        // SAFETY: as in `recv`, for `SendArm<'a, T>`.
        let arm = unsafe { &*(arm as *const (dyn ArmOps + 'a)).cast::<SendArm<'r, T>>() };
        // SAFETY: the select has returned, so none of its nodes is linked.
        match unsafe { arm.slot.take() } {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        }
    }

    fn arm(&self, kind: Kind, channel: *const ()) -> &(dyn ArmOps + 'a) {
        let arm = &*self.select.arms[self.index];
        assert!(
            arm.kind() == kind && arm.channel_id() == channel,
            "fibra: SelectedOperation::{} called with a channel that is not the selected operation's",
            if kind == Kind::Recv { "recv" } else { "send" },
        );
        arm
    }
}

impl fmt::Debug for SelectedOperation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish()
    }
}
