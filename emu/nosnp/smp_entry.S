/*
 * The test image's AP start without SNP: the real-mode trampoline an AP runs after
 * INIT-SIPI-SIPI (copied to NOSNP_TRAMPOLINE_BASE below 1 MiB by emu/nosnp/smp.c), and
 * the interrupt entries of the wake-up IPI that ends an AP's HLT.
 */
/* NOSNP_TRAMPOLINE_BASE of nosnp.h (the STARTUP IPI's vector is this >> 12). */
#define TRAMPOLINE_BASE 0x8000
/* The address a label of the trampoline has once it is copied to TRAMPOLINE_BASE. */
#define T(label) ((label) - nosnp_trampoline_start + TRAMPOLINE_BASE)
#define CR0_PE 0x1
#define CR0_PG_WP 0x80010000
#define CR4_PAE 0x20
#define MSR_EFER 0xC0000080
#define EFER_LME 0x100

/*
 * Real mode at TRAMPOLINE_BASE (CS = TRAMPOLINE_BASE >> 4, IP = 0), interrupts off: to
 * protected mode with the trampoline's GDT, then PAE, the BSP's PML4 (CR3 below 4 GiB),
 * EFER.LME and paging: long mode; then 64-bit code jumps to the image's AP entry with the
 * stack and cpu index the BSP left in the parameters below.
 */
	.section .rodata
	.balign 16
	.globl nosnp_trampoline_start
nosnp_trampoline_start:
	.code16
	cli
	cld
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl T(tramp_gdt_desc)
	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	ljmpl $0x08, $T(tramp_pm32)

	.code32
tramp_pm32:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl T(tramp_cr3), %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $CR0_PG_WP, %eax
	movl %eax, %cr0
	ljmp $0x18, $T(tramp_lm64)

	.code64
tramp_lm64:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movq T(tramp_stack), %rsp
	movl T(tramp_cpu), %edi
	movq T(tramp_entry), %rax
	jmpq *%rax

	.balign 8
tramp_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: flat 32-bit code */
	.quad 0x00cf92000000ffff	/* 0x10: flat data */
	.quad 0x00af9a000000ffff	/* 0x18: 64-bit code */
tramp_gdt_end:
tramp_gdt_desc:
	.word tramp_gdt_end - tramp_gdt - 1
	.long T(tramp_gdt)

/* Filled by the BSP before each SIPI (struct nosnp_trampoline_params in smp.c). */
	.balign 8
	.globl nosnp_trampoline_params
nosnp_trampoline_params:
tramp_cr3:
	.quad 0
tramp_entry:
	.quad 0
tramp_stack:
	.quad 0
tramp_cpu:
	.quad 0
	.globl nosnp_trampoline_end
nosnp_trampoline_end:

/*
 * The wake-up IPI: acknowledge it (EOI) and return; the AP's HLT is over and it looks
 * for work. The frame leaves RSP 8 modulo 16; nine pushes make the call aligned.
 */
	.section .text
	.code64
	.globl nosnp_wake_isr
nosnp_wake_isr:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	cld
	call nosnp_lapic_eoi
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	iretq

/* The local APIC's spurious vector: no EOI. */
	.globl nosnp_spurious_isr
nosnp_spurious_isr:
	iretq

	.section .note.GNU-stack, "", @progbits
