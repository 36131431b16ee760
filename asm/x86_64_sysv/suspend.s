// Coroutine -> parent. In: rdi = value, rdx = coroutine stack top.
// Out (when resumed): rdi = value from the parent (0 means "unwind now").
// Stack layout: see asm/x86_64_sysv.S.
    push rbp                // save what inline asm cannot declare clobbered
    push rbx
    lea rax, [rip + 2f]     // where the parent's next resume lands us
    push rax
    mov rsi, rsp            // hand our sp to the parent: it keeps it for the next resume
    mov rsp, [rdx - 16]     // switch to the parent's stack, saved by its resume
    pop rax                 // the parent's resume address
    jmp rax
2:
    pop rbx                 // resumed: restore what we pushed
    pop rbp
