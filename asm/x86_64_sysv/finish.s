// Coroutine -> parent, for the last time. In: rdi = value, rdx = coroutine stack top.
// Nothing is saved: this stack is never resumed again.
    xor esi, esi            // a null sp tells the parent the coroutine has finished
    mov rsp, [rdx - 16]     // switch to the parent's stack
    pop rax                 // the parent's resume address
    jmp rax
