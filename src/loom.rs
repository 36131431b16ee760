//! The one place fibra takes its atomics and locks from, so that `RUSTFLAGS="--cfg loom"`
//! swaps in loom's model-checked versions everywhere at once.

#[cfg(loom)]
pub(crate) use loom::sync::{
    Mutex,
    atomic::{AtomicUsize, Ordering, fence},
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    Mutex,
    atomic::{AtomicUsize, Ordering, fence},
};
