//! A 32-bit word a thread can sleep on until another thread changes it: the one OS call
//! the thread park driver makes, kept here so the protocol in `thread.rs` is the same on
//! every platform.
//!
//! Contract of [`Futex`]: `wait(expected, timeout)` returns at once if the word no longer
//! holds `expected`, and otherwise sleeps until a `wake_one`, the timeout, or a spurious
//! wake-up (signals). A waker changes the word *before* it calls `wake_one`, so a waiter that
//! checks the word after the change never sleeps, and one that checked it before is asleep
//! by the time the wake arrives: no lost wake-up.
//!
//! - Linux and Android: `futex(2)` on the word itself, `FUTEX_WAIT`/`FUTEX_WAKE` with
//!   `FUTEX_PRIVATE_FLAG` (the word never leaves the process). The kernel does the
//!   check-then-sleep atomically.
//! - Elsewhere, and under loom (so the models check the whole protocol, sleep included): a
//!   `Mutex` + `Condvar` emulation. The waiter checks the word while holding the mutex and
//!   the waker takes the mutex between changing the word and notifying, so the waker either
//!   runs before the check (which then sees the new value) or after the waiter is asleep on
//!   the condvar (which the notify then reaches). The unit tests run this version on Linux
//!   too.

use crate::loom::AtomicU32;
use core::ops::Deref;
use core::time::Duration;

cfg_if::cfg_if! {
    if #[cfg(all(any(target_os = "linux", target_os = "android"), not(loom)))] {
        pub(super) use self::linux::Futex;
    } else {
        pub(super) use self::fallback::Futex;
    }
}

#[cfg(all(any(target_os = "linux", target_os = "android"), not(loom)))]
mod linux {
    use super::*;

    /// An `AtomicU32` the kernel can sleep on.
    pub(crate) struct Futex {
        word: AtomicU32,
    }

    impl Futex {
        /// A word holding `value`.
        pub(crate) const fn new(value: u32) -> Self {
            Futex {
                word: AtomicU32::new(value),
            }
        }

        /// Sleeps while the word holds `expected` (see the module docs).
        pub(crate) fn wait(&self, expected: u32, timeout: Option<Duration>) {
            // FUTEX_WAIT takes a relative timeout; longer than time_t can hold is forever.
            let ts = timeout.and_then(|d| {
                Some(libc::timespec {
                    tv_sec: d.as_secs().try_into().ok()?,
                    // Below 10^9: fits every platform's tv_nsec type.
                    tv_nsec: d.subsec_nanos() as _,
                })
            });
            let ts_ptr = ts.as_ref().map_or(core::ptr::null(), core::ptr::from_ref);
            // SAFETY: the word is a live, aligned u32 for the whole call (we borrow `self`),
            // which the kernel only reads (atomically, to compare with `expected`); `ts_ptr`
            // is null or points at `ts`, alive until the call returns. The word is private to
            // this process, so FUTEX_PRIVATE_FLAG is right. Errors (EAGAIN: the word changed,
            // EINTR, ETIMEDOUT) all mean "return", which the caller handles by re-checking.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.word.as_ptr(),
                    libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                    expected,
                    ts_ptr,
                )
            };
        }

        /// Wakes one thread sleeping in `wait` on this word, if any.
        pub(crate) fn wake_one(&self) {
            // SAFETY: FUTEX_WAKE only uses the address as a key to find sleepers; the word
            // is live (we borrow `self`). It cannot fail for a valid private address.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.word.as_ptr(),
                    libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                    1,
                )
            };
        }
    }

    impl Deref for Futex {
        type Target = AtomicU32;

        #[inline]
        fn deref(&self) -> &AtomicU32 {
            &self.word
        }
    }
}

#[cfg(any(test, loom, not(any(target_os = "linux", target_os = "android"))))]
mod fallback {
    use super::*;
    use crate::loom::{Condvar, Mutex, Ordering};

    /// An `AtomicU32` with a mutex and condvar to sleep on it.
    pub(crate) struct Futex {
        word: AtomicU32,
        lock: Mutex<()>,
        cvar: Condvar,
    }

    impl Futex {
        /// A word holding `value`.
        pub(crate) fn new(value: u32) -> Self {
            Futex {
                word: AtomicU32::new(value),
                lock: Mutex::new(()),
                cvar: Condvar::new(),
            }
        }

        /// Sleeps while the word holds `expected` (see the module docs).
        pub(crate) fn wait(&self, expected: u32, timeout: Option<Duration>) {
            let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            // Relaxed: the mutex orders this load after any waker that took it before us,
            // and a waker that changes the word later takes the mutex after we sleep.
            if self.word.load(Ordering::Relaxed) != expected {
                return;
            }
            // A poisoned lock protects no data here: carry on.
            match timeout {
                None => drop(self.cvar.wait(guard)),
                Some(timeout) => drop(self.cvar.wait_timeout(guard, timeout)),
            }
        }

        /// Wakes one thread sleeping in `wait` on this word, if any.
        pub(crate) fn wake_one(&self) {
            // Taking the mutex orders us after a waiter's check-then-sleep (see module docs).
            drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
            self.cvar.notify_one();
        }
    }

    impl Deref for Futex {
        type Target = AtomicU32;

        #[inline]
        fn deref(&self) -> &AtomicU32 {
            &self.word
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};

    /// Both versions on this platform (on Linux: the futex and the condvar fallback).
    macro_rules! futex_tests {
        ($name:ident, $futex:path) => {
            mod $name {
                use super::*;
                use crate::loom::Ordering;
                use $futex as Futex;

                #[test]
                fn wait_returns_at_once_when_word_differs() {
                    let f = Futex::new(1);
                    f.wait(0, None); // would hang if it slept
                    f.wait(0, Some(Duration::from_secs(3600)));
                }

                #[test]
                fn wait_times_out() {
                    let f = Futex::new(0);
                    let start = Instant::now();
                    f.wait(0, Some(Duration::from_millis(10)));
                    // Only "it returned"; an upper bound would be a flaky timing assert.
                    let _ = start.elapsed();
                }

                #[test]
                fn wake_reaches_a_sleeper() {
                    let f = Arc::new(Futex::new(0));
                    let waker = {
                        let f = f.clone();
                        thread::spawn(move || {
                            thread::sleep(Duration::from_millis(20));
                            f.store(1, Ordering::Release);
                            f.wake_one();
                        })
                    };
                    while f.load(Ordering::Acquire) == 0 {
                        f.wait(0, None);
                    }
                    waker.join().unwrap();
                }
            }
        };
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    futex_tests!(linux, super::super::linux::Futex);
    futex_tests!(fallback, super::super::fallback::Futex);
}
