//! x86-64 Windows only: what the Microsoft x64 switch must keep or swap, checked directly
//! rather than through whatever the compiler happens to keep live.
//!
//! - every callee-saved register (rbx, rbp, rdi, rsi, r12-r15, xmm6-xmm15, all 128 bits)
//!   holds its value across switches, on both sides, checked in assembly;
//! - the TEB describes the running stack (StackBase, StackLimit, DeallocationStack,
//!   GuaranteedStackBytes, ExceptionList) and the parent's values come back;
//! - frames bigger than a page (stack probes) and exceptions deep in a coroutine stack
//!   work, which needs StackLimit/StackBase right;
//! - a backtrace follows whoever resumed last, and a huge frame is reported as an
//!   overflow by name.
#![cfg(all(windows, target_arch = "x86_64"))]

mod common;

use fibra::{Builder, Coroutine, CoroutineResult, Stack, Yielder};
use std::arch::asm;
use std::hint::black_box;
use std::panic::{AssertUnwindSafe, catch_unwind};

// ------------------------------------------------------------------ registers

/// Bit of a mismatch mask for a general-purpose register (its x86 number) or xmmN (16 + N).
const RBX: u32 = 3;
const RBP: u32 = 5;
const RSI: u32 = 6;
const RDI: u32 = 7;

fn describe(mask: u64) -> String {
    let mut lost = vec![];
    for (bit, name) in [(RBX, "rbx"), (RBP, "rbp"), (RSI, "rsi"), (RDI, "rdi")] {
        if mask & (1 << bit) != 0 {
            lost.push(name.to_string());
        }
    }
    for n in 12..=15 {
        if mask & (1 << n) != 0 {
            lost.push(format!("r{n}"));
        }
    }
    for n in 6..=15 {
        if mask & (1 << (16 + n)) != 0 {
            lost.push(format!("xmm{n}"));
        }
    }
    lost.join(" ")
}

/// Before the call: a general-purpose register gets seed (r10) + its bit number.
#[rustfmt::skip]
macro_rules! set_gpr {
    ($reg:literal, $bit:literal) => {
        concat!("lea ", $reg, ", [r10 + ", $bit, "]\n")
    };
}

/// After the call: sets bit `bit` of r11 if the register no longer holds seed + bit.
#[rustfmt::skip]
macro_rules! check_gpr {
    ($reg:literal, $bit:literal) => {
        concat!(
            "xor eax, eax\n",
            "lea rdx, [r10 + ", $bit, "]\n",
            "cmp ", $reg, ", rdx\n",
            "setne al\n",
            "shl rax, ", $bit, "\n",
            "or r11, rax\n",
        )
    };
}

/// Puts the 128-bit pattern of xmmN in xmm0: low half seed + (N << 12), high half its
/// complement, so losing either half shows.
#[rustfmt::skip]
macro_rules! xmm_pattern {
    ($n:literal) => {
        concat!(
            "lea rax, [r10 + ", $n, " * 4096]\n",
            "movq xmm0, rax\n",
            "not rax\n",
            "movq xmm1, rax\n",
            "punpcklqdq xmm0, xmm1\n",
        )
    };
}

#[rustfmt::skip]
macro_rules! set_xmm {
    ($n:literal) => {
        concat!(xmm_pattern!($n), "movdqa xmm", $n, ", xmm0\n")
    };
}

/// After the call: sets bit 16 + N of r11 if xmmN lost any of its 128 bits.
#[rustfmt::skip]
macro_rules! check_xmm {
    ($n:literal) => {
        concat!(
            xmm_pattern!($n),
            "pcmpeqb xmm0, xmm", $n, "\n",
            "pmovmskb eax, xmm0\n",
            "xor edx, edx\n",
            "cmp eax, 0xffff\n",
            "setne dl\n",
            "shl rdx, 16 + ", $n, "\n",
            "or r11, rdx\n",
        )
    };
}

/// Calls `f(arg)` with every Microsoft x64 callee-saved register set from `seed`, and
/// returns a mask of those that no longer hold their value when `f` returns. A correct
/// `f` (any extern "C" function) preserves all of them; `f` here switches stacks, so this
/// checks the switch and the clobbers the compiler honours around it.
///
/// # Safety
/// `f(arg)` must be sound to call, and must not unwind.
#[inline(never)]
unsafe fn call_with_known_registers(seed: u64, f: unsafe extern "C" fn(usize), arg: usize) -> u64 {
    let mask: u64;
    // SAFETY: rbx and rbp (which asm! cannot declare clobbered) are saved and restored
    // around the call; everything else the call may change is declared clobbered; the
    // call gets a 16-byte aligned rsp with 32 bytes of home space, and rsp is restored;
    // the caller vouches for `f(arg)`.
    unsafe {
        asm!(
            concat!(
                "push rbp\n",
                "push rbx\n",
                "mov rbx, rsp\n",
                "and rsp, -16\n",
                "push rbx\n",                 // the unaligned rsp, to restore
                "push r10\n",                 // the seed, for the checks
                "sub rsp, 32\n",              // home space for f
                set_gpr!("rbx", 3), set_gpr!("rbp", 5), set_gpr!("rsi", 6), set_gpr!("rdi", 7),
                set_gpr!("r12", 12), set_gpr!("r13", 13), set_gpr!("r14", 14), set_gpr!("r15", 15),
                set_xmm!(6), set_xmm!(7), set_xmm!(8), set_xmm!(9), set_xmm!(10),
                set_xmm!(11), set_xmm!(12), set_xmm!(13), set_xmm!(14), set_xmm!(15),
                "call r9\n",
                "add rsp, 32\n",
                "pop r10\n",
                "xor r11d, r11d\n",
                check_gpr!("rbx", 3), check_gpr!("rbp", 5), check_gpr!("rsi", 6), check_gpr!("rdi", 7),
                check_gpr!("r12", 12), check_gpr!("r13", 13), check_gpr!("r14", 14), check_gpr!("r15", 15),
                check_xmm!(6), check_xmm!(7), check_xmm!(8), check_xmm!(9), check_xmm!(10),
                check_xmm!(11), check_xmm!(12), check_xmm!(13), check_xmm!(14), check_xmm!(15),
                "pop rsp\n",
                "pop rbx\n",
                "pop rbp\n",
            ),
            in("r9") f,
            inout("r10") seed => _,
            inout("rcx") arg => _,
            out("r11") mask,
            lateout("rdi") _, lateout("rsi") _,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            clobber_abi("win64"),
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
    0x1111_0000_0000_0000 ^ (round << 24)
}

fn child_seed(round: u64) -> u64 {
    0x7777_0000_0000_0000 ^ (round << 24)
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

// An extern "C" function that breaks the ABI on purpose: it zeroes rdi, r13 and xmm9
// without restoring them. Written in assembly so that no Rust code runs with a lying
// signature; a leaf without stack use needs no unwind info.
std::arch::global_asm!(
    ".globl fibra_test_windows_break_abi",
    ".def fibra_test_windows_break_abi",
    ".scl 2",
    ".type 32",
    ".endef",
    ".p2align 4",
    "fibra_test_windows_break_abi:",
    "xor edi, edi",
    "xor r13d, r13d",
    "xorps xmm9, xmm9",
    "ret",
);
unsafe extern "C" {
    fn fibra_test_windows_break_abi(arg: usize);
}

/// The checker itself catches a lost register (else the test above proves nothing).
#[test]
fn the_register_check_sees_a_broken_callee() {
    // SAFETY: the function takes one argument and never unwinds; the registers it
    // breaks are exactly what the checker restores or declares clobbered.
    let lost = unsafe {
        call_with_known_registers(0x1234_5678_0000_0000, fibra_test_windows_break_abi, 0)
    };
    assert_eq!(describe(lost), "rdi r13 xmm9");
}

// ------------------------------------------------------------------------ TEB

/// The TEB fields the switch swaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Teb {
    exception_list: usize,
    stack_base: usize,
    stack_limit: usize,
    deallocation_stack: usize,
    guaranteed_stack_bytes: u32,
}

#[inline(never)]
fn teb() -> Teb {
    let (exception_list, stack_base, stack_limit, deallocation_stack, guaranteed): (
        usize,
        usize,
        usize,
        usize,
        u32,
    );
    // SAFETY: reads the current thread's TEB through gs; no side effects.
    unsafe {
        asm!(
            "mov {0}, qword ptr gs:[0x00]",
            "mov {1}, qword ptr gs:[0x08]",
            "mov {2}, qword ptr gs:[0x10]",
            "mov {3}, qword ptr gs:[0x1478]",
            "mov {4:e}, dword ptr gs:[0x1748]",
            out(reg) exception_list,
            out(reg) stack_base,
            out(reg) stack_limit,
            out(reg) deallocation_stack,
            out(reg) guaranteed,
            options(nostack, readonly, preserves_flags),
        );
    }
    Teb {
        exception_list,
        stack_base,
        stack_limit,
        deallocation_stack,
        guaranteed_stack_bytes: guaranteed,
    }
}

#[inline(never)]
fn rsp() -> usize {
    let rsp: usize;
    // SAFETY: reads rsp.
    unsafe { asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags)) };
    rsp
}

/// What a coroutine on `stack` must see in its TEB.
fn expected_teb(stack: &impl Stack) -> Teb {
    Teb {
        exception_list: usize::MAX,
        stack_base: stack.top().get(),
        stack_limit: stack.bottom().get(),
        deallocation_stack: stack.teb_allocation_base(),
        guaranteed_stack_bytes: 16 * 1024,
    }
}

#[test]
fn the_teb_describes_the_running_stack_and_comes_back() {
    let before = teb();
    assert!(
        before.stack_limit < rsp() && rsp() < before.stack_base,
        "{before:x?}"
    );
    let mut co = Coroutine::new(|y: &Yielder<(), (Teb, usize)>, ()| {
        y.suspend((teb(), rsp()));
        for _ in 0..100 {
            y.suspend((teb(), rsp()));
        }
        (teb(), rsp())
    });
    let want = expected_teb(co.stack());
    for _ in 0..101 {
        let (inside, sp) = co.resume(()).into_yield().unwrap();
        assert_eq!(inside, want);
        assert!(inside.stack_limit < sp && sp < inside.stack_base);
        assert_eq!(teb(), before, "the parent's TEB after a suspend");
    }
    let (inside, _) = co.resume(()).into_return().unwrap();
    assert_eq!(inside, want);
    assert_eq!(
        teb(),
        before,
        "the parent's TEB after the coroutine finished"
    );
}

#[test]
fn nested_coroutines_each_see_their_own_teb() {
    let before = teb();
    let mut outer = Coroutine::new(|y: &Yielder<(), Vec<String>>, ()| {
        let mut errors = vec![];
        let mine = teb();
        let mut inner = Builder::new()
            .stack_size(64 * 1024)
            .build(|yi: &Yielder<(), Teb>, ()| {
                yi.suspend(teb());
                teb()
            })
            .unwrap();
        let want = expected_teb(inner.stack());
        let got = inner.resume(()).into_yield().unwrap();
        if got != want {
            errors.push(format!("inner saw {got:x?}, want {want:x?}"));
        }
        if teb() != mine {
            errors.push(format!(
                "outer after inner suspended: {:x?}, want {mine:x?}",
                teb()
            ));
        }
        y.suspend(vec![]);
        if teb() != mine {
            errors.push("outer after being resumed".into());
        }
        let got = inner.resume(()).into_return().unwrap();
        if got != want {
            errors.push(format!("inner at its end saw {got:x?}"));
        }
        if teb() != mine {
            errors.push("outer after inner finished".into());
        }
        errors
    });
    let want = expected_teb(outer.stack());
    assert_eq!(outer.resume(()).into_yield().unwrap(), Vec::<String>::new());
    assert_eq!(teb(), before);
    let errors = outer.resume(()).into_return().unwrap();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(teb(), before);
    assert_eq!(want.exception_list, usize::MAX);
}

// ------------------------------------------------- probes, deep exceptions

/// A frame of 96 KiB: the compiler must probe it page by page (__chkstk / ___chkstk_ms).
#[inline(never)]
fn big_frame(depth: u32) -> u64 {
    let mut buf = [0u8; 96 * 1024];
    buf[depth as usize * 7 % buf.len()] = depth as u8;
    let buf = black_box(buf);
    if depth == 0 {
        buf.iter().map(|&b| b as u64).sum()
    } else {
        big_frame(depth - 1) + buf[0] as u64
    }
}

#[test]
fn frames_larger_than_a_page_run_on_a_coroutine_stack() {
    let mut co = Builder::new()
        .stack_size(4 << 20)
        .build(|y: &Yielder<(), u64>, ()| {
            for depth in 0..8 {
                y.suspend(big_frame(depth));
            }
            big_frame(8) // about 0.9 MiB deep (twice that in debug builds, which copy `buf`)
        })
        .unwrap();
    for _ in 0..8 {
        co.resume(()).into_yield().unwrap();
    }
    assert_eq!(co.resume(()).into_return(), Some(0));
}

#[inline(never)]
fn deep_then_panic(n: u32) -> u32 {
    let pad = black_box([n as u8; 512]);
    if n == 0 {
        panic!("from the deep");
    }
    deep_then_panic(n - 1) + pad[3] as u32
}

/// Exception dispatch checks every frame against the TEB's StackLimit..StackBase; frames
/// a megabyte down a coroutine stack must pass.
#[test]
fn a_panic_deep_in_a_coroutine_stack_is_caught_and_reaches_the_parent() {
    let mut co = Builder::new()
        .stack_size(4 << 20)
        .build(|y: &Yielder<(), bool>, ()| {
            let caught = catch_unwind(|| deep_then_panic(2000)).is_err();
            y.suspend(caught);
            deep_then_panic(2000) // not caught here: travels to the parent
        })
        .unwrap();
    assert_eq!(co.resume(()).into_yield(), Some(true));
    let err = catch_unwind(AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"from the deep"));
    assert!(co.done());
}

// ---------------------------------------------------------------- backtrace

#[inline(never)]
fn first_resumer(co: &mut Coroutine<(), (), String>) {
    co.resume(());
}

#[inline(never)]
fn second_resumer(co: &mut Coroutine<(), (), String>) -> String {
    black_box(co.resume(()).into_return().unwrap())
}

/// The machine frame that leads out of the coroutine is rewritten by every resume.
#[test]
fn a_backtrace_follows_the_latest_resumer() {
    let mut co = Builder::new()
        .stack_size(4 << 20)
        .build(|y: &Yielder<(), ()>, ()| {
            y.suspend(());
            black_box(std::backtrace::Backtrace::force_capture().to_string())
        })
        .unwrap();
    first_resumer(&mut co);
    let bt = second_resumer(&mut co);
    assert!(bt.contains("second_resumer"), "{bt}");
    assert!(!bt.contains("first_resumer"), "{bt}");
    // The walk ends where the thread began, not in the middle of some stack.
    assert!(
        bt.contains("RtlUserThreadStart") || bt.contains("BaseThreadInitThunk"),
        "{bt}"
    );
}

// ------------------------------------------------------------ overflow

#[inline(never)]
fn huge_frame() -> u8 {
    let buf = black_box([1u8; 512 * 1024]);
    buf[100]
}

/// A frame larger than the whole stack is probed from the top down, so it still runs
/// into the overflow zone first and is reported by name.
#[test]
fn a_frame_larger_than_the_stack_is_reported_by_name() {
    const NAME: &str = "a_frame_larger_than_the_stack_is_reported_by_name";
    if common::is_child(NAME) {
        let mut co = Builder::new()
            .name("big-frame")
            .stack_size(64 * 1024)
            .build(|_: &Yielder<(), u8>, ()| huge_frame())
            .unwrap();
        co.resume(());
        unreachable!();
    }
    let out = common::run_child(NAME);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("fibra: fiber 'big-frame' overflowed its 64 KiB stack"),
        "{stderr}"
    );
}

/// An SEH exception nothing on the coroutine stack handles cannot reach handlers on the
/// parent's stack: the dispatcher unwinds through the trampoline's machine frame into
/// the parent's frames, finds them outside the coroutine's StackLimit..StackBase, and
/// stops there. The process then ends with the exception's code, cleanly.
#[test]
fn an_unhandled_seh_exception_in_a_coroutine_ends_the_process_with_its_code() {
    const NAME: &str = "an_unhandled_seh_exception_in_a_coroutine_ends_the_process_with_its_code";
    const CODE: u32 = 0xE0DE_0001;
    if common::is_child(NAME) {
        let mut co = Coroutine::new(|_: &Yielder<(), ()>, ()| {
            // SAFETY: raising a software exception with no arguments.
            unsafe {
                windows_sys::Win32::System::Diagnostics::Debug::RaiseException(
                    CODE,
                    0,
                    0,
                    std::ptr::null(),
                );
            }
        });
        co.resume(());
        unreachable!("the exception was not handled");
    }
    let out = common::run_child(NAME);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(CODE as i32), "{stderr}");
    assert!(!stderr.contains("overflowed"), "{stderr}");
}
