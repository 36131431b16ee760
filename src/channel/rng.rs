//! The random order in which a select tries its arms, so that none of several ready arms
//! starves: a per-thread xorshift generator, seeded once per thread.

/// Puts `order` into a random permutation (Fisher-Yates). Under loom the order is left
/// as it is: a model must be deterministic, and it picks the order itself.
#[inline]
pub(crate) fn shuffle(order: &mut [usize]) {
    #[cfg(not(loom))]
    for i in (1..order.len()).rev() {
        order.swap(i, below(i + 1));
    }
    #[cfg(loom)]
    let _ = order;
}

/// A random number in `0..n`.
#[cfg(not(loom))]
#[inline]
fn below(n: usize) -> usize {
    // Multiply-shift maps 32 random bits onto 0..n with negligible bias for small n.
    ((next() as u64 * n as u64) >> 32) as usize
}

#[cfg(not(loom))]
std::thread_local! {
    static STATE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The next 32 random bits (xorshift32).
#[cfg(not(loom))]
#[inline]
fn next() -> u32 {
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = seed();
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s.set(x);
        x
    })
}

/// A nonzero seed that differs between threads and runs.
#[cfg(not(loom))]
#[cold]
fn seed() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(&h as *const _ as usize);
    (h.finish() as u32) | 1
}

#[cfg(all(test, not(loom)))]
mod tests {
    #[test]
    fn shuffles_are_permutations_and_vary() {
        let mut seen_first = [0u32; 4];
        for _ in 0..4000 {
            let mut order = [0, 1, 2, 3];
            super::shuffle(&mut order);
            let mut sorted = order;
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2, 3]);
            seen_first[order[0]] += 1;
        }
        assert!(seen_first.iter().all(|&n| n > 700), "{seen_first:?}");
    }
}
