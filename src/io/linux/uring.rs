//! A worker's io_uring: batched submissions, completions dispatched to waiting fibers.

use super::completion::Completion;
use crate::io::parker::IoParker;
use core::time::Duration;
use io_uring::{IoUring, opcode, squeue, types};
use std::io;
use std::mem::ManuallyDrop;

/// user_data of entries whose completion nobody waits for (linked timeouts, cancels).
const IGNORE: u64 = 0;
/// user_data of the poll on the worker's wake eventfd.
const WAKE: u64 = 1;
/// user_data of the cancel-everything entry submitted at worker exit.
const CANCEL_ANY: u64 = 2;
/// Submission queue size of a worker's ring (the completion queue is twice as big, and
/// the kernel keeps overflowing completions, `NODROP`, until they are reaped).
const RING_ENTRIES: u32 = 1024;

/// One worker's ring. Touched only by its worker thread (and the fibers it runs).
pub(crate) struct Uring {
    ring: ManuallyDrop<IoUring>,
    /// Set if operations could not be cancelled at exit: the ring is then never closed.
    leak_ring: bool,
    /// Operations whose completion has a waiter (submitted or queued, not reaped).
    in_flight: usize,
    /// Whether the poll on the wake eventfd is queued or in flight.
    wake_armed: bool,
    /// Whether a completion of that poll was reaped and the eventfd not drained since.
    wake_fired: bool,
    wake_fd: i32,
    /// Set when the kernel refused the exit-time cancel of every operation.
    cancel_any_failed: bool,
}

impl Uring {
    pub(crate) fn new(wake_fd: i32) -> io::Result<Uring> {
        let ring = IoUring::builder().build(RING_ENTRIES)?;
        let mut uring = Uring {
            ring: ManuallyDrop::new(ring),
            leak_ring: false,
            in_flight: 0,
            wake_armed: false,
            wake_fd,
            cancel_any_failed: false,
            wake_fired: false,
        };
        // Armed from the start, so that no park ever needs to arm it inside its PARKED
        // window (see `arm_wake`).
        uring.arm_wake();
        Ok(uring)
    }

    /// Queues entries that must be submitted together (an operation and its linked
    /// timeout), flushing the queue first if they do not fit.
    ///
    /// # Safety
    /// Every buffer and record the entries point at stays valid until their completions
    /// are reaped (for entries with user_data IGNORE: until they are submitted).
    unsafe fn push(&mut self, entries: &[squeue::Entry]) {
        loop {
            let sq = self.ring.submission();
            if sq.capacity() - sq.len() >= entries.len() {
                break;
            }
            drop(sq);
            self.submit();
        }
        // SAFETY: the caller's contract; there is room (checked above).
        unsafe {
            self.ring
                .submission()
                .push_multiple(entries)
                .expect("room was made above");
        }
    }

    /// Queues `sqe` for the calling fiber's `comp`, with a linked timeout if `timeout`
    /// is set (`ts` holds it until the submission).
    ///
    /// # Safety
    /// `comp`, `ts` and every buffer `sqe` points at stay valid until `comp` completes
    /// (the caller waits for it, see `linux::submit_and_wait`).
    pub(crate) unsafe fn queue(
        &mut self,
        sqe: squeue::Entry,
        comp: &Completion,
        ts: Option<&types::Timespec>,
    ) {
        let sqe = sqe.user_data(comp.addr());
        self.in_flight += 1;
        match ts {
            // SAFETY: the caller's contract.
            None => unsafe { self.push(&[sqe]) },
            Some(ts) => {
                let timeout = opcode::LinkTimeout::new(ts).build().user_data(IGNORE);
                // SAFETY: the caller's contract (`ts` lives until the completion, which
                // is after the submission).
                unsafe { self.push(&[sqe.flags(squeue::Flags::IO_LINK), timeout]) };
            }
        }
    }

    /// Asks the kernel to cancel the operation of `comp` (its completion still comes).
    pub(crate) fn cancel(&mut self, comp: &Completion) {
        let cancel = opcode::AsyncCancel::new(comp.addr())
            .build()
            .user_data(IGNORE);
        // SAFETY: a cancel points at no memory (the user_data is only a key).
        unsafe { self.push(&[cancel]) };
    }

    /// Submits what is queued (no wait).
    pub(crate) fn submit(&mut self) {
        if self.ring.submission().is_empty() {
            return;
        }
        loop {
            match self.ring.submit() {
                Ok(_) => return,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                // The completion queue is full (EBUSY): make room, try again.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    if self.reap() == 0 {
                        return;
                    }
                }
                // Nothing else is expected for valid entries; the waiters of entries
                // that stay queued are retried at the next flush.
                Err(_) => return,
            }
        }
    }

    /// Submits what is queued, waits for at least one completion, and dispatches.
    pub(crate) fn submit_and_wait_one(&mut self) {
        loop {
            match self.ring.submit_and_wait(1) {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                _ => break,
            }
        }
        self.reap();
    }

    /// Dispatches the completions in the queue; returns how many had waiters.
    pub(crate) fn reap(&mut self) -> usize {
        let mut woken = 0;
        let mut wake_fired = false;
        for cqe in self.ring.completion() {
            match cqe.user_data() {
                IGNORE => {}
                WAKE => wake_fired = true,
                CANCEL_ANY => self.cancel_any_failed = cqe.result() == -libc::EINVAL,
                addr => {
                    self.in_flight -= 1;
                    woken += 1;
                    // SAFETY: `addr` is the user_data `queue` set: a pending Completion
                    // whose fiber waits for it (so it is alive); each reaped once.
                    unsafe { Completion::complete(addr as *const Completion, cqe.result()) };
                }
            }
        }
        if wake_fired {
            self.wake_armed = false;
            self.wake_fired = true;
        }
        woken
    }

    /// Queues the poll on the wake eventfd unless one is pending. Never drains the
    /// eventfd: a drain here could run while the worker is PARKED and swallow the write
    /// of an unparker that saw PARKED, leaving the poll to wait forever.
    fn arm_wake(&mut self) {
        if !self.wake_armed {
            let poll = opcode::PollAdd::new(types::Fd(self.wake_fd), libc::POLLIN as u32)
                .build()
                .user_data(WAKE);
            // SAFETY: a poll on an fd the parker keeps open as long as this ring (the
            // parker lives in the runtime's shared state, which outlives every worker).
            unsafe { self.push(&[poll]) };
            self.wake_armed = true;
        }
    }

    /// The worker's park: see `Driver` in `runtime::park`.
    pub(crate) fn park(&mut self, parker: &IoParker, timeout: Option<Duration>) {
        parker.park_with(timeout, |timeout| {
            if timeout == Some(Duration::ZERO) {
                self.submit();
                return;
            }
            self.arm_wake();
            // ETIME (timeout), EINTR: back to the worker loop, which looks again. EBUSY:
            // completions to reap first, done below.
            let _ = match timeout {
                None => self.ring.submit_and_wait(1),
                Some(t) => {
                    let ts = types::Timespec::from(t);
                    let args = types::SubmitArgs::new().timespec(&ts);
                    self.ring.submitter().submit_with_args(1, &args)
                }
            };
        });
        self.reap();
        if self.wake_fired {
            // Out of the PARKED window (the word is EMPTY or NOTIFIED again): drain the
            // writes that ended this or an earlier wait. A write landing after the drain
            // leaves the eventfd readable: the next park returns at once.
            self.wake_fired = false;
            parker.drain_wake();
        }
        self.arm_wake();
    }

    /// At worker exit: cancels every operation still in flight and waits for all their
    /// completions, so no kernel write lands in a stack after it is freed. (Only
    /// migratable fibers can leave operations here: a worker's own fibers withdraw theirs
    /// while they are unwound.)
    pub(crate) fn drain(&mut self) {
        if self.in_flight == 0 {
            return;
        }
        let cancel_all = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(CANCEL_ANY);
        // SAFETY: a cancel points at no memory.
        unsafe { self.push(&[cancel_all]) };
        while self.in_flight > 0 {
            self.submit();
            let ts = types::Timespec::from(Duration::from_millis(100));
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            if self.reap() == 0 && self.cancel_any_failed {
                // Kernel older than 5.19: no cancel-any. Keep the ring (and its pending
                // operations' memory is the fibers' stacks, which are freed next): leak the
                // ring rather than close it, which would not wait for the kernel either.
                eprintln!(
                    "fibra: io_uring cannot cancel {} operation(s) at shutdown on this kernel",
                    self.in_flight
                );
                self.leak_ring = true;
                return;
            }
        }
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        self.drain();
        if !self.leak_ring {
            // SAFETY: dropped once, here; not used afterwards.
            unsafe { ManuallyDrop::drop(&mut self.ring) };
        }
    }
}
