//! Linux: io_uring or epoll per worker, and the waits sockets and files build on.

mod completion;
mod epoll;
mod uring;

pub(crate) use epoll::{Interest, Source};

use super::IoBackend;
use super::parker::IoParker;
use crate::runtime::worker;
use completion::Completion;
use core::time::Duration;
use epoll::Epoll;
use io_uring::{squeue, types};
use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::time::Instant;
use uring::Uring;

/// What a worker parks on (and other threads unpark).
pub(crate) type WorkerDriver = IoParker;

enum Poller {
    Uring(Box<Uring>),
    Epoll(Epoll),
}

/// A worker's poller, owned by its `Core` (so only its thread and the fibers it runs
/// touch it; no borrow is held across a fiber switch).
pub(crate) struct WorkerIo {
    poller: RefCell<Poller>,
}

/// A worker's driver and poller for `backend`.
pub(crate) fn new_worker(backend: IoBackend) -> io::Result<(WorkerDriver, WorkerIo)> {
    let parker = IoParker::new()?;
    let poller = match backend {
        IoBackend::IoUring => Poller::Uring(Box::new(Uring::new(parker.wake_fd())?)),
        _ => Poller::Epoll(Epoll::new(&parker)?),
    };
    Ok((
        parker,
        WorkerIo {
            poller: RefCell::new(poller),
        },
    ))
}

impl WorkerIo {
    /// The worker's park (see `Driver` in `runtime::park`): flushes submissions, waits in
    /// the poller for at most `timeout`, and wakes the fibers whose operations completed.
    pub(crate) fn park(&self, driver: &WorkerDriver, timeout: Option<Duration>) {
        match &mut *self.poller.borrow_mut() {
            Poller::Uring(u) => u.park(driver, timeout),
            Poller::Epoll(e) => e.park(driver, timeout),
        }
    }

    /// The busy worker's flush-and-reap.
    pub(crate) fn poll_now(&self, driver: &WorkerDriver) {
        self.park(driver, Some(Duration::ZERO));
    }

    fn is_uring(&self) -> bool {
        matches!(&*self.poller.borrow(), Poller::Uring(_))
    }

    fn epoll(&self) -> std::sync::Arc<epoll::EpollShared> {
        match &*self.poller.borrow() {
            Poller::Epoll(e) => e.shared().clone(),
            Poller::Uring(_) => unreachable!("epoll wait on an io_uring worker"),
        }
    }

    fn with_uring<R>(&self, f: impl FnOnce(&mut Uring) -> R) -> R {
        match &mut *self.poller.borrow_mut() {
            Poller::Uring(u) => f(u),
            Poller::Epoll(_) => unreachable!("io_uring operation on an epoll worker"),
        }
    }
}

/// Where the calling code runs, for I/O.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Here {
    /// A plain thread (or a fiber being unwound): blocking calls.
    Thread,
    /// A fiber on an io_uring worker.
    Uring,
    /// A fiber on an epoll worker.
    Epoll,
}

/// Where the calling code runs.
#[inline]
pub(crate) fn here() -> Here {
    worker::with_fiber_io(|io| {
        if io.is_uring() {
            Here::Uring
        } else {
            Here::Epoll
        }
    })
    .unwrap_or(Here::Thread)
}

/// `deadline`'s remaining time as an error if it has passed.
fn remaining(deadline: Option<Instant>) -> io::Result<Option<Duration>> {
    match deadline {
        None => Ok(None),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                Err(io::ErrorKind::TimedOut.into())
            } else {
                Ok(Some(left))
            }
        }
    }
}

/// Blocks the calling thread until `fd` is ready for `interest` or `deadline` passes.
pub(crate) fn poll_fd(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
    loop {
        let left = remaining(deadline)?;
        let mut pfd = libc::pollfd {
            fd,
            events: interest.poll_events(),
            revents: 0,
        };
        // SAFETY: one live pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, super::timeout_ms(left)) };
        if n > 0 {
            return Ok(());
        }
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Runs `attempt` (a non-blocking system call on `fd`) until it does not report
/// `WouldBlock`, waiting for readiness between attempts: in a fiber through the worker's
/// poller, elsewhere in `poll(2)`. Past `deadline` it fails with `TimedOut`.
pub(crate) fn with_readiness<T>(
    source: &Source,
    fd: RawFd,
    interest: Interest,
    deadline: Option<Instant>,
    mut attempt: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    let at = here();
    loop {
        let seen = if at == Here::Epoll {
            source.seq(interest)
        } else {
            0
        };
        match attempt() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
        match at {
            Here::Thread => poll_fd(fd, interest, deadline)?,
            Here::Epoll => {
                remaining(deadline)?;
                let epoll = worker::with_fiber_io(WorkerIo::epoll);
                match epoll {
                    Some(epoll) => source.wait(fd, interest, seen, deadline, &epoll)?,
                    None => poll_fd(fd, interest, deadline)?,
                }
            }
            Here::Uring => {
                let poll =
                    io_uring::opcode::PollAdd::new(types::Fd(fd), interest.poll_events() as u32)
                        .build();
                // SAFETY: a poll points at no memory.
                let r = unsafe { uring_op(poll, deadline) }?;
                if r < 0 {
                    return Err(io::Error::from_raw_os_error(-r));
                }
            }
        }
    }
}

/// Submits `sqe` on the calling fiber's io_uring worker and parks until its completion;
/// returns the raw result (negative errno), or `TimedOut` once a linked timeout from
/// `deadline` cancelled it. Outside an io_uring fiber it fails with `Unsupported`
/// (callers check [`here`] first).
///
/// # Safety
/// Every pointer in `sqe` stays valid until this returns (it returns only after the
/// final completion, even when unwound at shutdown).
pub(crate) unsafe fn uring_op(sqe: squeue::Entry, deadline: Option<Instant>) -> io::Result<i32> {
    let Some(comp) = Completion::for_current_fiber() else {
        return Err(io::ErrorKind::Unsupported.into());
    };
    let ts = remaining(deadline)?.map(types::Timespec::from);
    let queued = worker::with_fiber_io(|io| {
        // SAFETY: `comp`, `ts` and the caller's buffers live until `comp` completes:
        // we wait for it below, and the guard waits for it if the wait is unwound.
        io.with_uring(|u| unsafe { u.queue(sqe, &comp, ts.as_ref()) });
        core::ptr::from_ref(io)
    });
    let Some(owner) = queued else {
        return Err(io::ErrorKind::Unsupported.into());
    };
    let guard = InFlight { comp: &comp, owner };
    let r = comp.wait();
    drop(guard);
    if r == -libc::ECANCELED && deadline.is_some() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    Ok(r)
}

/// Keeps a fiber whose wait is unwound (runtime shutdown) from leaving while the kernel
/// may still write into its stack: cancels the operation and waits for its completion.
struct InFlight<'a> {
    comp: &'a Completion,
    /// The poller the operation went to (compared, not dereferenced).
    owner: *const WorkerIo,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.comp.result().is_some() {
            return;
        }
        let drained = worker::with_worker_io(|io| {
            if !core::ptr::eq(io, self.owner) {
                return false;
            }
            io.with_uring(|u| {
                u.cancel(self.comp);
                while self.comp.result().is_none() {
                    u.submit_and_wait_one();
                }
            });
            true
        });
        if drained != Some(true) {
            // A migratable fiber unwound away from its operation's worker: that worker
            // cancels and reaps everything in flight when it exits, before stacks go.
            while self.comp.result().is_none() {
                std::thread::yield_now();
            }
        }
    }
}

/// Stream reads, writes: io_uring operations in io_uring fibers, readiness loops
/// elsewhere.
pub(crate) fn recv(
    source: &Source,
    fd: RawFd,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> io::Result<usize> {
    if here() == Here::Uring {
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let sqe = io_uring::opcode::Recv::new(types::Fd(fd), buf.as_mut_ptr(), len).build();
        // SAFETY: `buf` is borrowed until we return, which is after the completion.
        let r = unsafe { uring_op(sqe, deadline) }?;
        if r != -libc::EAGAIN {
            return cvt(r).map(|n| n as usize);
        }
    }
    with_readiness(source, fd, Interest::Read, deadline, || {
        // SAFETY: writes at most buf.len() bytes into `buf`.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        cvt_isize(n)
    })
}

/// See [`recv`].
pub(crate) fn send(
    source: &Source,
    fd: RawFd,
    buf: &[u8],
    deadline: Option<Instant>,
) -> io::Result<usize> {
    if here() == Here::Uring {
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let sqe = io_uring::opcode::Send::new(types::Fd(fd), buf.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        // SAFETY: `buf` is borrowed until we return, which is after the completion.
        let r = unsafe { uring_op(sqe, deadline) }?;
        if r != -libc::EAGAIN {
            return cvt(r).map(|n| n as usize);
        }
    }
    with_readiness(source, fd, Interest::Write, deadline, || {
        // SAFETY: reads at most buf.len() bytes from `buf`.
        let n = unsafe {
            libc::send(
                fd,
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        cvt_isize(n)
    })
}

/// Whether regular-file calls of this fiber go through io_uring (true) or, on an epoll
/// worker, to the blocking pool; None outside fibers (plain blocking calls).
pub(crate) fn file_via_uring() -> Option<bool> {
    match here() {
        Here::Thread => None,
        Here::Uring => Some(true),
        Here::Epoll => Some(false),
    }
}

/// Positional (`offset` Some) or current-position read of a regular file through
/// io_uring. Only from io_uring fibers (see [`file_via_uring`]).
pub(crate) fn uring_file_read(fd: RawFd, buf: &mut [u8], offset: Option<u64>) -> io::Result<usize> {
    let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    let sqe = io_uring::opcode::Read::new(types::Fd(fd), buf.as_mut_ptr(), len)
        .offset(offset.unwrap_or(u64::MAX))
        .build();
    // SAFETY: `buf` is borrowed until we return, after the completion.
    let r = unsafe { uring_op(sqe, None) }?;
    cvt(r).map(|n| n as usize)
}

/// See [`uring_file_read`].
pub(crate) fn uring_file_write(fd: RawFd, buf: &[u8], offset: Option<u64>) -> io::Result<usize> {
    let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
    let sqe = io_uring::opcode::Write::new(types::Fd(fd), buf.as_ptr(), len)
        .offset(offset.unwrap_or(u64::MAX))
        .build();
    // SAFETY: `buf` is borrowed until we return, after the completion.
    let r = unsafe { uring_op(sqe, None) }?;
    cvt(r).map(|n| n as usize)
}

/// `fsync` (or `fdatasync`) through io_uring. Only from io_uring fibers.
pub(crate) fn uring_fsync(fd: RawFd, data_only: bool) -> io::Result<()> {
    let flags = if data_only {
        types::FsyncFlags::DATASYNC
    } else {
        types::FsyncFlags::empty()
    };
    let sqe = io_uring::opcode::Fsync::new(types::Fd(fd))
        .flags(flags)
        .build();
    // SAFETY: points at no memory.
    let r = unsafe { uring_op(sqe, None) }?;
    cvt(r).map(drop)
}

fn cvt(r: i32) -> io::Result<i32> {
    if r < 0 {
        Err(io::Error::from_raw_os_error(-r))
    } else {
        Ok(r)
    }
}

fn cvt_isize(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}
