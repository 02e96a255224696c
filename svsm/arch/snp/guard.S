/*
 * Guarded memory accesses: a fault at a labelled instruction (#PF, #GP, #VC "page not
 * validated") resumes at its fixup through __ex_table (idt.c), which returns -1. As in
 * the Linux user-copy routines, the faulting instruction itself is in the table, so a
 * fault at any byte of a guarded copy ends the copy instead of the SVSM.
 */
	.section .text

/* int guard_read8(const volatile u8 *p, u8 *out) */
	.globl guard_read8
guard_read8:
guard_read8_insn:
	movb (%rdi), %al
	movb %al, (%rsi)
	xorl %eax, %eax
	ret

/* int guard_write8(volatile u8 *p, u8 value) */
	.globl guard_write8
guard_write8:
guard_write8_insn:
	movb %sil, (%rdi)
	xorl %eax, %eax
	ret

/*
 * int guard_copy(void *dst, const void *src, size_t len): eight bytes at a time, then
 * the tail byte by byte, forward. Every load and every store is in __ex_table; on a
 * fault the bytes before it have been copied and -1 is returned.
 */
	.globl guard_copy
guard_copy:
	movq %rdx, %rcx
	shrq $3, %rcx
	jz 2f
1:
guard_copy_load8:
	movq (%rsi), %rax
guard_copy_store8:
	movq %rax, (%rdi)
	addq $8, %rsi
	addq $8, %rdi
	decq %rcx
	jnz 1b
2:	andq $7, %rdx
	jz 4f
3:
guard_copy_load1:
	movb (%rsi), %al
guard_copy_store1:
	movb %al, (%rdi)
	incq %rsi
	incq %rdi
	decq %rdx
	jnz 3b
4:	xorl %eax, %eax
	ret

/*
 * int guard_rmpquery(const void *va, u64 rdx_in, struct guard_rmpquery_out *out):
 * RMPQUERY (F3 0F 01 FD) with RAX = @va, RDX = @rdx_in; RAX, RDX and RCX as it left
 * them go to @out. A page that is not validated raises #VC 0x404 at the instruction.
 */
	.globl guard_rmpquery
guard_rmpquery:
	movq %rdx, %r8
	movq %rdi, %rax
	movq %rsi, %rdx
	xorl %ecx, %ecx
guard_rmpquery_insn:
	.byte 0xf3, 0x0f, 0x01, 0xfd
	movq %rax, 0(%r8)
	movq %rdx, 8(%r8)
	movq %rcx, 16(%r8)
	xorl %eax, %eax
	ret

/* The common fixup: the guarded instruction faulted. */
guard_fault:
	movl $-1, %eax
	ret

	.section __ex_table, "a"
	.balign 8
	.quad guard_read8_insn, guard_fault
	.quad guard_write8_insn, guard_fault
	.quad guard_copy_load8, guard_fault
	.quad guard_copy_store8, guard_fault
	.quad guard_copy_load1, guard_fault
	.quad guard_copy_store1, guard_fault
	.quad guard_rmpquery_insn, guard_fault

	.section .note.GNU-stack, "", @progbits
