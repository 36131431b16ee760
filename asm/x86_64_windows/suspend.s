// Coroutine -> parent. In: rcx = value, r8 = coroutine stack top.
// Out (when resumed): rcx = value from the parent (0 means "unwind now").
// Record and link-area layout: see asm/x86_64_windows.S.
    lea rax, [rip + 2f]             // where the parent's next resume lands us
    push rbp                        // save what inline asm cannot declare clobbered
    push rbx
    push qword ptr gs:[0x00]        // our TEB ExceptionList
    push qword ptr gs:[0x08]        // StackBase
    push qword ptr gs:[0x10]        // StackLimit
    push qword ptr gs:[0x1478]      // DeallocationStack
    mov r9d, dword ptr gs:[0x1748]  // GuaranteedStackBytes is 32 bits wide
    push r9
    push rax                        // resume address: rsp now is our saved sp
    mov rdx, rsp                    // hand our sp to the parent: it keeps it for the next resume
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
2:
