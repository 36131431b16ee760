// fibra context switching for x86-64, Microsoft x64 ABI (Windows).
//
// This file is assembled by build.rs (x86_64-w64-mingw32-gcc / GNU as, COFF output). It
// holds the coroutine start trampoline and its SEH unwind info. The hot switch sequences
// live beside it in x86_64_windows/*.s and are pulled into Rust with
// `asm!(include_str!(..))`, so that the compiler saves only the registers that are live
// at each call site instead of all of them.
//
// Register convention at every switch (both directions):
//   rcx  value handed across the switch (a pointer, or 0 for "unwind now"); it is also
//        the first argument register, so the trampoline passes it on to `entry` as is
//   rdx  the coroutine's saved stack pointer (0 after the coroutine has finished)
//   r8   the coroutine's stack top (the link area lives just below it)
//   rax, r9  scratch
// Callee-saved under Microsoft x64: rbx, rbp, rdi, rsi, r12-r15, xmm6-xmm15, rsp (+ MXCSR
// and x87 control words). rdi, rsi and r12-r15 are declared clobbered by the inline asm,
// and clobber_abi("win64") declares all of xmm0-xmm15 clobbered (the upper halves of the
// ymm registers are volatile, so Rust cannot call xmm6-xmm15 preserved), so the compiler
// spills only those that are live. rbx and rbp cannot be named as clobbers (LLVM reserves
// them), so the switch saves them by hand. MXCSR and the x87 control word are not
// switched: Rust code may not change the floating-point environment, and saving them
// costs more than the whole switch.
//
// Both directions end in an indirect `jmp`, not `ret`: a `ret` with no matching `call`
// would miss the return-stack predictor (see asm/x86_64_sysv.S for the measurement).
//
// The TEB (at gs:0) describes "the current stack" to Windows, and these fields must
// follow every switch, or the system works against the wrong stack:
//   gs:[0x00]    NtTib.ExceptionList      unused by x64 Windows itself, but wine chains
//                                         its internal handlers there and calls every
//                                         one whose address is below the faulting rsp:
//                                         the thread stack's entries must not be seen
//                                         from a coroutine stack (~0 ends the list)
//   gs:[0x08]    NtTib.StackBase          exception dispatch and RtlUnwindEx reject frames
//   gs:[0x10]    NtTib.StackLimit         outside [StackLimit, StackBase]; MSVC's __chkstk
//                                         probes only below StackLimit
//   gs:[0x1478]  DeallocationStack        the reservation base: the kernel's (and wine's)
//                                         guard-page stack-overflow logic measures from it
//   gs:[0x1748]  GuaranteedStackBytes     (32 bits) room promised to overflow handlers
//
// Each side that switches away pushes an 8-word record on its own stack and hands over
// rsp. The side switching *in* loads that record (TEB fields, rbx, rbp) before it moves
// rsp onto the other stack, then jumps to the resume address; the landing site has
// nothing left to restore.
//
//          higher addresses
//        +------------------------+
//        | rbp                    |  sp + 56
//        +------------------------+
//        | rbx                    |  sp + 48
//        +------------------------+
//        | ExceptionList          |  sp + 40
//        +------------------------+
//        | StackBase              |  sp + 32
//        +------------------------+
//        | StackLimit             |  sp + 24
//        +------------------------+
//        | DeallocationStack      |  sp + 16
//        +------------------------+
//        | GuaranteedStackBytes   |  sp + 8    (zero-extended to 64 bits)
//        +------------------------+
//        | resume address         |  sp + 0    <- saved stack pointer
//        +------------------------+
//
// A coroutine's stack, as prepared by init_stack in src/arch/x86_64_windows.rs; `top`
// is 16-byte aligned. The link area at the top is rewritten by every resume; the
// trampoline's unwind info describes it as a hardware machine frame (UWOP_PUSH_MACHFRAME),
// which is how an SEH unwinder, unable to follow a pointer the way DWARF's
// DW_OP_deref can, steps from the coroutine's frames into the frames that resumed it:
//
//        +------------------------+
//        | SS      (0, unused)    |  top - 8    -.
//        +------------------------+              |
//        | parent rsp             |  top - 16    |  machine frame: RSP. The parent's
//        +------------------------+              |  rsp at its resume; its record lies
//        | EFLAGS  (0, unused)    |  top - 24    |  just below that, at rsp - 64
//        +------------------------+              |
//        | CS      (0, unused)    |  top - 32    |
//        +------------------------+              |
//        | parent resume address  |  top - 40   -'  machine frame: RIP
//        +------------------------+
//        | parent rbp             |  top - 48   the parent's frame register (.seh_savereg)
//        +------------------------+
//        | home space for entry   |  top - 56 .. top - 80: entry's 32-byte shadow area
//        |  (4 words)             |
//        +------------------------+  <- top - 80: the trampoline's rsp (16-byte aligned)
//        | rbp slot: entry fn     |  top - 88   -.
//        | rbx slot: entry data   |  top - 96    |
//        | ExceptionList (~0)     |  top - 104   |
//        | StackBase              |  top - 112   |  the initial record, consumed by the
//        | StackLimit             |  top - 120   |  first resume; dead afterwards
//        | DeallocationStack      |  top - 128   |
//        | GuaranteedStackBytes   |  top - 136   |
//        | fibra_start address    |  top - 144  -'  <- initial saved stack pointer
//        +------------------------+
//
// The first resume loads the coroutine's TEB values from the record, rbx = entry data,
// rbp = entry fn, and jumps to fibra_start with rsp = top - 80.

// COFF symbol definitions: storage class 2 (external), type 32 (function: DT_FCN << 4).
#define FUNCTION_BEGIN(name) \
    .globl name;              \
    .def name;                \
    .scl 2;                   \
    .type 32;                 \
    .endef
#define SYMBOL(name) name

    .intel_syntax noprefix
    .text
    FUNCTION_BEGIN(SYMBOL(fibra_start_x86_64_windows))
    .p2align 4
SYMBOL(fibra_start_x86_64_windows):
    // Unwind info (.pdata/.xdata), written as the prologue that *would* have built this
    // frame. No instruction performs it: the frame is laid out by init_stack and resume,
    // so every code is at prologue offset 0 and applies at every address of the body.
    // An unwinder undoes the codes in reverse order, starting from rsp = top - 80:
    .seh_proc SYMBOL(fibra_start_x86_64_windows)
    // 3. (undone last) A machine frame at the unwinder's rsp: RIP = [rsp], RSP = [rsp + 24].
    //    That is the parent's resume address and rsp, so the walk continues in the
    //    parent's frame, exactly where the compiler's unwind info for it expects to be
    //    (inside the resume asm, with the rsp the function body runs at).
    .seh_pushframe
    // 2. Below the machine frame: 40 bytes (the rbp slot and entry's home space).
    //    Undoing it moves the unwinder's rsp from top - 80 up to the frame at top - 40.
    .seh_stackalloc 40
    // 1. (undone first) rbp at [rsp + 32] = top - 48: the parent's frame pointer, which
    //    the parent's own unwind info needs if it addresses its frame through rbp.
    .seh_savereg rbp, 32
    .seh_endprologue
    // Second argument of the entry function: its data pointer, from the rbx slot.
    mov rdx, rbx
    // Call entry(input = rcx, data = rdx). rsp = top - 80 is 16-byte aligned, as the ABI
    // requires at a call, and the 32 bytes above it are entry's home space. The call's
    // return address makes this frame appear in backtraces between the coroutine body
    // and the parent.
    call rbp
    // The entry function switches away for the last time and never returns here. The
    // return address points at this ud2, still inside this function's unwind range.
    ud2
    .seh_endproc
