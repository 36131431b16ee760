//! A worker's epoll instance and the per-fd registrations fibers wait on.
//!
//! Each fd is registered once (edge-triggered, read and write interest) with the epoll
//! of the worker whose fiber first waits on it; that worker's loop dispatches its events,
//! which may wake fibers of any worker. A registration counts the readiness events of
//! each direction; a fiber reads the count before its system call and, on EAGAIN, parks
//! only if the count has not moved since (checked under the registration's lock, where
//! it links its wait record): an event between the attempt and the park is never lost.

use super::completion::Completion;
use crate::io::parker::IoParker;
use core::time::Duration;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

/// epoll data of the wake eventfd (registrations are non-null addresses).
const WAKE: u64 = 0;
/// Events reaped per `epoll_wait`.
const EVENTS: usize = 1024;

/// Which readiness a caller waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
}

impl Interest {
    /// The `poll(2)` events of this interest.
    pub(crate) fn poll_events(self) -> libc::c_short {
        match self {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        }
    }
}

/// The part of a worker's epoll that sockets keep a reference to.
pub(crate) struct EpollShared {
    epfd: OwnedFd,
    /// Registrations whose fds were removed, freed by the worker at its next poll (after
    /// any batch of events naming them has been dispatched). Boxed: the allocation, whose
    /// address the batch may hold, must stay where it is until then.
    #[allow(clippy::vec_box)]
    retired: Mutex<Vec<Box<Registration>>>,
    has_retired: AtomicBool,
    /// Cleared when the worker stops polling (its runtime shut down): fds registered here
    /// get no more events, so their waits fall back to `poll(2)`.
    polled: AtomicBool,
}

impl EpollShared {
    fn retire(&self, reg: Box<Registration>) {
        self.retired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(reg);
        // Relaxed: a hint; the lock orders the list itself.
        self.has_retired.store(true, Ordering::Relaxed);
    }

    fn free_retired(&self) {
        if self.has_retired.swap(false, Ordering::Relaxed) {
            let freed =
                std::mem::take(&mut *self.retired.lock().unwrap_or_else(|e| e.into_inner()));
            drop(freed);
        }
    }
}

/// A worker's epoll. Touched only by its worker thread (and the fibers it runs).
pub(crate) struct Epoll {
    shared: Arc<EpollShared>,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub(crate) fn new(parker: &IoParker) -> io::Result<Epoll> {
        // SAFETY: no pointers; a non-negative result is a new fd we own.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: just created, owned by nobody else.
        let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE,
        };
        // SAFETY: a live epoll_event; both fds are open (the parker outlives this epoll:
        // both live in the worker, the epoll is dropped first).
        if unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, parker.wake_fd(), &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll {
            shared: Arc::new(EpollShared {
                epfd,
                retired: Mutex::new(Vec::new()),
                has_retired: AtomicBool::new(false),
                polled: AtomicBool::new(true),
            }),
            events: Vec::with_capacity(EVENTS),
        })
    }

    pub(crate) fn shared(&self) -> &Arc<EpollShared> {
        &self.shared
    }

    /// The worker's park: see `Driver` in `runtime::park`.
    pub(crate) fn park(&mut self, parker: &IoParker, timeout: Option<Duration>) {
        parker.park_with(timeout, |t| self.wait(parker, crate::io::timeout_ms(t)));
    }

    fn wait(&mut self, parker: &IoParker, ms: libc::c_int) {
        self.shared.free_retired();
        self.events.clear();
        // SAFETY: the buffer has room for EVENTS entries; the kernel fills `n` of them.
        let n = unsafe {
            libc::epoll_wait(
                self.shared.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                EVENTS as libc::c_int,
                ms,
            )
        };
        if n <= 0 {
            return; // timeout, EINTR: the worker looks again
        }
        // SAFETY: the kernel initialised the first n entries.
        unsafe { self.events.set_len(n as usize) };
        for ev in &self.events {
            let (bits, data) = (ev.events, ev.u64);
            if data == WAKE {
                parker.drain_wake();
                continue;
            }
            // SAFETY: registrations stay allocated until retired and then until the next
            // `wait` starts (see `EpollShared::retired`), so this batch's are alive.
            let reg = unsafe { &*(data as *const Registration) };
            reg.dispatch(bits);
        }
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // Release: pairs with the acquire in `Source::wait`.
        self.shared.polled.store(false, Ordering::Release);
        // Fibers of this runtime linked on its registrations were unwound already. A fiber
        // of another runtime parked on one of them (a socket used across runtimes) is not
        // woken: a known limitation, documented in `fibra::net`.
        self.shared.free_retired();
    }
}

/// Wait records of fibers parked on one fd, and its readiness counts.
pub(crate) struct Registration {
    read_seq: AtomicU64,
    write_seq: AtomicU64,
    waiters: Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    readers: Vec<WaitPtr>,
    writers: Vec<WaitPtr>,
}

/// A wait record on a parked fiber's stack.
#[derive(PartialEq, Eq)]
struct WaitPtr(*const Completion);

// SAFETY: only an address; it is dereferenced only under the registration's lock while
// its fiber waits (which keeps the record alive, see `Source::wait`).
unsafe impl Send for WaitPtr {}

impl Registration {
    fn lock(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn seq(&self, interest: Interest) -> &AtomicU64 {
        match interest {
            Interest::Read => &self.read_seq,
            Interest::Write => &self.write_seq,
        }
    }

    fn dispatch(&self, bits: u32) {
        let read =
            (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR)
                as u32;
        let write = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        let mut w = self.lock();
        for (mask, interest) in [(read, Interest::Read), (write, Interest::Write)] {
            if bits & mask == 0 {
                continue;
            }
            // Release: pairs with the acquire in `Source::seq`, read before the attempt.
            self.seq(interest).fetch_add(1, Ordering::Release);
            let list = match interest {
                Interest::Read => &mut w.readers,
                Interest::Write => &mut w.writers,
            };
            for p in list.drain(..) {
                // SAFETY: linked records are pending and alive: their fibers unlink them
                // (under this lock) before they may return.
                unsafe { Completion::complete(p.0, 0) };
            }
        }
    }
}

/// The epoll side of a socket: its registration, made on first wait.
#[derive(Default)]
pub(crate) struct Source {
    reg: OnceLock<Result<RegHandle, i32>>,
}

struct RegHandle {
    reg: NonNull<Registration>,
    epoll: Arc<EpollShared>,
    fd: RawFd,
}

// SAFETY: the registration is Sync (atomics and a mutex); the handle owns it.
unsafe impl Send for RegHandle {}
// SAFETY: as above.
unsafe impl Sync for RegHandle {}

impl Drop for RegHandle {
    fn drop(&mut self) {
        // SAFETY: removes our fd (still open: the socket drops its source before its fd)
        // from the epoll; no pointers besides the ignored event.
        unsafe {
            libc::epoll_ctl(
                self.epoll.epfd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                self.fd,
                std::ptr::null_mut(),
            )
        };
        // SAFETY: made by Box::into_raw in `register`, freed once (after the worker's
        // current batch of events, which may still name it).
        self.epoll
            .retire(unsafe { Box::from_raw(self.reg.as_ptr()) });
    }
}

impl Source {
    /// The readiness count of `interest` (0 before registration).
    #[inline]
    pub(crate) fn seq(&self, interest: Interest) -> u64 {
        match self.reg.get() {
            // SAFETY: the handle owns the registration.
            // Acquire: pairs with the release increment in `dispatch`.
            Some(Ok(h)) => unsafe { h.reg.as_ref() }
                .seq(interest)
                .load(Ordering::Acquire),
            _ => 0,
        }
    }

    fn register(
        &self,
        fd: RawFd,
        epoll: &Arc<EpollShared>,
    ) -> io::Result<(&Registration, &EpollShared)> {
        let handle = self.reg.get_or_init(|| {
            let reg = Box::new(Registration {
                read_seq: AtomicU64::new(0),
                write_seq: AtomicU64::new(0),
                waiters: Mutex::new(Waiters::default()),
            });
            let ptr = Box::into_raw(reg);
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
                u64: ptr as u64,
            };
            // SAFETY: a live epoll_event; `fd` is the caller's open fd.
            let r = unsafe {
                libc::epoll_ctl(epoll.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev)
            };
            if r < 0 {
                // SAFETY: never registered: ours alone.
                drop(unsafe { Box::from_raw(ptr) });
                return Err(io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO));
            }
            Ok(RegHandle {
                // SAFETY: from Box::into_raw, non-null.
                reg: unsafe { NonNull::new_unchecked(ptr) },
                epoll: epoll.clone(),
                fd,
            })
        });
        match handle {
            // SAFETY: the handle owns the registration while `self` lives.
            Ok(h) => Ok((unsafe { h.reg.as_ref() }, &h.epoll)),
            Err(code) => Err(io::Error::from_raw_os_error(*code)),
        }
    }

    /// Parks the calling fiber until `fd` may be ready for `interest` (its count moved
    /// from `seen`), or `deadline` passes (TimedOut). `epoll` is the calling worker's,
    /// used if the fd is not registered yet.
    pub(crate) fn wait(
        &self,
        fd: RawFd,
        interest: Interest,
        seen: u64,
        deadline: Option<Instant>,
        epoll: &Arc<EpollShared>,
    ) -> io::Result<()> {
        let (reg, owner) = self.register(fd, epoll)?;
        // Acquire: pairs with the release in `Epoll::drop`.
        if !owner.polled.load(Ordering::Acquire) {
            // Registered with a runtime that has shut down: nobody dispatches its events
            // any more. Wait in poll(2), occupying this worker (a socket moved between
            // runtimes; rare).
            return super::poll_fd(fd, interest, deadline);
        }
        let Some(comp) = Completion::for_current_fiber() else {
            return super::poll_fd(fd, interest, deadline);
        };
        {
            let mut w = reg.lock();
            // Relaxed: under the lock the dispatcher increments under.
            if reg.seq(interest).load(Ordering::Relaxed) != seen {
                return Ok(());
            }
            let list = match interest {
                Interest::Read => &mut w.readers,
                Interest::Write => &mut w.writers,
            };
            list.push(WaitPtr(&comp));
        }
        // Unlinks the record if the fiber stops waiting without a completion (timeout,
        // or unwound at shutdown), so nothing points at its stack afterwards.
        struct Unlink<'a>(&'a Registration, &'a Completion, Interest);
        impl Unlink<'_> {
            /// Whether the record was still linked (then it never completes).
            fn unlink(&self) -> bool {
                let mut w = self.0.lock();
                let list = match self.2 {
                    Interest::Read => &mut w.readers,
                    Interest::Write => &mut w.writers,
                };
                let me = WaitPtr(self.1);
                match list.iter().position(|p| *p == me) {
                    Some(i) => {
                        list.swap_remove(i);
                        true
                    }
                    None => false,
                }
            }
        }
        impl Drop for Unlink<'_> {
            fn drop(&mut self) {
                if self.1.result().is_none() {
                    self.unlink();
                }
            }
        }
        let guard = Unlink(reg, &comp, interest);
        match comp.wait_until(deadline) {
            Some(_) => Ok(()),
            // Not linked any more means a dispatch completed it meanwhile: ready.
            None if guard.unlink() => Err(io::ErrorKind::TimedOut.into()),
            None => Ok(()),
        }
    }
}
