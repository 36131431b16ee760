//! The work-stealing fiber runtime (in progress: issue 3).
//!
//! Pieces, each in its own file:
//! - `queue`: each worker's fixed-size lock-free run queue of not-yet-started fibers
//!   (owner pushes and pops, other workers steal half);
//! - `park`: the pluggable park driver idle workers sleep in, and the idle/searching
//!   bookkeeping that decides whom to wake;
//! - `inbox`: the cross-thread queue through which wake-ups of started fibers reach
//!   their home worker.

// Wired into the scheduler as it lands; until then only the tests use these.
#[allow(dead_code)]
pub(crate) mod inbox;
#[allow(dead_code)]
pub(crate) mod park;
#[allow(dead_code)]
pub(crate) mod queue;
