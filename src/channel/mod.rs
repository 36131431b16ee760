//! Multi-producer multi-consumer channels for fibers and threads, and
//! [`select!`](crate::select) over them.
//!
//! The API follows crossbeam-channel's, so code moves over easily:
//!
//! ```
//! use fibra::channel;
//!
//! let (tx, rx) = channel::bounded(8);
//! let producer = fibra::spawn(move || {
//!     for i in 0..100 {
//!         tx.send(i).unwrap();
//!     }
//! }); // `tx` is dropped when the fiber ends: the channel disconnects
//! let sum: u32 = rx.iter().sum();
//! assert_eq!(sum, 4950);
//! producer.join().unwrap();
//! ```
//!
//! Blocking operations suspend a fiber (its worker runs other fibers meanwhile) and park a
//! plain thread; fibers and threads may be mixed freely on one channel.
//!
//! Every channel is a buffer under one lock plus two queues of blocked operations. A send
//! that finds a receiver waiting hands the message straight to it; a receive that frees a
//! place in a full buffer moves the oldest blocked sender's message in, so messages arrive
//! in the order they were sent (per sender, and overall for the waiting senders).

mod arms;
mod chan;
mod errors;
mod iter;
mod private;
mod receiver;
mod rng;
mod select;
mod select_core;
mod select_macro;
mod sender;
mod slot;
mod state;

pub use errors::{
    RecvError, RecvTimeoutError, SelectTimeoutError, SendError, SendTimeoutError, TryRecvError,
    TrySelectError, TrySendError,
};
pub use iter::{IntoIter, Iter, TryIter};
pub use receiver::Receiver;
pub use select::{Select, SelectedOperation};
pub use sender::Sender;

/// `fibra::select!`, also reachable here (as `crossbeam_channel::select!` is).
pub use crate::select;

/// What [`select!`](crate::select) expands to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use super::private::{ArmRef, Fallback, RecvArm, SendArm, select};
}

use crate::loom::Arc;
use chan::Chan;

/// A channel that buffers up to `cap` messages: a send waits while the buffer is full.
///
/// With `cap == 0` it is a rendezvous channel: a send completes only when a receiver takes
/// the message.
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    // `usize::MAX` stands for unbounded inside; no buffer of that size fits in memory.
    new(cap.min(usize::MAX - 1))
}

/// A channel with an unbounded buffer: a send never waits.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new(usize::MAX)
}

fn new<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(cap));
    (Sender { chan: chan.clone() }, Receiver { chan })
}
