//! aarch64 only: every AAPCS64 callee-saved register (x19-x29, d8-d15) holds its value
//! across switches, on both sides, checked directly in assembly rather than through
//! whatever the register allocator happens to keep live.
#![cfg(target_arch = "aarch64")]

use fibra::{Coroutine, CoroutineResult, Yielder};
use std::arch::asm;

/// Bit `n` of a mismatch mask: xN (19..=29) or dN (8..=15) lost its value.
fn describe(mask: u64) -> String {
    let mut lost = vec![];
    for n in 8..=15 {
        if mask & (1 << n) != 0 {
            lost.push(format!("d{n}"));
        }
    }
    for n in 19..=29 {
        if mask & (1 << n) != 0 {
            lost.push(format!("x{n}"));
        }
    }
    lost.join(" ")
}

/// After the call: sets bit N of x13 if xN no longer equals seed (x10) + N.
#[rustfmt::skip]
macro_rules! check_x {
    ($n:literal) => {
        concat!(
            "add x11, x10, #", $n, "\n",
            "cmp x", $n, ", x11\n",
            "cset x12, ne\n",
            "orr x13, x13, x12, lsl #", $n, "\n",
        )
    };
}

/// After the call: sets bit N of x13 if dN no longer equals seed (x10) + (N << 12).
#[rustfmt::skip]
macro_rules! check_d {
    ($n:literal) => {
        concat!(
            "add x11, x10, #", $n, ", lsl #12\n",
            "fmov x12, d", $n, "\n",
            "cmp x12, x11\n",
            "cset x12, ne\n",
            "orr x13, x13, x12, lsl #", $n, "\n",
        )
    };
}

/// Calls `f(arg)` with x19-x29 set to `seed + N` and d8-d15 to `seed + (N << 12)`, and
/// returns a mask of the registers that no longer hold those values when `f` returns.
/// A correct `f` (any extern "C" function) must preserve all of them; `f` here switches
/// stacks, so this checks the switch and the clobbers the compiler honours around it.
///
/// # Safety
/// `f(arg)` must be sound to call, and must not unwind.
#[inline(never)]
unsafe fn call_with_known_registers(seed: u64, f: unsafe extern "C" fn(usize), arg: usize) -> u64 {
    let mask: u64;
    // SAFETY: x19 and x29 (which asm! cannot declare clobbered) are saved and restored
    // around the call; everything else the call may change is declared clobbered; sp is
    // kept 16-byte aligned and restored; the caller vouches for `f(arg)`.
    unsafe {
        asm!(
            concat!(
                // Keep x19, x29 and the seed in a 32-byte frame.
                "stp x19, x29, [sp, #-32]!\n",
                "str x10, [sp, #16]\n",
                "add x19, x10, #19\n",
                "add x20, x10, #20\n",
                "add x21, x10, #21\n",
                "add x22, x10, #22\n",
                "add x23, x10, #23\n",
                "add x24, x10, #24\n",
                "add x25, x10, #25\n",
                "add x26, x10, #26\n",
                "add x27, x10, #27\n",
                "add x28, x10, #28\n",
                "add x29, x10, #29\n",
                "add x11, x10, #8, lsl #12\n", "fmov d8, x11\n",
                "add x11, x10, #9, lsl #12\n", "fmov d9, x11\n",
                "add x11, x10, #10, lsl #12\n", "fmov d10, x11\n",
                "add x11, x10, #11, lsl #12\n", "fmov d11, x11\n",
                "add x11, x10, #12, lsl #12\n", "fmov d12, x11\n",
                "add x11, x10, #13, lsl #12\n", "fmov d13, x11\n",
                "add x11, x10, #14, lsl #12\n", "fmov d14, x11\n",
                "add x11, x10, #15, lsl #12\n", "fmov d15, x11\n",
                "blr x9\n",
                "ldr x10, [sp, #16]\n",
                "mov x13, xzr\n",
                check_x!(19), check_x!(20), check_x!(21), check_x!(22), check_x!(23),
                check_x!(24), check_x!(25), check_x!(26), check_x!(27), check_x!(28),
                check_x!(29),
                check_d!(8), check_d!(9), check_d!(10), check_d!(11),
                check_d!(12), check_d!(13), check_d!(14), check_d!(15),
                "mov x0, x13\n",
                "ldp x19, x29, [sp], #32\n",
            ),
            in("x9") f,
            in("x10") seed,
            inout("x0") arg => mask,
            lateout("x20") _, lateout("x21") _, lateout("x22") _, lateout("x23") _,
            lateout("x24") _, lateout("x25") _, lateout("x26") _, lateout("x27") _,
            lateout("x28") _,
            clobber_abi("C"),
        );
    }
    mask
}

/// `call_with_known_registers` with a callback taking `&mut T`.
fn call<T>(seed: u64, f: extern "C" fn(&mut T), arg: &mut T) -> u64 {
    // SAFETY: an `extern "C" fn(&mut T)` has the ABI of `extern "C" fn(usize)`, and it is
    // called with a valid `&mut T`. The callbacks here never unwind: a panic inside one
    // aborts (extern "C"), after printing its message.
    unsafe {
        let f = core::mem::transmute::<extern "C" fn(&mut T), unsafe extern "C" fn(usize)>(f);
        call_with_known_registers(seed, f, arg as *mut T as usize)
    }
}

const ROUNDS: u64 = 10_000;

fn parent_seed(round: u64) -> u64 {
    0x1111_0000_0000_0000 ^ (round << 20)
}

fn child_seed(round: u64) -> u64 {
    0x7777_0000_0000_0000 ^ (round << 20)
}

struct Parent {
    co: Coroutine<u64, u64, u64>,
    input: u64,
    got: Option<CoroutineResult<u64, u64>>,
}

extern "C" fn resume_it(p: &mut Parent) {
    p.got = Some(p.co.resume(p.input));
}

struct Child<'a> {
    y: &'a Yielder<u64, u64>,
    out: u64,
    input: u64,
}

extern "C" fn suspend_it(c: &mut Child<'_>) {
    c.input = c.y.suspend(c.out);
}

/// Failure reports collected while coroutines are in flight: a panic must not unwind
/// while one is suspended inside an extern "C" callback (dropping it would unwind the
/// callback, which aborts), so the tests assert only once every coroutine has finished.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, lost: u64, who: &str, round: u64) {
        if lost != 0 && self.0.len() < 10 {
            self.0
                .push(format!("{who} lost {} in round {round}", describe(lost)));
        }
    }
    fn assert_none(self) {
        assert!(self.0.is_empty(), "{}", self.0.join("\n"));
    }
}

/// Set in a coroutine's report when the inputs it received were out of step.
const OUT_OF_STEP: u64 = 1 << 63;

#[test]
fn callee_saved_registers_survive_switches_on_both_sides() {
    let co = Coroutine::new(|y: &Yielder<u64, u64>, mut input: u64| {
        // Each suspend happens with the coroutine's own pattern in every callee-saved
        // register; what it lost rides back on the next yielded value.
        let mut report = 0u64;
        for round in 0..ROUNDS {
            if input != round {
                report |= OUT_OF_STEP;
            }
            let mut c = Child {
                y,
                out: report,
                input: 0,
            };
            report |= call(child_seed(round), suspend_it, &mut c);
            input = c.input;
        }
        report
    });
    let mut failures = Failures::default();
    let mut p = Parent {
        co,
        input: 0,
        got: None,
    };
    for round in 0..=ROUNDS {
        p.input = round;
        let lost = call(parent_seed(round), resume_it, &mut p);
        failures.check(lost, "the parent", round);
        let report = match p.got.take() {
            Some(CoroutineResult::Yield(r)) if round < ROUNDS => r,
            Some(CoroutineResult::Return(r)) if round == ROUNDS => r,
            other => {
                failures
                    .0
                    .push(format!("round {round}: unexpected {other:?}"));
                break;
            }
        };
        if report & OUT_OF_STEP != 0 {
            failures.0.push(format!(
                "the coroutine saw inputs out of step by round {round}"
            ));
        }
        failures.check(report & !OUT_OF_STEP, "the coroutine", round);
    }
    failures.assert_none();
    assert!(p.co.done(), "the coroutine did not finish");
}

// An extern "C" function that breaks the ABI on purpose: it zeroes x19 and d9 without
// restoring them. Written in assembly so that no Rust code runs with a lying signature.
#[cfg(target_vendor = "apple")]
macro_rules! symbol {
    ($name:literal) => {
        concat!("_", $name)
    };
}
#[cfg(not(target_vendor = "apple"))]
macro_rules! symbol {
    ($name:literal) => {
        $name
    };
}
std::arch::global_asm!(
    concat!(".globl ", symbol!("fibra_test_aarch64_break_abi")),
    ".p2align 2",
    concat!(symbol!("fibra_test_aarch64_break_abi"), ":"),
    "mov x19, xzr",
    "fmov d9, xzr",
    "ret",
);
unsafe extern "C" {
    fn fibra_test_aarch64_break_abi(arg: usize);
}

/// The harness itself must notice a lost register, or the tests here prove nothing.
#[test]
fn the_harness_detects_a_clobbered_register() {
    // SAFETY: the callee breaks the ABI only for x19 and d9, which the harness checks and
    // then restores (x19) or has declared clobbered (d9).
    let lost = unsafe {
        call_with_known_registers(0x4242_0000_0000_0000, fibra_test_aarch64_break_abi, 0)
    };
    assert_eq!(describe(lost), "d9 x19");
}

/// Three levels: the test thread resumes an outer coroutine, which resumes an inner
/// one, each switch made with every callee-saved register holding a known value.
#[test]
fn callee_saved_registers_survive_nested_switches() {
    const N: u64 = 1000;
    let outer = Coroutine::new(|oy: &Yielder<u64, u64>, _: u64| {
        let inner = Coroutine::new(|y: &Yielder<u64, u64>, _: u64| {
            let mut lost = 0u64;
            for round in 0..N {
                let mut c = Child {
                    y,
                    out: lost,
                    input: 0,
                };
                lost |= call(child_seed(round) ^ 0x0f00, suspend_it, &mut c);
            }
            lost
        });
        let mut p = Parent {
            co: inner,
            input: 0,
            got: None,
        };
        let mut worst = 0u64;
        for round in 0..=N {
            p.input = round;
            worst |= call(parent_seed(round) ^ 0x00f0, resume_it, &mut p);
            if let Some(CoroutineResult::Yield(lost) | CoroutineResult::Return(lost)) = p.got.take()
            {
                worst |= lost;
            }
            let mut c = Child {
                y: oy,
                out: worst,
                input: 0,
            };
            worst |= call(child_seed(round) ^ 0xf000, suspend_it, &mut c);
        }
        worst
    });
    let mut failures = Failures::default();
    let mut p = Parent {
        co: outer,
        input: 0,
        got: None,
    };
    for round in 0..=N + 1 {
        p.input = round;
        let lost = call(parent_seed(round), resume_it, &mut p);
        failures.check(lost, "the test thread", round);
        match p.got.take() {
            Some(CoroutineResult::Yield(lost)) if round <= N => {
                failures.check(lost, "a coroutine", round)
            }
            Some(CoroutineResult::Return(lost)) if round == N + 1 => {
                failures.check(lost, "a coroutine", round)
            }
            other => {
                failures
                    .0
                    .push(format!("round {round}: unexpected {other:?}"));
                break;
            }
        }
    }
    failures.assert_none();
    assert!(p.co.done(), "the outer coroutine did not finish");
}
