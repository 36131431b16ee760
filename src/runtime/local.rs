//! Fiber-local storage (`fiber_local!`): values that live as long as their fiber.

use super::fiber::{current_fiber, not_in_fiber};
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The `fiber_local!` values of one fiber, indexed by key. Only its home thread touches
/// them, and they are dropped there, when the fiber ends: values need not be `Send`.
#[derive(Default)]
pub(crate) struct Locals {
    values: Vec<Option<Box<dyn Any>>>,
}

impl Locals {
    /// Drops every value (in reverse order of creation of their keys).
    pub(crate) fn clear(&mut self) {
        while let Some(v) = self.values.pop() {
            drop(v);
        }
    }
}

/// Key indices: each `fiber_local!` gets the next one on first use.
static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

/// A fiber-local variable, declared with [`fiber_local!`](crate::fiber_local).
pub struct FiberLocalKey<T: 'static> {
    init: fn() -> T,
    /// 0 until first use.
    index: AtomicUsize,
}

impl<T: 'static> FiberLocalKey<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> Self {
        FiberLocalKey {
            init,
            index: AtomicUsize::new(0),
        }
    }

    fn index(&self) -> usize {
        match self.index.load(Ordering::Relaxed) {
            0 => {
                let fresh = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
                match self
                    .index
                    .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => fresh,
                    Err(won) => won,
                }
            }
            i => i,
        }
    }

    /// Runs `f` with the calling fiber's value, initialising it on first use.
    ///
    /// # Panics
    /// Outside a fiber.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let fiber = current_fiber().unwrap_or_else(|| not_in_fiber());
        let i = self.index();
        let existing = {
            // SAFETY: only the thread running the fiber touches its locals, and no other
            // borrow of them is live (we never hold one across user code).
            let locals = unsafe { &mut *fiber.locals.get() };
            locals
                .values
                .get(i)
                .and_then(|v| v.as_ref())
                .map(|b| b.as_ref() as *const dyn Any)
        };
        let ptr = match existing {
            Some(p) => p,
            None => {
                // The initialiser may use other fiber-locals: no borrow held while it runs.
                let value: Box<dyn Any> = Box::new((self.init)());
                // SAFETY: as above.
                let locals = unsafe { &mut *fiber.locals.get() };
                if locals.values.len() <= i {
                    locals.values.resize_with(i + 1, || None);
                }
                let slot = locals.values[i].insert(value);
                slot.as_ref() as *const dyn Any
            }
        };
        // SAFETY: the value is boxed, so it stays put while the Vec grows; it is dropped only
        // when the fiber ends, after this call returns.
        let value = unsafe { &*ptr };
        f(value.downcast_ref::<T>().expect("fiber-local key type"))
    }
}

impl<T: 'static> std::fmt::Debug for FiberLocalKey<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FiberLocalKey").finish_non_exhaustive()
    }
}

/// Declares fiber-local variables: each fiber sees its own value, created on first use
/// and dropped when the fiber ends. Use `Cell`/`RefCell` inside for mutation.
///
/// ```
/// use std::cell::Cell;
/// fibra::fiber_local! { static COUNTER: Cell<u32> = Cell::new(0); }
/// fibra::run(|| {
///     COUNTER.with(|c| c.set(c.get() + 1));
///     let other = fibra::spawn(|| COUNTER.with(|c| c.get())).join().unwrap();
///     assert_eq!(other, 0); // a fresh value in the other fiber
///     assert_eq!(COUNTER.with(|c| c.get()), 1);
/// });
/// ```
#[macro_export]
macro_rules! fiber_local {
    ($($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr;)+) => {$(
        $(#[$attr])*
        $vis static $name: $crate::FiberLocalKey<$t> = $crate::FiberLocalKey::new({
            fn __fibra_init() -> $t {
                $init
            }
            __fibra_init
        });
    )+};
}
