//! Structured spawning: `fibra::scope` joins every child before it returns.

use super::builder::{SpawnOptions, spawn_unchecked};
use super::fiber::{current_fiber, not_in_fiber};
use super::join::{HasJoin, JoinError, JoinHandle};
use super::join_state::WaiterSlot;
use super::rc::Rc;
use super::worker::Shared;
use std::any::Any;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex};

/// A child as the scope sees it: something to wait for and maybe a panic to re-raise.
trait Child: Send + Sync {
    fn wait(&self);
    fn take_unjoined_panic(&self) -> Option<Box<dyn Any + Send>>;
}

/// A scoped child's join slot, seen through its fiber.
struct ChildOf<T>(Rc<dyn HasJoin<T>>);

impl<T> Child for ChildOf<T> {
    fn wait(&self) {
        super::join::run_if_unstarted(&*self.0);
        // SAFETY: the scope waits for each child once, after its closure returned.
        unsafe { self.0.join_inner().wait_done(WaiterSlot::Scope) };
    }
    fn take_unjoined_panic(&self) -> Option<Box<dyn Any + Send>> {
        // SAFETY: called by the scope after every child finished and every handle (which
        // cannot outlive the scope closure) was joined or dropped: no other reader. A
        // value nobody joined is dropped here, inside the scope, not later with the fiber.
        unsafe { self.0.join_inner().take_unjoined() }
    }
}

/// Spawns fibers that may borrow from the enclosing stack; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    shared: Arc<Shared>,
    /// Lifetime-erased: every child is waited for and the list cleared before `scope`
    /// returns or unwinds, so nothing here outlives what the children borrow.
    children: Mutex<Vec<Arc<dyn Child>>>,
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

/// A handle to a scoped fiber; joining it is optional (the scope joins for you).
pub struct ScopedJoinHandle<'scope, T> {
    handle: JoinHandle<T>,
    _scope: PhantomData<&'scope ()>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the fiber and takes its result (a panic then is yours, not the scope's).
    pub fn join(self) -> Result<T, JoinError> {
        self.handle.join()
    }
    /// Whether the fiber has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a fiber that may borrow anything that outlives the scope.
    pub fn spawn<T, F>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        // SAFETY: `scope` waits for every child to finish (or be dropped) before it
        // returns or unwinds, so the borrows in `f` and `T` outlive the fiber.
        let handle = unsafe { spawn_unchecked(&self.shared, SpawnOptions::default(), f) };
        let child: Arc<dyn Child + 'scope> = Arc::new(ChildOf(handle.target().clone()));
        // SAFETY: only the lifetime changes; see the `children` field.
        let child: Arc<dyn Child> = unsafe { std::mem::transmute(child) };
        self.children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child);
        ScopedJoinHandle {
            handle,
            _scope: PhantomData,
        }
    }
}

/// Runs `f` with a [`Scope`] whose fibers may borrow from the caller; returns after every
/// one of them has finished. If a child panicked and nobody joined it, the first such
/// panic is re-raised here (after all children finished).
///
/// ```
/// fibra::run(|| {
///     let mut hits = [0u32; 4];
///     fibra::scope(|s| {
///         for (i, h) in hits.iter_mut().enumerate() {
///             s.spawn(move || *h = i as u32 * 10);
///         }
///     });
///     assert_eq!(hits, [0, 10, 20, 30]);
/// });
/// ```
///
/// # Panics
/// Outside a fiber.
pub fn scope<'env, F, R>(f: F) -> R
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
{
    let shared = current_fiber()
        .unwrap_or_else(|| not_in_fiber())
        .shared()
        .clone();
    let scope = Scope {
        shared,
        children: Mutex::new(Vec::new()),
        _scope: PhantomData,
        _env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // Children may spawn siblings on the scope while we wait: loop until none are new.
    let mut waited = 0;
    loop {
        let next = scope
            .children
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(waited)
            .cloned();
        match next {
            Some(child) => {
                child.wait();
                waited += 1;
            }
            None => break,
        }
    }
    let children = std::mem::take(&mut *scope.children.lock().unwrap_or_else(|e| e.into_inner()));
    let child_panic = children.iter().find_map(|c| c.take_unjoined_panic());
    match result {
        Err(p) => resume_unwind(p),
        Ok(_) if child_panic.is_some() => resume_unwind(child_panic.expect("checked")),
        Ok(r) => r,
    }
}
