//! The lock word and wait queue behind [`RwLock`](super::RwLock).
//!
//! State word: the number of readers times `ONE_READER`, or `WRITER`; plus `QUEUED` while
//! the wait list is not empty. Without waiters, read-locking is one CAS adding a reader
//! (after a plain load to learn the count), write-locking one CAS 0 -> WRITER, and the
//! unlocks one atomic operation each.
//!
//! With `QUEUED` set, nobody gets in without the list lock: a new reader queues behind
//! the waiting writer (writers are not starved), and each release that frees the lock
//! hands it over, under the list lock, to the front of the queue: one writer, or every
//! reader up to the next writer at once. Strict FIFO hand-over keeps a writer from being
//! overtaken; the price is that a lock handed to a fiber that has not run yet sits idle.
//!
//! `QUEUED` is set only under the list lock, with a CAS that sees the lock held (a waiter
//! that finds the lock free takes it instead), and cleared only under the list lock by
//! whoever empties the list. So when the lock is released with `QUEUED` set, the releaser
//! sees the bit (both unlocks read the word they change) and hands the lock over.

use super::signal::{Deadline, Signal, TIMED_OUT};
use super::unwind_guard::UnwindGuard;
use super::wait_list::{Node, WaitList};
use super::wake_batch::WakeBatch;
use crate::loom::{AtomicUsize, Mutex as ListLock, MutexGuard as ListGuard, Ordering};

const WRITER: usize = 1;
const QUEUED: usize = 2;
const ONE_READER: usize = 4;

/// The wake-up tag: the lock was handed to the waiter, in the mode it asked for.
const GRANTED: usize = 1;

/// What a waiter asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Access {
    Read,
    Write,
}

/// A readers-writer lock without data, for fibers and threads.
pub(crate) struct RawRwLock {
    state: AtomicUsize,
    /// The waiters, oldest first, with what each asks for.
    waiters: ListLock<WaitList<Access>>,
}

impl RawRwLock {
    /// An unlocked lock.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        RawRwLock {
            state: AtomicUsize::new(0),
            waiters: ListLock::new(WaitList::new()),
        }
    }

    /// An unlocked lock.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        RawRwLock {
            state: AtomicUsize::new(0),
            waiters: ListLock::new(WaitList::new()),
        }
    }

    /// Takes a read lock unless a writer holds the lock or anyone waits.
    #[inline]
    pub(crate) fn try_read(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & (WRITER | QUEUED) == 0 {
            // Acquire: pairs with the release in the unlocks, so the last writer's writes
            // are visible to us.
            match self.state.compare_exchange_weak(
                s,
                with_one_more_reader(s),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    /// Takes a read lock, waiting as long as it takes.
    #[inline]
    pub(crate) fn read(&self) {
        if !self.try_read() {
            self.lock_slow(Access::Read, None);
        }
    }

    /// Takes a read lock unless `deadline` passes first. Returns whether it did.
    #[inline]
    pub(crate) fn read_deadline(&self, deadline: Deadline) -> bool {
        self.try_read() || self.lock_slow(Access::Read, deadline)
    }

    /// Takes the write lock if nobody holds the lock.
    #[inline]
    pub(crate) fn try_write(&self) -> bool {
        // Acquire: pairs with the release in the unlocks (of readers and writers alike).
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the write lock, waiting as long as it takes.
    #[inline]
    pub(crate) fn write(&self) {
        if !self.try_write() {
            self.lock_slow(Access::Write, None);
        }
    }

    /// Takes the write lock unless `deadline` passes first. Returns whether it did.
    #[inline]
    pub(crate) fn write_deadline(&self, deadline: Deadline) -> bool {
        self.try_write() || self.lock_slow(Access::Write, deadline)
    }

    /// Releases a read lock.
    ///
    /// # Safety
    /// The caller holds a read lock, which it gives up.
    #[inline]
    pub(crate) unsafe fn read_unlock(&self) {
        // Release: pairs with the acquire of the next writer: in `try_write`, or in
        // `hand_over` (whoever hands the lock over passes our writes on).
        let old = self.state.fetch_sub(ONE_READER, Ordering::Release);
        if old == ONE_READER | QUEUED {
            self.read_unlock_slow();
        }
    }

    /// Releases the write lock.
    ///
    /// # Safety
    /// The caller holds the write lock, which it gives up.
    #[inline]
    pub(crate) unsafe fn write_unlock(&self) {
        // Release: pairs with the acquire of the next locker.
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.write_unlock_slow();
        }
    }

    /// Releases a lock held in mode `access`.
    ///
    /// # Safety
    /// The caller holds the lock in that mode, and gives it up.
    unsafe fn unlock(&self, access: Access) {
        // SAFETY: the caller's contract.
        unsafe {
            match access {
                Access::Read => self.read_unlock(),
                Access::Write => self.write_unlock(),
            }
        }
    }

    /// Whether a writer holds the lock (a hint).
    pub(crate) fn is_write_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & WRITER != 0
    }

    /// Whether anyone holds the lock (a hint).
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & !QUEUED != 0
    }

    #[cold]
    fn lock_slow(&self, access: Access, deadline: Deadline) -> bool {
        let signal = Signal::new();
        let node = Node::new(&signal, GRANTED, access);
        if !self.enqueue(&node) {
            return true; // the lock was free after all
        }
        let guard = UnwindGuard::new(&signal, |claimed| match claimed {
            None => self.remove_timed_out(&node),
            // Granted: give the lock back (and hand it on to the queue).
            // SAFETY: the lock was handed to us in the mode we asked for.
            Some(_) => unsafe { self.unlock(access) },
        });
        let tag = signal.wait_deadline(deadline);
        guard.disarm();
        match tag {
            GRANTED => true,
            tag => {
                debug_assert_eq!(tag, TIMED_OUT);
                self.remove_timed_out(&node);
                false
            }
        }
    }

    /// Links `node` and sets QUEUED, unless nobody waits and the lock can be taken as the
    /// node asks: then it takes it and returns false.
    fn enqueue(&self, node: &Node<Access>) -> bool {
        let access = node.data();
        let mut list = super::lock_list(&self.waiters);
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            // Acquire when taking the lock: as in `try_read` / `try_write`. Relaxed when
            // setting QUEUED: the bit carries no data, and the lock is held (else we
            // would take it), so its holder's release will see the bit.
            let (next, success) = match access {
                _ if s & QUEUED != 0 => break,
                Access::Read if s & WRITER == 0 => (with_one_more_reader(s), Ordering::Acquire),
                Access::Write if s == 0 => (WRITER, Ordering::Acquire),
                _ => (s | QUEUED, Ordering::Relaxed),
            };
            match self
                .state
                .compare_exchange_weak(s, next, success, Ordering::Relaxed)
            {
                Ok(_) if next & QUEUED == 0 => return false,
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        // SAFETY: the node lives in `lock_slow`'s frame, which does not end before the
        // node is popped by `hand_over` or removed by `remove_timed_out` (on timeout, or
        // from the `UnwindGuard` if the wait unwinds).
        unsafe { list.push_back(node) };
        true
    }

    /// After winning our own signal on timeout: unlink our node if nobody did, and let the
    /// waiters behind it in if it was keeping them out (readers behind a writer that gave
    /// up, while readers hold the lock).
    #[cold]
    fn remove_timed_out(&self, node: &Node<Access>) {
        let mut list = super::lock_list(&self.waiters);
        // SAFETY: our node, alive; if linked, it is in this list.
        unsafe { list.remove(node) };
        self.hand_over(list);
    }

    /// The last reader left while waiters were queued.
    #[cold]
    fn read_unlock_slow(&self) {
        self.hand_over(super::lock_list(&self.waiters));
    }

    /// A writer leaves while waiters may be queued.
    #[cold]
    fn write_unlock_slow(&self) {
        let list = super::lock_list(&self.waiters);
        // Release: as in `write_unlock`. While we held WRITER nobody else changed the
        // word but to set or clear QUEUED.
        self.state.fetch_and(!WRITER, Ordering::Release);
        self.hand_over(list);
    }

    /// Hands the lock to the front of the queue as far as it can be shared: a writer if
    /// the lock is free, or every reader up to the next writer if no writer holds it.
    /// Clears QUEUED if the queue empties. Wakes the admitted waiters after dropping the
    /// list lock.
    fn hand_over<'a>(&'a self, mut list: ListGuard<'a, WaitList<Access>>) {
        let mut batch = WakeBatch::for_holders();
        loop {
            let Some(front) = list.front() else {
                // Relaxed: QUEUED carries no data (see `enqueue`).
                self.state.fetch_and(!QUEUED, Ordering::Relaxed);
                break;
            };
            // SAFETY: a linked node is alive.
            let access = unsafe { front.as_ref() }.data();
            // Acquire: pairs with the releases of the unlocks before (the word's changes
            // are all read-modify-writes, so it reads the last of them), so the holders'
            // writes reach the waiter we admit through its signal.
            let s = self.state.load(Ordering::Acquire);
            let grant = match access {
                Access::Write if s & !QUEUED == 0 => WRITER,
                Access::Read if s & WRITER == 0 => {
                    if s.checked_add(ONE_READER).is_none() {
                        drop(list);
                        too_many_readers();
                    }
                    ONE_READER
                }
                _ => break,
            };
            list.pop_front();
            // SAFETY: just unlinked and not completed, so its waiter still waits on the
            // signal or is about to take our lock to back out: alive.
            let node = unsafe { front.as_ref() };
            // SAFETY: as above.
            if unsafe { node.try_claim() } {
                // Relaxed: the waiter synchronises with us through its signal. QUEUED is
                // set (the list was not empty), so nobody but holders of the list lock
                // takes the lock meanwhile; readers may only leave.
                self.state.fetch_add(grant, Ordering::Relaxed);
                // SAFETY: we won the claim just now and complete it once.
                batch.push(unsafe { node.signal().complete() });
                if batch.is_full() {
                    drop(list);
                    batch.wake_all();
                    list = super::lock_list(&self.waiters);
                }
            }
        }
        drop(list);
        batch.wake_all();
    }
}

/// The word `s` (no writer) with one more reader.
///
/// # Panics
/// If the reader count would overflow (only after leaking an absurd number of guards).
#[inline]
fn with_one_more_reader(s: usize) -> usize {
    match s.checked_add(ONE_READER) {
        Some(next) => next,
        None => too_many_readers(),
    }
}

#[cold]
#[track_caller]
fn too_many_readers() -> ! {
    panic!("fibra: too many readers of one RwLock");
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;

    struct Shared {
        raw: RawRwLock,
        n: UnsafeCell<u32>,
    }
    // SAFETY: `n` is written only under the write lock and read under a read lock.
    unsafe impl Sync for Shared {}
    // SAFETY: as above.
    unsafe impl Send for Shared {}

    fn shared() -> Arc<Shared> {
        Arc::new(Shared {
            raw: RawRwLock::new(),
            n: UnsafeCell::new(0),
        })
    }

    fn increment(s: &Shared) {
        s.raw.write();
        // SAFETY: we hold the write lock.
        s.n.with_mut(|n| unsafe { *n += 1 });
        // SAFETY: we hold the write lock.
        unsafe { s.raw.write_unlock() };
    }

    fn read(s: &Shared) -> u32 {
        s.raw.read();
        // SAFETY: we hold a read lock.
        let n = s.n.with(|n| unsafe { *n });
        // SAFETY: we hold a read lock.
        unsafe { s.raw.read_unlock() };
        n
    }

    fn assert_clean(s: &Shared) {
        let list = crate::sync::lock_list(&s.raw.waiters);
        assert!(list.is_empty(), "a node was left linked");
        assert_eq!(
            s.raw.state.load(Ordering::Relaxed),
            0,
            "lock word left dirty"
        );
    }

    /// A writer holds the lock while a reader and another writer queue up; each unlock
    /// hands the lock on: writers exclude everyone (loom checks the cell's accesses), no
    /// hand-over is lost, the word ends clean.
    #[test]
    fn loom_rwlock_reader_writer_handoff() {
        crate::sync::loom_model(3, || {
            let s = shared();
            s.raw.write();
            let reader = {
                let s = s.clone();
                loom::thread::spawn(move || read(&s))
            };
            let writer = {
                let s = s.clone();
                loom::thread::spawn(move || increment(&s))
            };
            // SAFETY: we hold the write lock.
            s.n.with_mut(|n| unsafe { *n += 1 });
            // SAFETY: as above.
            unsafe { s.raw.write_unlock() };
            let seen = reader.join().unwrap();
            writer.join().unwrap();
            assert!(seen == 1 || seen == 2);
            assert_clean(&s);
        });
    }

    /// Once a writer waits behind a reader, a new reader cannot get in (try_read fails)
    /// until the writer has had its turn.
    #[test]
    fn loom_rwlock_waiting_writer_blocks_new_readers() {
        crate::sync::loom_model(3, || {
            let s = shared();
            s.raw.read();
            let writer = {
                let s = s.clone();
                loom::thread::spawn(move || increment(&s))
            };
            while s.raw.state.load(Ordering::Relaxed) & QUEUED == 0 {
                loom::thread::yield_now();
            }
            assert!(!s.raw.try_read(), "a new reader overtook a waiting writer");
            // SAFETY: we hold a read lock.
            unsafe { s.raw.read_unlock() };
            assert_eq!(read(&s), 1, "the writer had its turn first");
            writer.join().unwrap();
            assert_clean(&s);
        });
    }

    /// A writer queued behind a reader gives up (its deadline has passed under loom)
    /// while another reader may queue behind it. The first reader still holds its lock, so
    /// the writer cannot get it; once the writer has given up, readers get in again: the
    /// queued one is let in by the writer backing out (loom reports a deadlock if it is
    /// not), and a new one finds no queue.
    #[test]
    fn loom_rwlock_writer_timeout_lets_readers_in() {
        crate::sync::loom_model(3, || {
            let s = shared();
            s.raw.read();
            let writer = {
                let s = s.clone();
                loom::thread::spawn(move || assert!(!s.raw.write_deadline(Some(()))))
            };
            let reader = {
                let s = s.clone();
                loom::thread::spawn(move || read(&s))
            };
            writer.join().unwrap();
            reader.join().unwrap();
            assert!(s.raw.try_read(), "a reader kept out with no writer waiting");
            // SAFETY: we hold two read locks.
            unsafe {
                s.raw.read_unlock();
                s.raw.read_unlock();
            }
            assert_clean(&s);
        });
    }

    /// Two readers leave, in either order, while a writer waits: the writer's write comes
    /// after both readers' reads even when the reader that hands it the lock is not the
    /// one that left first (loom checks the cell's accesses).
    #[test]
    fn loom_rwlock_last_reader_hands_over_for_all() {
        crate::sync::loom_model(3, || {
            let s = shared();
            s.raw.read();
            let reader = {
                let s = s.clone();
                loom::thread::spawn(move || {
                    s.raw.read();
                    // SAFETY: we hold a read lock.
                    let n = s.n.with(|n| unsafe { *n });
                    // SAFETY: as above.
                    unsafe { s.raw.read_unlock() };
                    n
                })
            };
            let writer = {
                let s = s.clone();
                loom::thread::spawn(move || increment(&s))
            };
            // SAFETY: we hold a read lock.
            unsafe { s.raw.read_unlock() };
            let _ = reader.join().unwrap();
            writer.join().unwrap();
            assert_clean(&s);
        });
    }
}
