// Parent -> coroutine. In: rdi = value, rsi = coroutine sp, rdx = coroutine stack top.
// Out (when the coroutine switches back): rdi = value, rsi = coroutine sp or 0 if finished.
// Stack layout: see asm/x86_64_sysv.S.
    push rbp                // rbp cannot be declared clobbered: save it by hand
    push rbx                // likewise rbx (reserved by LLVM)
    lea rax, [rip + 2f]     // where the coroutine's next switch lands us
    push rax
    mov [rdx - 16], rsp     // publish our sp in the link slot: suspend and CFI read it
    mov rsp, rsi            // switch to the coroutine's stack
    pop rax                 // its resume address (fibra_start the first time)
    jmp rax                 // an indirect jmp, not ret: ret would miss the return-stack predictor
2:
    pop rbx                 // back on our stack: restore what we pushed
    pop rbp
