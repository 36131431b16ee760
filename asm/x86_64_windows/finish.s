// Coroutine -> parent, for the last time. In: rcx = value, r8 = coroutine stack top.
// Nothing is saved: this stack is never resumed again.
    xor edx, edx                    // a null sp tells the parent the coroutine has finished
    mov rax, [r8 - 16]              // the parent's rsp, saved by its resume in the link area
    mov r9d, dword ptr [rax - 56]   // load the parent's record, just below that rsp
    mov dword ptr gs:[0x1748], r9d
    mov r9, [rax - 48]
    mov gs:[0x1478], r9
    mov r9, [rax - 40]
    mov gs:[0x10], r9
    mov r9, [rax - 32]
    mov gs:[0x08], r9
    mov r9, [rax - 24]
    mov gs:[0x00], r9
    mov rbx, [rax - 16]
    mov rbp, [rax - 8]
    mov r9, [rax - 64]              // the parent's resume address
    mov rsp, rax                    // switch to the parent's stack, its record popped
    jmp r9
