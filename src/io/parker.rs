//! The shared half of an I/O worker's park driver: [`ThreadDriver`]'s state word with an
//! eventfd in place of the futex (see the `Driver` docs in `runtime::park`).
//!
//! The worker blocks in its poller (io_uring or epoll), in which the eventfd is
//! registered; [`IoParker::park_with`] runs the state-word protocol around that wait and
//! [`IoParker::unpark`] writes the eventfd only when the worker is (about to be) parked.
//!
//! Why no wake-up is lost: the worker moves the word to PARKED *before* it enters the
//! poller; an unparker that swaps in NOTIFIED and finds PARKED writes the eventfd, which
//! stays readable until the worker drains it. A write landing before the wait starts
//! makes the wait return at once (the eventfd is readable when the poller looks), one
//! landing during the wait ends it. Only the worker drains the eventfd, and it looks for
//! work after every park, so a drain can at worst leave a later write's count behind: the
//! next park then returns at once (spuriously) and drains it.
//!
//! [`ThreadDriver`]: crate::runtime::park::ThreadDriver

use crate::loom::{AtomicU32, Ordering};
use crate::runtime::park::Driver;
use core::time::Duration;

/// No notification pending, worker not parked.
const EMPTY: u32 = 0;
/// An `unpark` arrived that no `park` has consumed yet.
const NOTIFIED: u32 = 1;
/// The worker is (about to be) blocked in its poller. `EMPTY - 1`, as in `ThreadDriver`.
const PARKED: u32 = u32::MAX;

/// The state word and the eventfd other threads wake a worker's poller with.
pub(crate) struct IoParker {
    state: AtomicU32,
    wake: EventFd,
}

impl IoParker {
    /// A parker with a fresh eventfd and no notification pending.
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(IoParker {
            state: AtomicU32::new(EMPTY),
            wake: EventFd::new()?,
        })
    }

    /// The eventfd the poller must watch (readable = woken).
    #[cfg(all(target_os = "linux", not(loom)))]
    pub(crate) fn wake_fd(&self) -> std::os::fd::RawFd {
        self.wake.fd()
    }

    /// Consumes the eventfd's count; the poller calls this when it reports the eventfd.
    pub(crate) fn drain_wake(&self) {
        self.wake.drain();
    }

    /// Runs the park protocol around `wait`, the poller's wait for the given timeout
    /// (which must end when the eventfd is readable). `wait` gets `Some(ZERO)` (a
    /// non-blocking round) instead of `timeout` when a notification is pending.
    #[inline]
    pub(crate) fn park_with(&self, timeout: Option<Duration>, wait: impl FnOnce(Option<Duration>)) {
        if timeout == Some(Duration::ZERO) {
            // A flush-and-reap: consume a notification, never enter PARKED. Acquire: pairs
            // with the release swap in `unpark`.
            self.state.swap(EMPTY, Ordering::Acquire);
            wait(timeout);
            return;
        }
        // Acquire: pairs with the release swap in `unpark` (see `ThreadDriver::park`).
        let prev = self.state.fetch_sub(1, Ordering::Acquire);
        debug_assert!(
            prev == EMPTY || prev == NOTIFIED,
            "two threads parked on one driver"
        );
        if prev == NOTIFIED {
            wait(Some(Duration::ZERO));
            return;
        }
        wait(timeout);
        // Acquire: pairs with the release swap in `unpark` (when it is what woke us).
        self.state.swap(EMPTY, Ordering::Acquire);
    }
}

impl Driver for IoParker {
    /// Parks on the eventfd alone (no poller): what a worker without I/O would do. The
    /// runtime's workers call [`IoParker::park_with`] with their poller instead; this is
    /// the protocol the loom models check.
    fn park(&self, timeout: Option<Duration>) {
        self.park_with(timeout, |t| {
            if t != Some(Duration::ZERO) && self.wake.wait_readable(t) {
                self.wake.drain();
            }
        });
    }

    #[inline]
    fn unpark(&self) {
        // Release: pairs with the acquire decrement / swaps in `park_with`.
        if self.state.swap(NOTIFIED, Ordering::Release) == PARKED {
            self.wake.signal();
        }
    }
}

impl IoParker {
    /// The io_uring worker's order (see `Uring::park`): the wait ends when the eventfd is
    /// readable, but the eventfd is drained only after `park_with` returned (the word out
    /// of PARKED). Modelled under loom next to the epoll order of `Driver::park` (drain
    /// right after the wait).
    #[cfg(loom)]
    fn park_drain_after(&self, timeout: Option<Duration>) {
        let mut fired = false;
        self.park_with(timeout, |t| {
            if t != Some(Duration::ZERO) {
                fired = self.wake.wait_readable(t);
            }
        });
        if fired {
            self.wake.drain();
        }
    }
}

#[cfg(all(target_os = "linux", not(loom)))]
use self::linux_eventfd::EventFd;
#[cfg(loom)]
use self::loom_eventfd::EventFd;

/// A Linux eventfd, non-blocking, close-on-exec.
#[cfg(all(target_os = "linux", not(loom)))]
mod linux_eventfd {
    use core::time::Duration;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    pub(crate) struct EventFd(OwnedFd);

    impl EventFd {
        pub(crate) fn new() -> std::io::Result<Self> {
            // SAFETY: eventfd takes no pointers; a non-negative result is a new fd we own.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
            Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
        }

        pub(crate) fn fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }

        /// Adds one to the counter (readable until drained).
        pub(crate) fn signal(&self) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our eventfd. It cannot fail short
            // of the counter overflowing (EAGAIN at u64::MAX - 1), when it is readable
            // anyway.
            unsafe { libc::write(self.fd(), (&raw const one).cast(), 8) };
        }

        /// Resets the counter to zero (non-blocking: a drained eventfd gives EAGAIN).
        pub(crate) fn drain(&self) {
            let mut n: u64 = 0;
            // SAFETY: reads 8 bytes into a live u64.
            unsafe { libc::read(self.fd(), (&raw mut n).cast(), 8) };
        }

        /// Waits until readable or `timeout`; returns whether it is readable. (Only
        /// `IoParker`'s poller-less `Driver::park` uses this; workers wait in their poller.)
        #[allow(dead_code)]
        pub(crate) fn wait_readable(&self, timeout: Option<Duration>) -> bool {
            let mut pfd = libc::pollfd {
                fd: self.fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = super::super::timeout_ms(timeout);
            // SAFETY: one live pollfd.
            unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
        }
    }
}

/// The eventfd under loom: a counter, a mutex and a condvar (a wait that finds the
/// counter non-zero returns at once, as `poll` on a readable eventfd does).
#[cfg(loom)]
mod loom_eventfd {
    use core::time::Duration;
    use loom::sync::{Condvar, Mutex};

    pub(crate) struct EventFd {
        count: Mutex<u64>,
        cvar: Condvar,
    }

    impl EventFd {
        pub(crate) fn new() -> std::io::Result<Self> {
            Ok(EventFd {
                count: Mutex::new(0),
                cvar: Condvar::new(),
            })
        }

        pub(crate) fn signal(&self) {
            *self.count.lock().unwrap() += 1;
            self.cvar.notify_one();
        }

        pub(crate) fn drain(&self) {
            *self.count.lock().unwrap() = 0;
        }

        /// loom has no timed waits: a timed wait is an untimed one (the models always
        /// unpark).
        pub(crate) fn wait_readable(&self, _timeout: Option<Duration>) -> bool {
            let mut count = self.count.lock().unwrap();
            while *count == 0 {
                count = self.cvar.wait(count).unwrap();
            }
            true
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicUsize;

    fn explore(name: &str, preemptions: usize, model: impl Fn() + Sync + Send + 'static) {
        use std::sync::atomic::AtomicUsize as StdCount;
        static EXECUTIONS: StdCount = StdCount::new(0);
        EXECUTIONS.store(0, std::sync::atomic::Ordering::Relaxed);
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(preemptions);
        builder.check(move || {
            EXECUTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            model();
        });
        let n = EXECUTIONS.load(std::sync::atomic::Ordering::Relaxed);
        println!("{name}: {n} executions");
        assert!(n > 1, "{name}: loom explored a single execution");
    }

    /// An unpark racing the worker's way into the poller (before the decrement, between
    /// the decrement and the wait, during the wait) always ends the park, and the data
    /// the unparker published is visible afterwards.
    #[test]
    fn loom_io_park_unpark_no_lost_wakeup() {
        explore("loom_io_park_unpark_no_lost_wakeup", 3, || {
            let parker = Arc::new(IoParker::new().unwrap());
            let data = Arc::new(UnsafeCell::new(0));
            let unparker = {
                let (parker, data) = (parker.clone(), data.clone());
                loom::thread::spawn(move || {
                    // SAFETY: the parker reads the cell only after the park this ends.
                    data.with_mut(|p| unsafe { *p = 42 });
                    parker.unpark();
                })
            };
            parker.park(None);
            // SAFETY: park(None) returned, so the unpark happened-before this point.
            assert_eq!(data.with(|p| unsafe { *p }), 42);
            unparker.join().unwrap();
        });
    }

    /// Two unparkers and repeated parks guarded by a counter: a notification merged
    /// into an earlier one, or left readable in the eventfd, never leaves a park hanging.
    #[test]
    fn loom_io_park_two_unparkers() {
        explore("loom_io_park_two_unparkers", 2, || {
            let parker = Arc::new(IoParker::new().unwrap());
            let sent = Arc::new(AtomicUsize::new(0));
            let unparkers: Vec<_> = (0..2)
                .map(|_| {
                    let (parker, sent) = (parker.clone(), sent.clone());
                    loom::thread::spawn(move || {
                        sent.fetch_add(1, Ordering::Relaxed);
                        parker.unpark();
                    })
                })
                .collect();
            // Relaxed: the parker orders the counter (acquire pairs with unpark's release).
            while sent.load(Ordering::Relaxed) < 2 {
                parker.park(Some(Duration::from_secs(1)));
            }
            for u in unparkers {
                u.join().unwrap();
            }
        });
    }

    /// The io_uring order (drain after the park) under the same races as above: an
    /// unpark landing anywhere ends the park, merged or repeated unparks never leave a
    /// later park hanging.
    #[test]
    fn loom_io_park_drain_after_no_lost_wakeup() {
        explore("loom_io_park_drain_after_no_lost_wakeup", 2, || {
            let parker = Arc::new(IoParker::new().unwrap());
            let sent = Arc::new(AtomicUsize::new(0));
            let unparkers: Vec<_> = (0..2)
                .map(|_| {
                    let (parker, sent) = (parker.clone(), sent.clone());
                    loom::thread::spawn(move || {
                        sent.fetch_add(1, Ordering::Relaxed);
                        parker.unpark();
                    })
                })
                .collect();
            while sent.load(Ordering::Relaxed) < 2 {
                parker.park_drain_after(None);
            }
            for u in unparkers {
                u.join().unwrap();
            }
        });
    }

    /// A zero-timeout poll (the busy worker's flush) consumes a notification without
    /// blocking; a later unpark still ends the following real park.
    #[test]
    fn loom_io_poll_then_park() {
        explore("loom_io_poll_then_park", 3, || {
            let parker = Arc::new(IoParker::new().unwrap());
            let sent = Arc::new(AtomicUsize::new(0));
            let unparker = {
                let (parker, sent) = (parker.clone(), sent.clone());
                loom::thread::spawn(move || {
                    sent.fetch_add(1, Ordering::Relaxed);
                    parker.unpark();
                })
            };
            parker.park(Some(Duration::ZERO));
            while sent.load(Ordering::Relaxed) < 1 {
                parker.park(None);
            }
            unparker.join().unwrap();
        });
    }
}
