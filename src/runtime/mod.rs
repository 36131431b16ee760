//! The work-stealing fiber runtime.
//!
//! Pieces, each in its own file:
//! - `queue`: each worker's fixed-size lock-free run queue of not-yet-started fibers
//!   (owner pushes and pops, other workers steal half);
//! - `park`: the pluggable park driver idle workers sleep in, and the idle/searching
//!   bookkeeping that decides whom to wake;
//! - `inbox`: the cross-thread queue through which wake-ups of started fibers reach
//!   their home worker;
//! - `join_state`: the wait protocol of a join slot (one atomic word, two waiter slots);
//! - `timers`: each worker's cancellable timers;
//! - `rc`: the reference-counted pointer fibers live behind, with a per-thread block cache.

mod api;
mod blocking;
mod builder;
pub(crate) mod fiber;
mod join;
mod join_state;
pub(crate) mod local;
mod rc;
mod scope;
mod timers;
pub(crate) mod worker;

pub use api::{Builder, Current, current, run, sleep, sleep_until, spawn, yield_now};
pub use blocking::spawn_blocking;
pub(crate) use builder::Config;
pub use builder::{Builder as RuntimeBuilder, IdlePolicy, Runtime};
pub use fiber::FiberId;
pub use join::{JoinError, JoinHandle};
pub use local::FiberLocalKey;
pub use scope::{Scope, ScopedJoinHandle, scope};
pub use worker::Placement;

/// Queues a fiber that `Fiber::notify` found parked (see `sync::signal::Waker`).
#[inline]
pub(crate) fn schedule_woken(fiber: fiber::FiberRef) {
    worker::schedule(fiber);
}

/// As [`schedule_woken`], ahead of the worker's other ready fibers (see
/// `sync::signal::Waker::wake_holder`).
#[inline]
pub(crate) fn schedule_woken_first(fiber: fiber::FiberRef) {
    worker::schedule_first(fiber);
}

pub(crate) mod inbox;
pub(crate) mod park;
pub(crate) mod queue;
