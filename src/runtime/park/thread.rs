//! The default park driver: the worker thread sleeps in the OS.

use super::Driver;
use super::futex::Futex;
use crate::loom::Ordering;
use core::time::Duration;

/// No notification pending, worker not parked.
const EMPTY: u32 = 0;
/// An `unpark` arrived that no `park` has consumed yet.
const NOTIFIED: u32 = 1;
/// The worker is (about to be) asleep in `park`. `EMPTY - 1`, so that one `fetch_sub` takes
/// EMPTY to PARKED and NOTIFIED to EMPTY.
const PARKED: u32 = u32::MAX;

/// Parks a worker thread on a futex (Linux) or a mutex and condvar (elsewhere).
///
/// One state word, EMPTY / NOTIFIED / PARKED, holds the whole protocol (the same as std's
/// futex-based thread parker):
/// - `unpark` swaps in NOTIFIED and makes the wake-up system call only if it replaced
///   PARKED, so unparking a busy worker costs one atomic swap;
/// - `park` decrements the word: NOTIFIED becomes EMPTY (a pending notification, consumed:
///   return at once), EMPTY becomes PARKED, and the worker sleeps while the word still
///   holds PARKED. The OS compares the word with PARKED atomically with going to sleep, so
///   an `unpark` landing anywhere between the decrement and the sleep is not lost. On the
///   way out `park` swaps EMPTY back in, consuming the notification if there was one.
pub(crate) struct ThreadDriver {
    state: Futex,
}

impl ThreadDriver {
    /// A driver with no notification pending.
    pub(crate) fn new() -> Self {
        ThreadDriver {
            state: Futex::new(EMPTY),
        }
    }

    #[cold]
    fn sleep(&self, timeout: Option<Duration>) {
        match timeout {
            // A zero timeout never gets here: see `park`.
            Some(timeout) => self.state.wait(PARKED, Some(timeout)),
            // Without a timeout, ride out the OS's spurious wake-ups (signals) here rather
            // than send the worker round its loop. Relaxed: only a hint, the swap in `park`
            // does the acquiring.
            None => {
                while self.state.load(Ordering::Relaxed) == PARKED {
                    self.state.wait(PARKED, None);
                }
            }
        }
    }
}

impl Default for ThreadDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl Driver for ThreadDriver {
    fn park(&self, timeout: Option<Duration>) {
        if timeout == Some(Duration::ZERO) {
            // A poll: consume a pending notification, never enter PARKED (so no unparker
            // makes a needless system call). Only this thread writes PARKED, so the word is
            // EMPTY or NOTIFIED here. Acquire: pairs with the release swap in `unpark`.
            self.state.swap(EMPTY, Ordering::Acquire);
            return;
        }
        // Acquire: pairs with the release swap in `unpark`; if this consumes a notification,
        // whatever the unparker published before it (work, inbox items) is visible to us.
        let prev = self.state.fetch_sub(1, Ordering::Acquire);
        debug_assert!(
            prev == EMPTY || prev == NOTIFIED,
            "two threads parked on one driver"
        );
        if prev == NOTIFIED {
            return;
        }
        self.sleep(timeout);
        // Acquire: pairs with the release swap in `unpark` (when it is what woke us).
        self.state.swap(EMPTY, Ordering::Acquire);
    }

    #[inline]
    fn unpark(&self) {
        // Release: pairs with the acquire decrement / swaps in `park`, which see everything
        // this thread did before unparking.
        if self.state.swap(NOTIFIED, Ordering::Release) == PARKED {
            self.state.wake_one();
        }
    }
}
