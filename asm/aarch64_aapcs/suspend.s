// Coroutine -> parent. In: x0 = value, x2 = coroutine stack top.
// Out (when resumed): x0 = value from the parent (0 means "unwind now").
// Stack layout: see asm/aarch64_aapcs.S.
    ldur x16, [x2, #-16]        // the parent's saved sp, from the link slot its resume wrote
    adr x17, 2f                 // where the parent's next resume lands us
    stp x19, x29, [sp, #-32]!   // save what inline asm cannot declare clobbered, opening our switch frame
    str x17, [sp, #16]          // our resume address above them
    ldr x17, [x16, #16]         // the parent's resume address
    mov x1, sp                  // hand our sp to the parent: it keeps it for the next resume
    mov sp, x16                 // switch to the parent's stack
    br x17                      // an indirect br, not ret (see resume.s)
2:
    ldp x19, x29, [sp], #32     // resumed: restore what we saved and pop the frame
