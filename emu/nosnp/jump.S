/*
 * jump_set / jump_long: setjmp and longjmp for the image (no libc), used to come back
 * from a termination of the emulated machine to the code that expected it.
 */
	.section .text
	.code64

/* int jump_set(struct jump_buf *b): RBX, RBP, R12-R15, RSP and the return address. */
	.globl jump_set
jump_set:
	movq %rbx, 0(%rdi)
	movq %rbp, 8(%rdi)
	movq %r12, 16(%rdi)
	movq %r13, 24(%rdi)
	movq %r14, 32(%rdi)
	movq %r15, 40(%rdi)
	leaq 8(%rsp), %rax
	movq %rax, 48(%rdi)
	movq (%rsp), %rax
	movq %rax, 56(%rdi)
	xorl %eax, %eax
	ret

/* void jump_long(struct jump_buf *b, int value): resume jump_set's caller with @value (1 if 0). */
	.globl jump_long
jump_long:
	movl %esi, %eax
	testl %eax, %eax
	jnz 1f
	movl $1, %eax
1:	movq 0(%rdi), %rbx
	movq 8(%rdi), %rbp
	movq 16(%rdi), %r12
	movq 24(%rdi), %r13
	movq 32(%rdi), %r14
	movq 40(%rdi), %r15
	movq 48(%rdi), %rsp
	jmpq *56(%rdi)

	.section .note.GNU-stack, "", @progbits
