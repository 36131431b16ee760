// Coroutine -> parent, for the last time. In: x0 = value, x2 = coroutine stack top.
// Nothing is saved: this stack is never resumed again.
    ldur x16, [x2, #-16]        // the parent's saved sp, from the link slot
    mov x1, xzr                 // a null sp tells the parent the coroutine has finished
    ldr x17, [x16, #16]         // the parent's resume address
    mov sp, x16                 // switch to the parent's stack
    br x17                      // land in the parent's resume sequence, which pops its frame
