/*
 * Guarded memory accesses: a fault at the labelled instruction (#PF, #GP, #VC "page not
 * validated") resumes at its fixup through __ex_table (idt.c), which returns -1.
 */
	.section .text
	.globl guard_read8
guard_read8:
guard_read8_insn:
	movb (%rdi), %al
	movb %al, (%rsi)
	xorl %eax, %eax
	ret
guard_read8_fixup:
	movl $-1, %eax
	ret

	.globl guard_write8
guard_write8:
guard_write8_insn:
	movb %sil, (%rdi)
	xorl %eax, %eax
	ret
guard_write8_fixup:
	movl $-1, %eax
	ret

	.section __ex_table, "a"
	.balign 8
	.quad guard_read8_insn, guard_read8_fixup
	.quad guard_write8_insn, guard_write8_fixup

	.section .note.GNU-stack, "", @progbits
