//! Asymmetric stackful coroutines.

use crate::arch::{self, StackPointer};
use crate::stack::{PooledStack, Stack};
use crate::sys;
use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{ManuallyDrop, align_of, size_of};
use core::ptr;
use std::any::Any;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// What [`Coroutine::resume`] returns: the coroutine either suspended with a value or
/// finished with its return value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoroutineResult<Y, R> {
    /// The coroutine called [`Yielder::suspend`] with this value.
    Yield(Y),
    /// The coroutine's function returned this value; the coroutine is done.
    Return(R),
}

impl<Y, R> CoroutineResult<Y, R> {
    /// The yielded value, if the coroutine suspended.
    pub fn into_yield(self) -> Option<Y> {
        match self {
            CoroutineResult::Yield(y) => Some(y),
            CoroutineResult::Return(_) => None,
        }
    }
    /// The return value, if the coroutine finished.
    pub fn into_return(self) -> Option<R> {
        match self {
            CoroutineResult::Yield(_) => None,
            CoroutineResult::Return(r) => Some(r),
        }
    }
}

/// Makes a type !Send and !Sync.
type NotSend = PhantomData<*mut ()>;

/// The payload fibra unwinds a suspended coroutine's stack with when the coroutine is
/// dropped. Code that catches panics inside a coroutine should let it continue.
struct ForcedUnwind;

/// Whether a panic payload is the unwind fibra uses to drop a suspended coroutine: code
/// that catches panics inside a coroutine must let it continue.
pub(crate) fn is_forced_unwind(payload: &Box<dyn Any + Send>) -> bool {
    payload.is::<ForcedUnwind>()
}

/// How a coroutine's function ended, handed to the parent by its last switch.
enum Outcome<R> {
    Returned(R),
    Panicked(Box<dyn Any + Send>),
    /// Unwound by the coroutine's own drop (see [`ForcedUnwind`]).
    Unwound,
}

/// The coroutine's side of the switch: passed by reference to the coroutine's function,
/// it suspends the coroutine and hands values to whoever resumed it.
pub struct Yielder<I, Y> {
    /// The coroutine's stack top as the switch code sees it (the parent link is below it).
    top: usize,
    /// Set once this coroutine's stack is being unwound because it was dropped.
    unwinding: Cell<bool>,
    /// !Send and !Sync: a yielder only makes sense on its own coroutine's stack.
    _not_send: NotSend,
    _types: PhantomData<fn(Y) -> I>,
}

impl<I, Y> Yielder<I, Y> {
    /// Suspends the coroutine: `value` goes to the caller of [`Coroutine::resume`], and
    /// this returns the input of the next `resume`.
    ///
    /// If the coroutine is dropped while suspended here, this unwinds instead of
    /// returning, so the destructors on the coroutine's stack run.
    #[inline]
    pub fn suspend(&self, value: Y) -> I {
        if self.unwinding.get() {
            suspend_while_unwinding();
        }
        let value = ManuallyDrop::new(value);
        // SAFETY: a Yielder exists only on its coroutine's stack (it is !Send and handed
        // out by reference from `entry`), so we run on the stack whose top is `self.top`.
        let input = unsafe { arch::suspend(&raw const value as usize, self.top) };
        if input == 0 {
            self.unwinding.set(true);
            resume_unwind(Box::new(ForcedUnwind));
        }
        // SAFETY: a non-zero input points at the `I` the parent keeps alive (and will not
        // drop) until we switch back; we take ownership of it here, once.
        unsafe { ptr::read(input as *const I) }
    }
}

impl<I, Y> fmt::Debug for Yielder<I, Y> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Yielder").finish_non_exhaustive()
    }
}

#[cold]
fn suspend_while_unwinding() -> ! {
    eprintln!(
        "fibra: a coroutine suspended while its stack was being unwound because it was dropped \
         (did it catch fibra's unwind with catch_unwind and keep going?); aborting"
    );
    std::process::abort();
}

/// An asymmetric stackful coroutine: a function running on its own stack that can
/// suspend itself with a value and be resumed with another.
///
/// `I` is what [`resume`](Coroutine::resume) passes in, `Y` what
/// [`Yielder::suspend`] hands out, `R` what the function returns, `S` the stack it runs on.
///
/// ```
/// use fibra::{Coroutine, CoroutineResult, Yielder};
/// let mut co = Coroutine::new(|y: &Yielder<i32, &'static str>, first: i32| -> u64 {
///     let next: i32 = y.suspend("a");
///     (first + next) as u64
/// });
/// assert!(matches!(co.resume(1), CoroutineResult::Yield("a")));
/// assert!(matches!(co.resume(2), CoroutineResult::Return(3)));
/// assert!(co.done());
/// ```
///
/// A coroutine stays on the thread that created it: thread-local addresses cached by the
/// compiler on its stack would be wrong on another thread.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(fibra::Coroutine::new(|_: &fibra::Yielder<(), ()>, ()| {}));
/// ```
pub struct Coroutine<I, Y, R, S: Stack = PooledStack> {
    stack: ManuallyDrop<S>,
    /// Saved stack pointer while suspended (or not started); `None` once finished.
    sp: Option<StackPointer>,
    /// The stack top the switch code uses (below the parked closure).
    top: usize,
    /// On an unguarded stack, its bottom address, where the canary word lives; 0 on a
    /// guarded one.
    canary: usize,
    name: Option<Box<str>>,
    /// !Send: see the type's docs.
    _not_send: NotSend,
    _types: PhantomData<fn(I) -> CoroutineResult<Y, R>>,
}

/// What the new stack holds above the switch frames until the coroutine starts.
struct EntryData<F> {
    f: F,
    top: usize,
}

/// Configures and creates a [`Coroutine`]: stack size and name.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    stack_size: Option<usize>,
    name: Option<String>,
}

impl Builder {
    /// A builder with the default stack size ([`crate::DEFAULT_STACK_SIZE`]) and no name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the stack size in bytes (rounded up to a power of two by the pool).
    pub fn stack_size(mut self, size: usize) -> Self {
        self.stack_size = Some(size);
        self
    }

    /// Names the coroutine, for [`Coroutine::name`] and overflow reports.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Creates the coroutine on a stack from this thread's pool.
    #[inline]
    pub fn build<I, Y, R, F>(self, f: F) -> io::Result<Coroutine<I, Y, R>>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        let stack = PooledStack::new(self.stack_size.unwrap_or(crate::DEFAULT_STACK_SIZE))?;
        self.build_with_stack(stack, f)
    }

    /// Creates the coroutine on the given stack (the stack size setting is ignored).
    #[inline]
    pub fn build_with_stack<I, Y, R, S, F>(
        self,
        stack: S,
        f: F,
    ) -> io::Result<Coroutine<I, Y, R, S>>
    where
        S: Stack,
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        // SAFETY: F is 'static, so it may outlive any scope.
        unsafe { Coroutine::from_parts(stack, self.name.map(String::into_boxed_str), f) }
    }
}

impl<I, Y, R> Coroutine<I, Y, R> {
    /// Creates a coroutine running `f` on a stack of the default size from this thread's
    /// pool. Nothing runs until the first [`resume`](Coroutine::resume), whose input
    /// becomes `f`'s second argument.
    ///
    /// # Panics
    /// If no stack can be had; [`Builder::build`] returns that error instead.
    #[inline]
    pub fn new<F>(f: F) -> Self
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        Builder::new()
            .build(f)
            .unwrap_or_else(|e| creation_failed(e))
    }

    /// A [`Builder`] to set the stack size or name.
    pub fn builder() -> Builder {
        Builder::new()
    }
}

#[cold]
fn creation_failed(e: io::Error) -> ! {
    panic!("fibra: cannot create a coroutine: {e}")
}

impl<I, Y, R, S: Stack> Coroutine<I, Y, R, S> {
    /// Creates a coroutine running `f` on `stack`.
    ///
    /// # Panics
    /// If `f` does not fit on the stack with room to spare.
    #[inline]
    pub fn with_stack<F>(stack: S, f: F) -> Self
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R + 'static,
    {
        Builder::new()
            .build_with_stack(stack, f)
            .unwrap_or_else(|e| creation_failed(e))
    }

    /// # Safety
    /// If `F` is not `'static`, the caller must run the coroutine to completion (or drop
    /// it) before anything `F` borrows goes away.
    #[inline]
    pub(crate) unsafe fn from_parts<F>(stack: S, name: Option<Box<str>>, f: F) -> io::Result<Self>
    where
        F: FnOnce(&Yielder<I, Y>, I) -> R,
    {
        sys::prepare_thread();
        let top = stack.top().get();
        let bottom = stack.bottom().get();
        let align = align_of::<EntryData<F>>().max(16);
        let data = top
            .checked_sub(size_of::<EntryData<F>>())
            .map(|a| a & !(align - 1));
        // Keep a page free below the parked closure for the switch frames and first calls.
        let switch_top = match data {
            Some(data) if data >= bottom + 4096 => data,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "fibra: a coroutine closure of {} bytes does not fit on a {} byte stack",
                        size_of::<F>(),
                        top - bottom
                    ),
                ));
            }
        };
        // SAFETY: [switch_top, top) lies inside the stack, is aligned for EntryData<F>,
        // and nothing else uses it; `entry` moves the value out exactly once.
        unsafe {
            ptr::write(
                switch_top as *mut EntryData<F>,
                EntryData { f, top: switch_top },
            )
        };
        // SAFETY: switch_top is 16-aligned with at least a page of the stack below it.
        let sp = unsafe {
            arch::init_stack(
                &stack,
                switch_top,
                entry::<I, Y, R, F>,
                switch_top as *mut u8,
            )
        };
        let canary = if stack.is_guarded() {
            0
        } else {
            // The canary is the bottom word reading zero. Fresh stack memory reads as zero
            // without being made resident, so a parked fiber's stack costs only the pages it
            // really used (a magic value would cost a page per stack). A reused stack that
            // was once run that deep gets its word cleared here.
            let word = bottom as *mut u64;
            // SAFETY: bottom() is the lowest usable (8-aligned) address of our own stack.
            unsafe {
                if word.read() != 0 {
                    word.write(0);
                }
            }
            bottom
        };
        // Unnamed coroutines leave the header alone: a named one clears it when dropped.
        if let Some(name) = &name {
            stack.set_overflow_name(name);
        }
        Ok(Coroutine {
            stack: ManuallyDrop::new(stack),
            sp: Some(sp),
            top: switch_top,
            canary,
            name,
            _not_send: PhantomData,
            _types: PhantomData,
        })
    }

    /// Runs the coroutine until it suspends or returns. `input` is the function's second
    /// argument on the first call, and the value of the pending [`Yielder::suspend`] after.
    ///
    /// # Panics
    /// If the coroutine has finished, or if it panics: the panic is re-raised here with
    /// its payload (the coroutine is finished after that).
    #[inline]
    pub fn resume(&mut self, input: I) -> CoroutineResult<Y, R> {
        let Some(sp) = self.sp else {
            resumed_after_completion()
        };
        let input = ManuallyDrop::new(input);
        // SAFETY: `sp` is the saved stack pointer of this suspended coroutine and `top`
        // its switch top; `input` stays alive until the coroutine has read it (first
        // thing it does when it lands).
        let (value, sp) = unsafe { arch::resume(&raw const input as usize, sp, self.top) };
        self.check_canary(sp);
        self.sp = sp;
        if sp.is_some() {
            // SAFETY: a suspending coroutine hands us a pointer to its yielded value,
            // which it never touches again.
            CoroutineResult::Yield(unsafe { ptr::read(value as *const Y) })
        } else {
            // SAFETY: a finishing coroutine hands us its Outcome, which it never touches again.
            match unsafe { ptr::read(value as *const Outcome<R>) } {
                Outcome::Returned(r) => CoroutineResult::Return(r),
                Outcome::Panicked(payload) => resume_unwind(payload),
                Outcome::Unwound => unreachable!("fibra: coroutine unwound without being dropped"),
            }
        }
    }

    /// Whether the coroutine has finished (returned or panicked).
    #[inline]
    pub fn done(&self) -> bool {
        self.sp.is_none()
    }

    /// The name given by [`Builder::name`].
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The stack the coroutine runs on.
    pub fn stack(&self) -> &S {
        &self.stack
    }

    /// Ends the coroutine (unwinding it if it is suspended, as drop does) and returns its
    /// stack for reuse.
    pub fn into_stack(self) -> S {
        let mut this = ManuallyDrop::new(self);
        this.unwind();
        // SAFETY: `this` is never dropped, so each field is moved out exactly once.
        unsafe {
            drop(ptr::read(&this.name));
            ManuallyDrop::take(&mut this.stack)
        }
    }

    /// On an unguarded stack, after every switch back: the canary word must still read
    /// zero, and the coroutine's saved stack pointer must lie above the bottom.
    #[inline]
    fn check_canary(&self, sp: Option<StackPointer>) {
        if self.canary != 0 {
            // SAFETY: `canary` is the lowest address of our own unguarded stack.
            let word = unsafe { *(self.canary as *const u64) };
            if word != 0 || sp.is_some_and(|sp| sp.get() <= self.canary) {
                self.canary_died();
            }
        }
    }

    #[cold]
    fn canary_died(&self) -> ! {
        eprintln!(
            "fibra: fiber '{}' overflowed its {} KiB stack (detected by the canary of an unguarded \
             stack; memory below it may be corrupted)\nfibra: hint: give it a bigger stack \
             (Builder::stack_size), or keep StackPolicy::Auto/Guarded within the mapping budget; aborting",
            self.name.as_deref().unwrap_or("<unnamed>"),
            (self.stack.top().get() - self.stack.bottom().get()).div_ceil(1024)
        );
        std::process::abort();
    }

    /// Unwinds a suspended or unstarted coroutine so the destructors on its stack run.
    #[inline]
    fn unwind(&mut self) {
        if let Some(sp) = self.sp.take() {
            self.unwind_from(sp);
        }
        if self.name.is_some() {
            self.stack.set_overflow_name("");
        }
    }

    #[cold]
    fn unwind_from(&mut self, sp: StackPointer) {
        // SAFETY: as in resume; 0 asks the coroutine to unwind (or, if it never started,
        // to drop its closure) and finish.
        let (value, sp) = unsafe { arch::resume(0, sp, self.top) };
        self.check_canary(sp);
        assert!(
            sp.is_none(),
            "fibra: coroutine kept running after being asked to unwind"
        );
        // SAFETY: the coroutine finished and handed us its Outcome.
        match unsafe { ptr::read(value as *const Outcome<R>) } {
            Outcome::Returned(_) | Outcome::Unwound => {}
            Outcome::Panicked(payload) if !std::thread::panicking() => resume_unwind(payload),
            Outcome::Panicked(_) => {}
        }
    }
}

#[cold]
fn resumed_after_completion() -> ! {
    panic!("fibra: resume called on a coroutine that has already finished (check Coroutine::done)")
}

impl<I, Y, R, S: Stack> Drop for Coroutine<I, Y, R, S> {
    #[inline]
    fn drop(&mut self) {
        self.unwind();
        // SAFETY: dropped once, after the coroutine has finished.
        unsafe { ManuallyDrop::drop(&mut self.stack) };
    }
}

impl<I, Y, R, S: Stack> fmt::Debug for Coroutine<I, Y, R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coroutine")
            .field("name", &self.name)
            .field("done", &self.done())
            .finish_non_exhaustive()
    }
}

/// The first Rust code on a new coroutine stack, reached from the arch trampoline.
///
/// # Safety
/// `data` points at the `EntryData<F>` written by `from_parts`; `input` is 0 or points at
/// an `I` owned by the parent.
unsafe extern "C" fn entry<I, Y, R, F>(input: usize, data: *mut u8) -> !
where
    F: FnOnce(&Yielder<I, Y>, I) -> R,
{
    // SAFETY: `from_parts` wrote EntryData<F> at `data` and nothing reads it again.
    let EntryData { f, top } = unsafe { ptr::read(data as *mut EntryData<F>) };
    let outcome = if input == 0 {
        // Dropped before it ever ran: drop the closure here, where it lives.
        match catch_unwind(AssertUnwindSafe(move || drop(f))) {
            Ok(()) => Outcome::Unwound,
            Err(payload) => Outcome::Panicked(payload),
        }
    } else {
        let yielder = Yielder {
            top,
            unwinding: Cell::new(false),
            _not_send: PhantomData,
            _types: PhantomData,
        };
        // SAFETY: the parent passed a pointer to an `I` it will not drop.
        let input = unsafe { ptr::read(input as *const I) };
        let result = catch_unwind(AssertUnwindSafe(|| f(&yielder, input)));
        match result {
            Ok(r) => Outcome::Returned(r),
            // Our own drop-triggered unwind. A ForcedUnwind of an outer coroutine (this one
            // being nested inside it) is an ordinary panic here and travels on.
            Err(payload) if yielder.unwinding.get() && payload.is::<ForcedUnwind>() => {
                Outcome::Unwound
            }
            Err(payload) => Outcome::Panicked(payload),
        }
    };
    let outcome = ManuallyDrop::new(outcome);
    // SAFETY: we run on the coroutine's stack whose switch top is `top`; the parent
    // takes `outcome` and nothing on this stack runs again.
    unsafe { arch::finish(&raw const outcome as usize, top) }
}

/// A coroutine that only yields: an iterator over the values its function suspends with.
///
/// ```
/// use fibra::Generator;
/// let squares: Vec<u32> = Generator::new(|y| for i in 1..4 { y.suspend(i * i) }).collect();
/// assert_eq!(squares, [1, 4, 9]);
/// ```
pub struct Generator<T, S: Stack = PooledStack> {
    coroutine: Coroutine<(), T, (), S>,
}

impl<T> Generator<T> {
    /// A generator running `f` on a pooled stack of the default size.
    ///
    /// # Panics
    /// If no stack can be had.
    pub fn new<F>(f: F) -> Self
    where
        F: FnOnce(&Yielder<(), T>) + 'static,
    {
        Generator {
            coroutine: Coroutine::new(move |y, ()| f(y)),
        }
    }
}

impl<T, S: Stack> Generator<T, S> {
    /// A generator running `f` on `stack`.
    pub fn with_stack<F>(stack: S, f: F) -> Self
    where
        F: FnOnce(&Yielder<(), T>) + 'static,
    {
        Generator {
            coroutine: Coroutine::with_stack(stack, move |y, ()| f(y)),
        }
    }
}

impl<T, S: Stack> Iterator for Generator<T, S> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.coroutine.done() {
            return None;
        }
        self.coroutine.resume(()).into_yield()
    }
}

impl<T, S: Stack> core::iter::FusedIterator for Generator<T, S> {}

impl<T, S: Stack> fmt::Debug for Generator<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("done", &self.coroutine.done())
            .finish()
    }
}

/// Runs `f` on a fresh stack of at least `size` bytes (from this thread's pool) and returns
/// its result: for deep recursion that would overflow the current stack. A panic in `f`
/// is re-raised here.
///
/// ```
/// fn depth(n: u64) -> u64 { if n == 0 { 0 } else { 1 + depth(std::hint::black_box(n - 1)) } }
/// assert_eq!(fibra::on_stack(64 << 20, || depth(200_000)), 200_000);
/// ```
pub fn on_stack<R>(size: usize, f: impl FnOnce() -> R) -> R {
    let stack = PooledStack::new(size).unwrap_or_else(|e| creation_failed(e));
    // SAFETY: the coroutine runs to completion (or unwinds) inside this call, before
    // anything `f` borrows can go away.
    let mut coroutine: Coroutine<(), (), R> =
        unsafe { Coroutine::from_parts(stack, None, move |_: &Yielder<(), ()>, ()| f()) }
            .unwrap_or_else(|e| creation_failed(e));
    match coroutine.resume(()) {
        CoroutineResult::Return(r) => r,
        CoroutineResult::Yield(()) => unreachable!("an on_stack closure has no yielder"),
    }
}
