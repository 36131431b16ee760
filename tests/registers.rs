//! Floating-point and SIMD values live across switches survive them, on both sides.

use fibra::{Coroutine, CoroutineResult, Yielder};
use std::hint::black_box;

/// Many f64 values kept live across every switch, in the coroutine and in the parent, so
/// the register allocator holds some of them in (callee-saved, where the ABI has them)
/// floating-point registers.
#[test]
fn floats_live_across_switches() {
    let mut co = Coroutine::new(|y: &Yielder<f64, f64>, seed: f64| {
        let mut acc = [0.0f64; 12];
        for (i, a) in acc.iter_mut().enumerate() {
            *a = black_box(seed * (i as f64 + 1.5));
        }
        for round in 0..1000 {
            let got = y.suspend(acc.iter().sum());
            for (i, a) in acc.iter_mut().enumerate() {
                *a = *a * 0.5 + got * (i as f64) + round as f64;
            }
        }
        acc.iter().product::<f64>()
    });
    let mut mine = [0.0f64; 12];
    for (i, m) in mine.iter_mut().enumerate() {
        *m = black_box(1.25 * i as f64);
    }
    // Mirror the coroutine's arithmetic to know what it must report.
    let mut shadow = [0.0f64; 12];
    for (i, s) in shadow.iter_mut().enumerate() {
        *s = 2.0 * (i as f64 + 1.5);
    }
    let mut input = 2.0;
    for round in 0..1000 {
        let sum = match co.resume(input) {
            CoroutineResult::Yield(s) => s,
            CoroutineResult::Return(_) => unreachable!(),
        };
        assert_eq!(sum, shadow.iter().sum::<f64>(), "round {round}");
        input = black_box(mine.iter().sum::<f64>() / 100.0);
        for (i, s) in shadow.iter_mut().enumerate() {
            *s = *s * 0.5 + input * (i as f64) + round as f64;
        }
        for (i, m) in mine.iter_mut().enumerate() {
            *m += i as f64; // parent-side values must survive too
        }
    }
    assert_eq!(
        co.resume(input).into_return(),
        Some(shadow.iter().product::<f64>())
    );
    for (i, m) in mine.iter().enumerate() {
        assert_eq!(*m, 1.25 * i as f64 + 1000.0 * i as f64);
    }
}

/// 128-bit vectors live across switches.
#[test]
fn simd_vectors_live_across_switches() {
    #[derive(Clone, Copy, PartialEq, Debug)]
    #[repr(align(16))]
    struct V([u32; 4]);
    fn mix(a: V, b: V) -> V {
        V(std::array::from_fn(|i| {
            a.0[i].rotate_left(5) ^ b.0[i].wrapping_mul(2654435761)
        }))
    }
    let mut co = Coroutine::new(|y: &Yielder<V, V>, mut v: V| {
        let keep: Vec<V> = (0..8)
            .map(|i| black_box(V([i, i + 1, i + 2, i + 3])))
            .collect();
        let fixed = keep.clone();
        for _ in 0..500 {
            v = y.suspend(mix(v, keep[v.0[0] as usize % 8]));
        }
        assert_eq!(keep, fixed);
        v
    });
    let keep: Vec<V> = (0..8)
        .map(|i| black_box(V([i, i * 3, i * 5, i * 7])))
        .collect();
    let mut v = V([1, 2, 3, 4]);
    let mut expect = v;
    for _ in 0..500 {
        let out = co.resume(v).into_yield().unwrap();
        let want = mix(
            expect,
            V([
                expect.0[0] % 8,
                expect.0[0] % 8 + 1,
                expect.0[0] % 8 + 2,
                expect.0[0] % 8 + 3,
            ]),
        );
        assert_eq!(out, want);
        v = mix(out, keep[out.0[1] as usize % 8]);
        expect = v;
    }
    assert_eq!(co.resume(v).into_return(), Some(v));
    assert_eq!(
        keep,
        (0..8)
            .map(|i| V([i, i * 3, i * 5, i * 7]))
            .collect::<Vec<_>>()
    );
}
