//! Recycling stacks so that creating a coroutine costs no system call in steady state.

use super::{DefaultStack, Stack, StackPolicy};
use core::cell::RefCell;
use core::mem::ManuallyDrop;
use core::num::NonZeroUsize;
use std::io;

/// How a [`StackPool`] keeps idle stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackPoolConfig {
    /// How new stacks are protected.
    pub policy: StackPolicy,
    /// Idle stacks kept per size class; more are unmapped.
    pub max_idle_per_class: usize,
    /// Idle stacks keep their memory up to this many bytes in total (the watermark); idle
    /// stacks beyond it give their pages back to the system (`madvise(MADV_DONTNEED)`)
    /// and stay mapped, so reusing them still costs no `mmap`.
    pub resident_idle_bytes: usize,
}

impl StackPoolConfig {
    /// 1024 idle stacks per class, 8 MiB of them resident, [`StackPolicy::Auto`].
    pub const DEFAULT: StackPoolConfig = StackPoolConfig {
        policy: StackPolicy::Auto,
        max_idle_per_class: 1024,
        resident_idle_bytes: 8 << 20,
    };
}

impl Default for StackPoolConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Idle stacks of one size.
#[derive(Debug)]
struct SizeClass {
    /// Idle stacks whose memory is still resident: reused first, they are warm.
    hot: Vec<DefaultStack>,
    /// Idle stacks whose memory was given back.
    cold: Vec<DefaultStack>,
}

/// A per-thread cache of idle [`DefaultStack`]s in power-of-two size classes.
///
/// ```
/// use fibra::{StackPool, StackPoolConfig, Stack};
/// let mut pool = StackPool::new(StackPoolConfig::DEFAULT);
/// let stack = pool.take(64 * 1024)?;
/// let bottom = stack.bottom();
/// pool.give(stack);
/// assert_eq!(pool.take(64 * 1024)?.bottom(), bottom); // the same stack, no new mapping
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct StackPool {
    config: StackPoolConfig,
    /// Indexed by log2(size) - MIN_CLASS_SHIFT.
    classes: [SizeClass; NUM_CLASSES],
    resident_idle: usize,
}

/// The smallest size class is 16 KiB.
const MIN_CLASS_SHIFT: u32 = 14;
/// One class per power of two from 16 KiB up to the largest `usize` power.
const NUM_CLASSES: usize = (usize::BITS - MIN_CLASS_SHIFT) as usize;

impl StackPool {
    /// An empty pool.
    pub const fn new(config: StackPoolConfig) -> Self {
        StackPool {
            config,
            classes: [const {
                SizeClass {
                    hot: Vec::new(),
                    cold: Vec::new(),
                }
            }; NUM_CLASSES],
            resident_idle: 0,
        }
    }

    /// The size class serving a request: the next power of two, at least 16 KiB.
    #[inline]
    fn class_size(size: usize) -> usize {
        size.max(1 << MIN_CLASS_SHIFT)
            .checked_next_power_of_two()
            .unwrap_or(size)
    }

    #[inline]
    fn class(&mut self, class_size: usize) -> &mut SizeClass {
        &mut self.classes[(class_size.trailing_zeros() - MIN_CLASS_SHIFT) as usize]
    }

    /// A stack with at least `size` usable bytes (less the 64-byte name header), reused
    /// if one is idle.
    #[inline]
    pub fn take(&mut self, size: usize) -> io::Result<DefaultStack> {
        let size = Self::class_size(size);
        let class = self.class(size);
        if let Some(stack) = class.hot.pop() {
            self.resident_idle -= size;
            return Ok(stack);
        }
        if let Some(stack) = class.cold.pop() {
            return Ok(stack);
        }
        DefaultStack::with_policy(size - super::StackHeader::SIZE, self.config.policy)
    }

    /// Returns a stack to the pool. Stacks of a size this pool does not serve are
    /// unmapped.
    #[inline]
    pub fn give(&mut self, stack: DefaultStack) {
        let size = stack.size() + super::StackHeader::SIZE;
        if !size.is_power_of_two() || size < 1 << MIN_CLASS_SHIFT {
            return;
        }
        let config = self.config;
        let resident_idle = self.resident_idle;
        let class = self.class(size);
        if class.hot.len() + class.cold.len() >= config.max_idle_per_class {
            return;
        }
        if resident_idle + size <= config.resident_idle_bytes {
            class.hot.push(stack);
            self.resident_idle += size;
        } else {
            stack.discard();
            class.cold.push(stack);
        }
    }

    /// Gives back the memory of idle stacks until at most `keep_bytes` of them stay
    /// resident (the least recently used go first). The stacks stay mapped and pooled.
    /// For an owner that lets the pool keep more while busy (a large
    /// [`resident_idle_bytes`](StackPoolConfig::resident_idle_bytes)) and trims it when
    /// idle, off the hot path: the fiber runtime's workers do this before they sleep.
    pub fn trim_resident(&mut self, keep_bytes: usize) {
        if self.resident_idle <= keep_bytes {
            return;
        }
        for (i, class) in self.classes.iter_mut().enumerate().rev() {
            let size = 1usize << (i as u32 + MIN_CLASS_SHIFT);
            // `hot` is used as a stack (last in, first out): the oldest are at the front.
            let excess = (self.resident_idle - keep_bytes).div_ceil(size);
            let n = excess.min(class.hot.len());
            for stack in class.hot.drain(..n) {
                stack.discard();
                class.cold.push(stack);
            }
            self.resident_idle -= n * size;
            if self.resident_idle <= keep_bytes {
                break;
            }
        }
    }

    /// Idle stacks held.
    pub fn idle(&self) -> usize {
        self.classes
            .iter()
            .map(|c| c.hot.len() + c.cold.len())
            .sum()
    }

    /// Bytes of idle stacks whose memory is kept resident.
    pub fn resident_idle_bytes(&self) -> usize {
        self.resident_idle
    }

    /// Unmaps every idle stack.
    pub fn clear(&mut self) {
        for class in &mut self.classes {
            class.hot.clear();
            class.cold.clear();
        }
        self.resident_idle = 0;
    }

    /// Sets the configuration of this thread's pool, the one [`crate::Coroutine::new`] and
    /// [`PooledStack`] use. Idle stacks already held are kept.
    pub fn configure_current_thread(config: StackPoolConfig) {
        THREAD_POOL.with(|p| p.borrow_mut().config = config);
    }

    /// Runs `f` with this thread's pool.
    pub fn with_current_thread<R>(f: impl FnOnce(&mut StackPool) -> R) -> R {
        THREAD_POOL.with(|p| f(&mut p.borrow_mut()))
    }
}

thread_local! {
    static THREAD_POOL: RefCell<StackPool> = const { RefCell::new(StackPool::new(StackPoolConfig::DEFAULT)) };
}

/// A [`DefaultStack`] from the current thread's pool; dropping it returns it to the pool
/// of the thread that drops it.
#[derive(Debug)]
pub struct PooledStack {
    stack: ManuallyDrop<DefaultStack>,
}

impl PooledStack {
    /// Takes a stack of at least `size` bytes from this thread's pool.
    #[inline]
    pub fn new(size: usize) -> io::Result<Self> {
        let stack = THREAD_POOL.with(|p| p.borrow_mut().take(size))?;
        Ok(PooledStack {
            stack: ManuallyDrop::new(stack),
        })
    }

    /// Takes the stack out of the pool's care: dropping the result unmaps it.
    pub fn into_inner(self) -> DefaultStack {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the stack is moved out exactly once.
        unsafe { ManuallyDrop::take(&mut this.stack) }
    }
}

impl Drop for PooledStack {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: drop runs once; the stack is not used after this.
        let stack = unsafe { ManuallyDrop::take(&mut self.stack) };
        // During thread teardown the pool may be gone: then the stack is simply unmapped.
        let _ = THREAD_POOL.try_with(|p| match p.try_borrow_mut() {
            Ok(mut pool) => pool.give(stack),
            Err(_) => drop(stack),
        });
    }
}

// SAFETY: forwards to the DefaultStack, which upholds the contract.
unsafe impl Stack for PooledStack {
    #[inline]
    fn top(&self) -> NonZeroUsize {
        self.stack.top()
    }
    #[inline]
    fn bottom(&self) -> NonZeroUsize {
        self.stack.bottom()
    }
    #[inline]
    fn is_guarded(&self) -> bool {
        self.stack.is_guarded()
    }
    fn set_overflow_name(&self, name: &str) {
        self.stack.set_overflow_name(name);
    }
    #[cfg(windows)]
    fn teb_allocation_base(&self) -> usize {
        self.stack.teb_allocation_base()
    }
}
