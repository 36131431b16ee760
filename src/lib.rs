//! # fibra
//!
//! Stackful coroutines with hand-written context switching for x86-64 (System V and
//! Microsoft x64) and aarch64 (AAPCS64), on guarded, pooled stacks.
//!
//! ```
//! use fibra::{Coroutine, CoroutineResult, Generator, Yielder};
//!
//! // A coroutine takes inputs, yields values, and returns.
//! let mut co = Coroutine::new(|y: &Yielder<i32, &'static str>, first: i32| -> u64 {
//!     let next: i32 = y.suspend("a");
//!     (first + next) as u64
//! });
//! assert!(matches!(co.resume(1), CoroutineResult::Yield("a")));
//! assert!(matches!(co.resume(2), CoroutineResult::Return(3)));
//!
//! // A generator is an iterator driven by suspend.
//! let squares: Vec<u32> = Generator::new(|y| for i in 1..4 { y.suspend(i * i) }).collect();
//! assert_eq!(squares, [1, 4, 9]);
//!
//! // Deep recursion on a big stack of its own.
//! fn depth(n: u32) -> u32 { if n == 0 { 0 } else { 1 + depth(std::hint::black_box(n) - 1) } }
//! assert_eq!(fibra::on_stack(32 << 20, || depth(100_000)), 100_000);
//! ```
//!
//! ## Stacks
//! Stacks come from a per-thread [`StackPool`], so creating a coroutine costs no system
//! call in steady state. Each stack has a guard page below it while the process's
//! mapping budget allows ([`StackPolicy`]); an overflow into a guard page is reported by
//! name (`fibra: fiber '<name>' overflowed its <N> KiB stack`) before the process aborts.
//!
//! ## Fibers, sync and channels
//! A [`Runtime`] runs fibers on worker threads; [`sync`] and [`channel`] let fibers (and
//! plain threads) wait for each other, suspending only the waiting fiber:
//!
//! ```
//! use fibra::channel::bounded;
//! use fibra::sync::WaitGroup;
//!
//! let sum = fibra::run(|| {
//!     let (tx, rx) = bounded::<u64>(0); // a rendezvous
//!     let done = WaitGroup::new();
//!     done.add(1);
//!     let worker = done.clone();
//!     drop(fibra::spawn(move || {
//!         for i in 1..=4 {
//!             tx.send(i).unwrap();
//!         }
//!         worker.done();
//!     }));
//!     let sum: u64 = rx.iter().sum(); // ends when the sender is gone
//!     done.wait();
//!     sum
//! });
//! assert_eq!(sum, 10);
//! ```
//!
//! ## Sockets and files
//! [`net`] and [`fs`] have std's API and suspend only the calling fiber (on Linux through
//! each worker's io_uring, or epoll where io_uring is unavailable; see
//! [`Runtime::io_backend`]); on plain threads they block as std's do.

#![warn(clippy::undocumented_unsafe_blocks)]

mod arch;
pub mod channel;
mod coroutine;
#[cfg(not(loom))]
pub mod ffi;
pub mod fs;
mod io;
mod loom;
pub mod net;
mod runtime;
mod stack;
pub mod sync;
mod sys;

pub use coroutine::{Builder, Coroutine, CoroutineResult, Generator, Yielder, on_stack};
pub use io::IoBackend;
pub use runtime::{
    Current, FiberId, FiberLocalKey, IdlePolicy, JoinError, JoinHandle, Placement, Runtime,
    RuntimeBuilder, Scope, ScopedJoinHandle, current, run, scope, sleep, sleep_until, spawn,
    spawn_blocking, yield_now,
};

/// Fiber settings: [`fiber::Builder`] (name, stack size, placement).
pub mod fiber {
    pub use crate::runtime::{Builder, Placement};
}
pub use stack::{
    DEFAULT_STACK_SIZE, DefaultStack, PooledStack, Stack, StackPolicy, StackPool, StackPoolConfig,
    set_guarded_stack_budget,
};
