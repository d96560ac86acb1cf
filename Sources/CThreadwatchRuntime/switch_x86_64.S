/*
 * x86-64 context switch (System V psABI): rbx rbp r12-r15, rsp, MXCSR
 * control bits and the x87 control word are callee-saved (psABI 3.2.1 and
 * 3.2.3); everything else the caller already assumes clobbered (rax and
 * rcx are used as scratch).
 * Saved frame, lowest address first (ABI, see twr_fiber_rec.saved_sp):
 *   +0 mxcsr (4) +4 x87 cw (2) +8 r15 +16 r14 +24 r13 +32 r12 +40 rbx +48 rbp +56 rip
 */
#if defined(__x86_64__)
    .text

/* void twr_context_switch(void **save, void *load) */
    .globl twr_context_switch
    .type twr_context_switch, @function
    .p2align 4
twr_context_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movl (%rsp), %eax
    movzwl 4(%rsp), %ecx
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    /* ldmxcsr and fldcw cost more than the whole rest of the switch and the
     * control words almost never differ between contexts: load on change. */
    cmpl (%rsp), %eax
    je 1f
    ldmxcsr (%rsp)
1:  cmpw 4(%rsp), %cx
    je 2f
    fldcw 4(%rsp)
2:  addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size twr_context_switch, .-twr_context_switch

/* First "return" of a new context lands here with r12 = fn, r13 = arg
 * (twr_context_make). rip is undefined in the CFI: unwinders stop here,
 * as they do at a thread's clone(). */
    .globl twr_context_trampoline
    .type twr_context_trampoline, @function
    .p2align 4
twr_context_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %r13, %rdi
    callq *%r12
    ud2
    .cfi_endproc
    .size twr_context_trampoline, .-twr_context_trampoline
#endif
    .section .note.GNU-stack,"",@progbits
