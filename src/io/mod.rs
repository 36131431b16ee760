//! I/O dispatch: how a fiber's socket or file call waits without blocking its worker.
//!
//! Each worker of a [`Runtime`](crate::Runtime) owns one poller (`WorkerIo`), chosen
//! once per process ([`IoBackend`]):
//! - **io_uring** (Linux): one ring per worker. A fiber's operation record
//!   (`linux::Completion`) lives on its own stack and its address is the SQE's user_data;
//!   the fiber parks, and the worker that reaps the CQE wakes it. Submissions are batched
//!   and flushed when the worker parks or every few scheduling rounds. Timed operations
//!   carry a linked timeout, so the kernel cancels them and the fiber still waits for the
//!   final CQE: a buffer is never written after its call returned.
//! - **epoll** (Linux, when io_uring is missing or refused, or `FIBRA_IO=epoll`): one
//!   epoll per worker, each fd registered once, edge-triggered, on first wait. A fiber
//!   tries the system call first and parks on `EAGAIN`; regular files go to the blocking
//!   pool.
//! - **blocking** (other targets, and loom builds): no poller; sockets and files are plain
//!   blocking calls that occupy the worker while they wait.
//!
//! Outside a fiber the same types make ordinary blocking calls (a non-blocking attempt,
//! then `poll(2)` on Linux).
//!
//! The worker parks in its poller: [`parker::IoParker`] keeps the thread driver's state
//! word and wakes the poller through an eventfd.

mod backend;

#[cfg(any(all(target_os = "linux", not(loom)), loom))]
pub(crate) mod parker;

pub use backend::IoBackend;
pub(crate) use backend::process_backend;

cfg_if::cfg_if! {
    if #[cfg(all(target_os = "linux", not(loom)))] {
        pub(crate) mod linux;
        pub(crate) use linux::{WorkerDriver, WorkerIo, new_worker};
    } else {
        mod fallback;
        pub(crate) use fallback::{WorkerDriver, WorkerIo, new_worker};
    }
}

/// `timeout` in whole milliseconds for `poll(2)` / `epoll_wait(2)`, rounded up so that a
/// wait never ends before its timeout; `None` (or longer than `c_int` holds) is -1.
#[cfg(all(target_os = "linux", not(loom)))]
pub(crate) fn timeout_ms(timeout: Option<core::time::Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(-1)
        }
    }
}
