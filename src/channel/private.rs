//! What [`select!`](crate::select) expands to calls. Not part of the API: no stability
//! promise. Everything here is safe to call in any way.

pub use super::arms::{RecvArm, SendArm};
use super::select_core::{self, ArmOps, Wait};
use super::slot::SlotPtr;
use super::state::WaitNode;
use crate::sync::signal::deadline_after;
use std::time::Duration;

/// A type-erased reference to a select arm.
#[derive(Clone, Copy)]
pub struct ArmRef<'a>(&'a (dyn ArmOps + 'a));

impl<'a, T> RecvArm<'a, T> {
    /// The arm, for [`select`].
    #[inline]
    pub fn arm(&self) -> ArmRef<'_> {
        ArmRef(self)
    }
}

impl<'a, T> SendArm<'a, T> {
    /// The arm, for [`select`].
    #[inline]
    pub fn arm(&self) -> ArmRef<'_> {
        ArmRef(self)
    }
}

/// What a select does when no arm is ready.
#[derive(Clone, Copy, Debug)]
pub enum Fallback {
    /// Wait for one (no `default` arm).
    Block,
    /// Return `None` at once (`default => ..`).
    Now,
    /// Wait at most this long, then return `None` (`default(timeout) => ..`).
    Timeout(Duration),
}

/// Runs a select over `arms`: the index of the arm that completed, or `None` for the
/// default arm.
#[inline]
pub fn select<const N: usize>(arms: [ArmRef<'_>; N], fallback: Fallback) -> Option<usize> {
    let wait = match fallback {
        Fallback::Block => Wait::Until(None),
        Fallback::Now => Wait::Never,
        Fallback::Timeout(d) => Wait::Until(deadline_after(d)),
    };
    let arms = arms.map(|a| a.0);
    let mut order = [0usize; N];
    select_core::run(&arms, &mut order, wait, |signal| {
        std::array::from_fn::<WaitNode, N, _>(|i| WaitNode::new(signal, i, SlotPtr::dangling()))
    })
}
