//! The wait protocol of a join slot: one state word, and a list of waiters that only the
//! slow paths touch. Generic over the waiter so the loom models can run it with a waiter
//! loom understands.

use crate::loom::{AtomicUsize, Mutex, Ordering};

/// No result and no one waiting.
const EMPTY: usize = 0;
/// Someone waits: `complete` must take what `waiters` holds and wake it.
const WAITING: usize = 1;
/// The result is in.
const DONE: usize = 2;

/// A join slot's state: EMPTY, WAITING or DONE, so that completing is one swap unless
/// someone waits, and any number of waiters (the joiner, and the scope that spawned the
/// fiber, may wait at once).
pub(crate) struct JoinState<W> {
    state: AtomicUsize,
    waiters: Mutex<Waiters<W>>,
}

/// The waiters of one slot: one inline (the usual case), more in a vector.
pub(crate) struct Waiters<W> {
    first: Option<W>,
    more: Vec<W>,
}

impl<W> Waiters<W> {
    const fn new() -> Self {
        Waiters {
            first: None,
            more: Vec::new(),
        }
    }

    /// Every waiter, in registration order.
    pub(crate) fn into_iter(self) -> impl Iterator<Item = W> {
        self.first.into_iter().chain(self.more)
    }
}

impl<W> JoinState<W> {
    pub(crate) fn new() -> Self {
        JoinState {
            state: AtomicUsize::new(EMPTY),
            waiters: Mutex::new(Waiters::new()),
        }
    }

    fn lock(&self) -> impl core::ops::DerefMut<Target = Waiters<W>> + '_ {
        // A panic under the lock (only an allocation failure in `register` could) leaves
        // the list consistent: carry on.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the slot done; call after writing the result. Returns the waiters to wake
    /// (`None`, without touching the lock, when nobody waited).
    #[inline]
    pub(crate) fn complete(&self) -> Option<Waiters<W>> {
        // AcqRel: the release half pairs with the acquire in `is_done` (and in `register`'s
        // failed CAS), publishing the result; the acquire half pairs with the release CAS
        // in `register` that set WAITING.
        if self.state.swap(DONE, Ordering::AcqRel) == WAITING {
            Some(self.take_waiters())
        } else {
            None
        }
    }

    #[cold]
    fn take_waiters(&self) -> Waiters<W> {
        // Every waiter pushed its entry before setting WAITING, under this lock.
        core::mem::replace(&mut *self.lock(), Waiters::new())
    }

    /// Whether the result is in (and visible to the caller).
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        // Acquire: pairs with the release half of the swap in `complete`.
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Registers `waiter` to be handed back by `complete`. Returns false, dropping it, if
    /// the result is in already; true means `complete` will return it, so the caller may
    /// sleep until woken (re-checking `is_done` after each wake-up).
    #[cold]
    pub(crate) fn register(&self, waiter: W) -> bool {
        let mut waiters = self.lock();
        // Push, then announce, under the lock: a `complete` whose swap comes after our CAS
        // finds WAITING and takes the lock after us, so it takes our entry; one whose swap
        // came first makes the CAS fail, and we take our entry back.
        match waiters.first {
            None => waiters.first = Some(waiter),
            Some(_) => waiters.more.push(waiter),
        }
        // Release: pairs with the acquire half of the swap in `complete`. Acquire on
        // failure: the state is DONE, and the result must be visible to our caller.
        match self
            .state
            .compare_exchange(EMPTY, WAITING, Ordering::Release, Ordering::Acquire)
        {
            Ok(_) | Err(WAITING) => true,
            Err(_) => {
                if waiters.more.pop().is_none() {
                    waiters.first = None;
                }
                false
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicBool;
    use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::Relaxed};

    /// A completer races two waiters (a joiner and a scope): every waiter that registered
    /// is handed back by `complete` (woken) exactly once, the result written before
    /// `complete` is visible once `is_done` says so, and a waiter that was refused saw
    /// the slot done. (The waiters do not spin on `is_done`: loom cannot bound a spin.)
    #[test]
    fn loom_join_complete_races_two_waiters() {
        static EXECUTIONS: StdAtomicUsize = StdAtomicUsize::new(0);
        loom::model(|| {
            EXECUTIONS.fetch_add(1, Relaxed);
            let slot = Arc::new((JoinState::<Arc<AtomicBool>>::new(), AtomicUsize::new(0)));
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let slot = slot.clone();
                    loom::thread::spawn(move || {
                        let woken = Arc::new(AtomicBool::new(false));
                        let registered = slot.0.register(woken.clone());
                        if !registered {
                            // Refused: the result is in, and visible.
                            assert!(slot.0.is_done(), "refused while not done");
                            assert_eq!(slot.1.load(Ordering::Relaxed), 42, "result not visible");
                        } else if slot.0.is_done() {
                            assert_eq!(slot.1.load(Ordering::Relaxed), 42, "result not visible");
                        }
                        // (A real waiter now sleeps until woken; the wake is checked below.)
                        (registered, woken)
                    })
                })
                .collect();
            slot.1.store(42, Ordering::Relaxed);
            if let Some(ws) = slot.0.complete() {
                for w in ws.into_iter() {
                    assert!(!w.swap(true, Ordering::Relaxed), "woken twice");
                }
            }
            for h in waiters {
                let (registered, woken) = h.join().unwrap();
                assert_eq!(
                    registered,
                    woken.load(Ordering::Relaxed),
                    "a registered waiter was not woken (or a refused one was)"
                );
            }
        });
        let n = EXECUTIONS.load(Relaxed);
        println!("loom_join_complete_races_two_waiters: {n} executions");
        assert!(n > 1, "loom explored a single execution");
    }
}
