// Parent -> coroutine. In: rcx = value, rdx = coroutine sp, r8 = coroutine stack top.
// Out (when the coroutine switches back): rcx = value, rdx = coroutine sp or 0 if finished.
// Record and link-area layout: see asm/x86_64_windows.S.
    lea rax, [rip + 2f]             // where the coroutine's next switch lands us
    mov [r8 - 40], rax              // link area: machine frame RIP, for the unwinder
    mov [r8 - 16], rsp              // machine frame RSP: suspend finds our record below it
    mov [r8 - 48], rbp              // our frame register, for the unwinder
    push rbp                        // rbp cannot be declared clobbered: save it by hand
    push rbx                        // likewise rbx (reserved by LLVM)
    push qword ptr gs:[0x00]        // our TEB ExceptionList (wine chains its own handlers there)
    push qword ptr gs:[0x08]        // StackBase
    push qword ptr gs:[0x10]        // StackLimit
    push qword ptr gs:[0x1478]      // DeallocationStack
    mov r9d, dword ptr gs:[0x1748]  // GuaranteedStackBytes is 32 bits wide
    push r9
    push rax                        // resume address: rsp now is our saved sp
    mov r9d, dword ptr [rdx + 8]    // load the coroutine's record: its TEB fields
    mov dword ptr gs:[0x1748], r9d
    mov r9, [rdx + 16]
    mov gs:[0x1478], r9
    mov r9, [rdx + 24]
    mov gs:[0x10], r9
    mov r9, [rdx + 32]
    mov gs:[0x08], r9
    mov r9, [rdx + 40]
    mov gs:[0x00], r9
    mov rbx, [rdx + 48]             // its rbx and rbp (entry data and fn the first time)
    mov rbp, [rdx + 56]
    mov rax, [rdx]                  // its resume address (fibra_start the first time)
    lea rsp, [rdx + 64]             // switch to the coroutine's stack, record popped
    jmp rax                         // an indirect jmp, not ret: ret would miss the return-stack predictor
2:
