// fibra context switching for x86-64, System V ABI (Linux, BSDs, macOS).
//
// This file is assembled by build.rs. It holds the coroutine start trampoline and its
// unwind info. The hot switch sequences live beside it in x86_64_sysv/*.s and are pulled
// into Rust with `asm!(include_str!(..))`, so that the compiler saves only the registers
// that are live at each call site instead of all of them.
//
// Register convention at every switch (both directions):
//   rdi  value handed across the switch (a pointer, or 0 for "unwind now")
//   rsi  the coroutine's saved stack pointer (0 after the coroutine has finished)
//   rdx  the coroutine's stack top (the parent link lives at [rdx - 16])
//   rax  scratch: the address we jump to
// Callee-saved under System V: rbx, rbp, r12-r15, rsp (+ MXCSR/x87 control words).
// r12-r15 are declared clobbered by the inline asm, so the compiler spills them only
// where they are live. rbx and rbp cannot be named as clobbers (LLVM reserves them),
// so the switch pushes them. MXCSR and the x87 control word are not switched: Rust
// code may not change the floating-point environment, and saving them costs more
// than the whole switch.
//
// Both directions end in `pop rax; jmp rax`, not `ret`: a `ret` with no matching
// `call` would miss the return-stack predictor. Pairing them instead (resume with
// `call [rsi]`, suspend with `ret`, the call landing on code that publishes the
// parent's sp) saves 4 instructions per round trip, but measured slower here: a
// generator's per-item time doubled (4.6 ns vs 2.4 ns on an AMD EPYC, bench/).
//
// Each side that switches away leaves this on its own stack, and publishes rsp:
//
//          higher addresses
//        +------------------+
//        |       rbp        |  sp + 16
//        +------------------+
//        |       rbx        |  sp + 8
//        +------------------+
//        | resume address   |  sp + 0   <- saved stack pointer
//        +------------------+
//
// A new coroutine's stack, prepared by init_stack in src/arch/x86_64_sysv.rs; `top`
// is 16-byte aligned:
//
//        +------------------+
//        |   0 (unused)     |  top - 8
//        +------------------+
//        |   parent link    |  top - 16  written by every resume: the parent's saved sp
//        +------------------+
//        |   entry fn       |  top - 24  extern "C" fn(input, data) -> !
//        +------------------+
//        |   entry data     |  top - 32
//        +------------------+
//        | fibra_start addr |  top - 40  <- initial saved stack pointer
//        +------------------+
//
// The first resume pops fibra_start and jumps to it with rsp = top - 32.

#if defined(__APPLE__)
#define SYMBOL(name) _##name
#define HIDDEN(name) .private_extern SYMBOL(name)
#define FUNCTION_TYPE(name)
#define FUNCTION_SIZE(name)
#else
#define SYMBOL(name) name
#define HIDDEN(name) .hidden SYMBOL(name)
#define FUNCTION_TYPE(name) .type SYMBOL(name), @function
#define FUNCTION_SIZE(name) .size SYMBOL(name), . - SYMBOL(name)
#endif

    .intel_syntax noprefix
    .text
    .globl SYMBOL(fibra_start_x86_64_sysv)
    HIDDEN(fibra_start_x86_64_sysv)
    FUNCTION_TYPE(fibra_start_x86_64_sysv)
    .p2align 4
SYMBOL(fibra_start_x86_64_sysv):
    .cfi_startproc
    // Unwinding out of this frame lands in the parent, in the middle of its resume
    // sequence. Its stack pointer is in the link slot at top - 16 = rsp + 16 (rsp is
    // top - 32 here and does not move before the call). The parent's frame as the
    // compiler sees it starts 24 bytes above the saved sp, past the three pushes,
    // so CFA = [rsp + 16] + 24:
    //   DW_CFA_def_cfa_expression, length 5,
    //   DW_OP_breg7 (rsp) +16, DW_OP_deref, DW_OP_plus_uconst 24
    .cfi_escape 0x0f, 5, 0x77, 0x10, 0x06, 0x23, 0x18
    // The parent's resume address is at CFA - 24 (DWARF column 16 is the return address).
    .cfi_offset 16, -24
    // The parent's rbx (DWARF 3) and rbp (DWARF 6) were pushed just above it.
    .cfi_offset 3, -16
    .cfi_offset 6, -8
    // Second argument of the entry function: its data pointer.
    mov rsi, [rsp]
    // Call entry(input = rdi, data = rsi). rsp = top - 32 is 16-byte aligned here, as
    // the ABI requires at a call. The call's return address makes this frame appear
    // in backtraces between the coroutine body and the parent.
    call [rsp + 8]
    // The entry function switches away for the last time and never returns here.
    ud2
    .cfi_endproc
    FUNCTION_SIZE(fibra_start_x86_64_sysv)
