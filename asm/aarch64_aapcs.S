// fibra context switching for aarch64, AAPCS64 (Linux, BSDs, Android, macOS, iOS).
//
// This file is assembled by build.rs. It holds the coroutine start trampoline and its
// unwind info. The hot switch sequences live beside it in aarch64_aapcs/*.s and are
// pulled into Rust with `asm!(include_str!(..))`, so that the compiler saves only the
// registers that are live at each call site instead of all of them.
//
// Register convention at every switch (both directions):
//   x0   value handed across the switch (a pointer, or 0 for "unwind now")
//   x1   the coroutine's saved stack pointer (0 after the coroutine has finished)
//   x2   the coroutine's stack top (the parent link lives at [x2 - 16])
//   x16, x17  scratch (the intra-procedure-call registers, free at any call): resume
//        addresses and stack pointers in flight; the switch branches through x17
// Callee-saved under AAPCS64: x19-x28, x29 (fp), sp, d8-d15 (the low halves of
// v8-v15), and the return address (lr, x30) of whoever called us.
// x20-x28 are declared clobbered by the inline asm, and clobber_abi("C") covers x0-x17,
// x30 and all of v0-v31, so the compiler spills those only where they are live (the
// frame's own prologue saving d8-d15 and lr). x19 and x29 cannot be named in an asm!
// block (LLVM reserves them as base and frame pointer), so the switch saves them by
// hand, together with the address the other side must branch to when it switches back:
// that resume address plays the part of lr. x18 is the platform register (reserved on
// Apple, Windows and Android): nothing here reads or writes it. FPCR/FPSR are not
// switched: Rust code may not change the floating-point environment.
//
// Every switch ends in `br x17`, not `ret x17`: a ret would pop the return-address
// predictor's stack without a matching call, mispredicting this branch and then every
// genuine return that follows. A br is predicted by the indirect-branch predictor, and
// as each switch site is inlined into its caller, each br learns its own usual target.
//
// Each side that switches away leaves this 32-byte frame on its own stack (sp stays
// 16-byte aligned, as AAPCS64 requires at all times), and publishes sp:
//
//          higher addresses
//        +------------------+
//        |    (padding)     |  sp + 24
//        +------------------+
//        | resume address   |  sp + 16
//        +------------------+
//        |    x29 (fp)      |  sp + 8
//        +------------------+
//        |       x19        |  sp + 0   <- saved stack pointer
//        +------------------+
//
// The side that switches in branches to [sp + 16] with sp still pointing at the frame;
// the code at the resume address reloads x19/x29 and pops the frame in one `ldp`.
//
// A new coroutine's stack, prepared by init_stack in src/arch/aarch64_aapcs.rs; `top`
// is 16-byte aligned. Its first switch frame carries the entry function and its data
// in the x19/x29 slots, which only the trampoline reads:
//
//        +------------------+
//        |   0 (unused)     |  top - 8
//        +------------------+
//        |   parent link    |  top - 16  written by every resume: the parent's saved sp
//        +------------------+
//        |   0 (padding)    |  top - 24
//        +------------------+
//        | fibra_start addr |  top - 32  resume address slot
//        +------------------+
//        |   entry data     |  top - 40  (x29 slot)
//        +------------------+
//        |   entry fn       |  top - 48  (x19 slot) <- initial saved stack pointer
//        +------------------+             extern "C" fn(input, data) -> !
//
// The first resume branches to fibra_start with sp = top - 48, and sp stays there
// until the entry function is called.

#if defined(__APPLE__)
#define SYMBOL(name) _##name
#define HIDDEN(name) .private_extern SYMBOL(name)
#define FUNCTION_TYPE(name)
#define FUNCTION_SIZE(name)
#else
#define SYMBOL(name) name
#define HIDDEN(name) .hidden SYMBOL(name)
#define FUNCTION_TYPE(name) .type SYMBOL(name), %function
#define FUNCTION_SIZE(name) .size SYMBOL(name), . - SYMBOL(name)
#endif

    .text
    .globl SYMBOL(fibra_start_aarch64_aapcs)
    HIDDEN(fibra_start_aarch64_aapcs)
    FUNCTION_TYPE(fibra_start_aarch64_aapcs)
    .p2align 4
SYMBOL(fibra_start_aarch64_aapcs):
    // Open this function's unwind entry (FDE; on Mach-O the assembler marks its compact
    // unwind entry as "see DWARF", since the rules below have no compact encoding).
    .cfi_startproc
    // Unwinding out of this frame lands in the parent, in the middle of its resume
    // sequence. Its saved sp is in the link slot at top - 16 = sp + 32 (sp is top - 48
    // here and does not move before the call). The parent's frame as the compiler sees
    // it starts 32 bytes above its saved sp, past the switch frame, so
    // CFA = [sp + 32] + 32:
    //   DW_CFA_def_cfa_expression, length 5,
    //   DW_OP_breg31 (sp) +32, DW_OP_deref, DW_OP_plus_uconst 32
    .cfi_escape 0x0f, 5, 0x8f, 0x20, 0x06, 0x23, 0x20
    // The parent's resume address is at CFA - 16 (DWARF column 30, lr, is the
    // return-address column on aarch64).
    .cfi_offset 30, -16
    // The parent's x19 (DWARF 19) and x29 (DWARF 29) sit at the bottom of its frame.
    .cfi_offset 19, -32
    .cfi_offset 29, -24
    // x16 = entry function, x1 = its data (second argument); x0 already holds the input.
    ldp x16, x1, [sp]
    // End the frame-pointer chain here: the x29 we arrived with is the parent's, and
    // stays valid only until the parent returns from this resume.
    mov x29, xzr
    // Call entry(input = x0, data = x1). sp = top - 48 is 16-byte aligned. blr leaves
    // the return address in lr, which makes this frame appear in backtraces between
    // the coroutine body and the parent.
    blr x16
    // The entry function switches away for the last time and never returns here; if it
    // ever did, trap (SIGTRAP) rather than run off into whatever follows.
    brk #0xf1b
    // Close the unwind entry: it covers every instruction above, including the brk that
    // follows the call (an unwinder looks up the return address minus one).
    .cfi_endproc
    FUNCTION_SIZE(fibra_start_aarch64_aapcs)
