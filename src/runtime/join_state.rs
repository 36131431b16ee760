//! The wait protocol of a join slot: one state word and two waiter slots, no lock. Generic
//! over the waiter so the loom models can run it with a waiter loom understands.
//!
//! A result has at most two waiters, each with a slot of its own: the one `JoinHandle`
//! (consumed by `join`, so it waits at most once) and the scope that spawned the fiber
//! (which waits once for each child). A slot has one writer, so registering is: write the
//! slot, then set its bit in the state word. Completing is one swap to DONE; the bits it
//! replaced say which slots to take.

use crate::loom::{AtomicUsize, Ordering, UnsafeCell};

/// The result is in.
const DONE: usize = 1;

/// Which of the two waiters a caller is; each has a slot of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaiterSlot {
    /// The `JoinHandle` (at most one `join`).
    Joiner = 0,
    /// The scope that spawned the fiber.
    Scope = 1,
}

impl WaiterSlot {
    /// The state bit that says this slot holds a waiter.
    #[inline]
    const fn bit(self) -> usize {
        2 << self as usize
    }
}

/// A join slot's state: DONE, plus one bit per occupied waiter slot.
pub(crate) struct JoinState<W> {
    state: AtomicUsize,
    waiters: [UnsafeCell<Option<W>>; 2],
}

// SAFETY: a waiter slot is written only by its one waiter (the handle, the scope) while its
// bit is clear, and read only by the completer after its swap took the bit, or by the
// waiter after its own failed registration, never both (see `register` and `complete`).
// `W` moves between those threads, hence `W: Send`.
unsafe impl<W: Send> Sync for JoinState<W> {}

impl<W> JoinState<W> {
    pub(crate) fn new() -> Self {
        JoinState {
            state: AtomicUsize::new(0),
            waiters: [UnsafeCell::new(None), UnsafeCell::new(None)],
        }
    }

    /// Marks the slot done; call after writing the result. Calls `wake` with each waiter
    /// that registered before.
    #[inline]
    pub(crate) fn complete(&self, mut wake: impl FnMut(W)) {
        // AcqRel: the release half pairs with the acquire in `is_done` (and in `register`'s
        // failure path), publishing the result; the acquire half pairs with the release
        // `fetch_or` in `register`, so the waiter's slot write is visible here.
        let prev = self.state.swap(DONE, Ordering::AcqRel);
        debug_assert_eq!(prev & DONE, 0, "a join slot completed twice");
        for slot in [WaiterSlot::Joiner, WaiterSlot::Scope] {
            if prev & slot.bit() != 0 {
                // SAFETY: the bit was set, so the waiter wrote its slot and will not touch it
                // again (it sees DONE from now on); our swap took the bit, so no one else
                // reads it.
                let waiter = self.waiters[slot as usize].with_mut(|w| unsafe { (*w).take() });
                if let Some(w) = waiter {
                    wake(w);
                }
            }
        }
    }

    /// Whether the result is in (and visible to the caller).
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        // Acquire: pairs with the release half of the swap in `complete`.
        self.state.load(Ordering::Acquire) & DONE != 0
    }

    /// Registers `waiter` in `slot`, to be handed to `complete`'s `wake`. Returns false,
    /// dropping it, if the result is in already; true means it will be woken, so the caller
    /// may sleep until then (re-checking `is_done` after each wake-up).
    ///
    /// # Safety
    /// Only the one waiter `slot` stands for calls this, and at most once.
    #[inline]
    pub(crate) unsafe fn register(&self, slot: WaiterSlot, waiter: W) -> bool {
        let cell = &self.waiters[slot as usize];
        // SAFETY: our bit is clear (we register once), so the completer does not read the
        // slot, and we are its only writer.
        cell.with_mut(|w| unsafe { *w = Some(waiter) });
        // Release: pairs with the acquire half of the swap in `complete`, publishing the
        // slot. Acquire: if DONE is already set, the result must be visible to our caller.
        let prev = self.state.fetch_or(slot.bit(), Ordering::AcqRel);
        if prev & DONE != 0 {
            // The completer swapped before us and did not take the slot: take it back.
            // SAFETY: as above; the completer is done with the state word.
            drop(cell.with_mut(|w| unsafe { (*w).take() }));
            return false;
        }
        true
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::AtomicBool;
    use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::Relaxed};

    /// A completer races both waiters (the joiner and the scope): every waiter that
    /// registered is woken exactly once and a refused one never, the result written before
    /// `complete` is visible once `is_done` says so, and a refused waiter saw the slot
    /// done. (The waiters do not spin on `is_done`: loom cannot bound a spin.)
    #[test]
    fn loom_join_complete_races_two_waiters() {
        static EXECUTIONS: StdAtomicUsize = StdAtomicUsize::new(0);
        loom::model(|| {
            EXECUTIONS.fetch_add(1, Relaxed);
            let slot = Arc::new((JoinState::<Arc<AtomicBool>>::new(), AtomicUsize::new(0)));
            let waiters: Vec<_> = [WaiterSlot::Joiner, WaiterSlot::Scope]
                .into_iter()
                .map(|which| {
                    let slot = slot.clone();
                    loom::thread::spawn(move || {
                        let woken = Arc::new(AtomicBool::new(false));
                        // SAFETY: this thread is the one waiter of `which`, registering once.
                        let registered = unsafe { slot.0.register(which, woken.clone()) };
                        if !registered || slot.0.is_done() {
                            assert!(registered || slot.0.is_done(), "refused while not done");
                            assert_eq!(slot.1.load(Ordering::Relaxed), 42, "result not visible");
                        }
                        // (A real waiter now sleeps until woken; the wake is checked below.)
                        (registered, woken)
                    })
                })
                .collect();
            slot.1.store(42, Ordering::Relaxed);
            slot.0.complete(|w| {
                assert!(!w.swap(true, Ordering::Relaxed), "woken twice");
            });
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
