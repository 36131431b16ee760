// Parent -> coroutine. In: x0 = value, x1 = coroutine sp, x2 = coroutine stack top.
// Out (when the coroutine switches back): x0 = value, x1 = coroutine sp or 0 if finished.
// Stack layout: see asm/aarch64_aapcs.S.
    ldr x17, [x1, #16]          // the coroutine's resume address (fibra_start the first time); loaded first to hide its latency
    adr x16, 2f                 // where the coroutine's next switch lands us
    stp x19, x29, [sp, #-32]!   // x19 and x29 cannot be declared clobbered: save them by hand, opening our 32-byte switch frame
    str x16, [sp, #16]          // our resume address above them
    mov x16, sp                 // (sp cannot be the source of a store)
    stur x16, [x2, #-16]        // publish our sp in the link slot: suspend, finish and the CFI read it
    mov sp, x1                  // switch to the coroutine's stack
    br x17                      // an indirect br, not ret: ret would mispredict from the return-stack predictor
2:
    ldp x19, x29, [sp], #32     // back on our stack: restore what we saved and pop the frame
