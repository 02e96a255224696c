/*
 * Fuzz target "vtpm": the vTPM protocol (2) over the real engine (libtpms, linked by
 * mk/vtpm.mk), with raw request buffers and well-formed TPM commands.
 *
 * Input: the common header (fuzz_common.h), then operations until the input ends, each
 * chosen by a byte modulo 16 (0-6 raw, 7-13 command, 14 query, 15 manifest):
 *   0 raw       vcpu byte, buffer address (fuzz_value), length (u16 % 4200), bytes written
 *               there by the guest (may fault), then SVSM_VTPM_CMD with RCX = the address
 *   1 command   vcpu byte, buffer offset in the window (u16), platform command (u8: 0-239
 *               is 8, else the byte), locality (u8: 0-239 is 0), size skew (s8, added to
 *               the size field), tag (u8: bit 0 sessions, bit 1 raw u16 follows), command
 *               code (u8 index into TPM2 codes 0x11F.., 0xFF: raw u32 follows), handle count
 *               (u8 % 4, each a u32), parameter length (u8) and bytes; with sessions a
 *               password session (auth length u8 % 16 and bytes) goes between handles and
 *               parameters. The command is written at the buffer and SVSM_VTPM_CMD issued.
 *   2 query     vcpu byte, call id (u8: 0 QUERY, else the byte)
 *   3 manifest  the vTPM manifest as the attestation protocol would ask for it (size u16);
 *               at most once per input (an RSA-2048 EK derivation costs tens of ms)
 * Oracles besides the common ones (invariant oracle, rejected calls change nothing):
 * SVSM_VTPM_CMD succeeds only for platform command 8 at locality 0 with at most 4087
 * command bytes, and then the buffer holds a response of 10..4092 bytes whose TPM
 * header agrees with its size; QUERY answers bit 8 and 0; a manifest is an RSA
 * TPMT_PUBLIC no larger than 1 KiB, or a documented error.
 *
 * The engine: libtpms is not part of the machine snapshot, so it is rolled back to a
 * checkpoint (manufactured, TPM2_Startup done, EK known) before every input that follows
 * one that reached it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <svsm/svsm_abi.h>
#include <svsm/vtpm.h>
#include <svsm/vtpm_engine.h>

#include "fuzz_common.h"
#include "guest.h"
#include "vtpm/engine.h"

#define FUZZ_VTPM_FIRST_CC 0x11Fu
#define FUZZ_VTPM_CC_COUNT 0x79u /* 0x11F..0x197: the TPM 2.0 command codes */

static struct vtpm_store *fuzz_vtpm_store;
/* FUZZ_VTPM_TRACE=1: one line per vTPM call on stderr (RAX, TPM response code), to check seeds. */
static bool fuzz_vtpm_trace;
static u64 fuzz_vtpm_commands_at_checkpoint;

static u32 fuzz_vtpm_vcpu(u8 sel)
{
	return sel % (FUZZ_MAX_EXTRA_VCPUS + 2);
}

static u32 le32(const u8 *p)
{
	return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static void put_le32(u8 *p, u32 v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (u8)(v >> (8 * i));
	}
}

static u32 be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | (u32)p[3];
}

/*
 * SVSM_VTPM_CMD on @apic with the buffer at @gpa, whose request the guest wrote as
 * {@cmd, @locality, @size} (@known: the request is known, i.e. it was written whole).
 */
static void fuzz_vtpm_cmd(u32 apic, u64 gpa, bool known, u32 cmd, u8 locality, u32 size)
{
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_VTPM, SVSM_VTPM_CMD), .rcx = gpa};

	int st = fuzz_call(apic, &r, false);
	if (fuzz_vtpm_trace) {
		u8 t[10] = {0};
		guest_read(fuzz_g(), gpa + VTPM_RSP_HDR_SIZE, t, sizeof(t));
		fprintf(stderr, "vtpm: cmd %u loc %u size %u at %llx: status %d rax %llx tpm rc %x\n", cmd, locality, size,
			(unsigned long long)gpa, st, (unsigned long long)r.rax, be32(t + 6));
	}
	if (st != GUEST_OK || (u32)r.rax != SVSM_SUCCESS) {
		return;
	}
	if (known && (cmd != VTPM_PLATFORM_SEND_COMMAND || locality != 0 || size > VTPM_MAX_COMMAND)) {
		fuzz_finding("vTPM command accepted: platform command %u, locality %u, size %u", cmd, locality, size);
	}
	u8 hdr[VTPM_RSP_HDR_SIZE + VTPM_TPM_HEADER_SIZE];
	if (guest_read(fuzz_g(), gpa, hdr, sizeof(hdr)) != 0) {
		/* A VMPL1 read the caller (perhaps at another VMPL) could do: nothing to check. */
		return;
	}
	u32 rsp = le32(hdr);
	if (rsp < VTPM_TPM_HEADER_SIZE || rsp > VTPM_MAX_RESPONSE || be32(hdr + 4 + 2) != rsp) {
		fuzz_finding("vTPM response of %u bytes with TPM size %u", rsp, be32(hdr + 6));
	}
}

static void fuzz_vtpm_raw(struct fuzz_in *in)
{
	static u8 buf[4200];
	u32 apic = fuzz_vtpm_vcpu(fuzz_u8(in));
	u64 gpa = fuzz_value(in);
	u16 len = fuzz_u16(in) % sizeof(buf);

	for (u16 i = 0; i < len; i++) {
		buf[i] = fuzz_u8(in);
	}
	bool known = len >= VTPM_REQ_HDR_SIZE && guest_write(fuzz_g(), gpa, buf, len) == 0;
	fuzz_vtpm_cmd(apic, gpa, known, le32(buf), buf[4], le32(buf + 5));
}

static void fuzz_vtpm_command(struct fuzz_in *in)
{
	static u8 req[VTPM_BUFFER_SIZE + 600];
	u32 apic = fuzz_vtpm_vcpu(fuzz_u8(in));
	u64 gpa = FUZZ_WINDOW + fuzz_u16(in) % (2 * PAGE_2M_SIZE);
	u8 pc = fuzz_u8(in), loc = fuzz_u8(in);
	int8_t skew = (int8_t)fuzz_u8(in);
	u8 tag_sel = fuzz_u8(in), cc_sel = fuzz_u8(in);
	u32 platform_cmd = pc < 240 ? VTPM_PLATFORM_SEND_COMMAND : pc;
	u8 locality = loc < 240 ? 0 : loc;
	u16 tag = tag_sel & 1 ? 0x8002 : 0x8001;
	u32 cc = FUZZ_VTPM_FIRST_CC + cc_sel % FUZZ_VTPM_CC_COUNT;

	if (tag_sel & 2) {
		tag = fuzz_u16(in);
	}
	if (cc_sel == 0xFF) {
		cc = fuzz_u32(in);
	}
	u8 *c = req + VTPM_REQ_HDR_SIZE;
	u32 n = 10;
	c[0] = (u8)(tag >> 8);
	c[1] = (u8)tag;
	c[6] = (u8)(cc >> 24);
	c[7] = (u8)(cc >> 16);
	c[8] = (u8)(cc >> 8);
	c[9] = (u8)cc;
	for (u8 h = fuzz_u8(in) % 4; h > 0; h--) {
		u32 v = fuzz_u32(in);
		for (int i = 0; i < 4; i++) {
			c[n++] = (u8)(v >> (24 - 8 * i));
		}
	}
	if (tag_sel & 1) {
		u8 alen = fuzz_u8(in) % 16;
		u32 area = 9u + alen;
		u8 auth[13] = {(u8)(area >> 24), (u8)(area >> 16), (u8)(area >> 8), (u8)area, 0x40, 0x00, 0x00, 0x09,
			       0, 0, 1, 0, alen};
		memcpy(c + n, auth, sizeof(auth));
		n += sizeof(auth);
		for (u8 i = 0; i < alen; i++) {
			c[n++] = fuzz_u8(in);
		}
	}
	for (u8 p = fuzz_u8(in); p > 0; p--) {
		c[n++] = fuzz_u8(in);
	}
	c[2] = (u8)(n >> 24);
	c[3] = (u8)(n >> 16);
	c[4] = (u8)(n >> 8);
	c[5] = (u8)n;
	u32 size = n + (u32)(s32)skew;
	put_le32(req, platform_cmd);
	req[4] = locality;
	put_le32(req + 5, size);
	bool known = guest_write(fuzz_g(), gpa, req, VTPM_REQ_HDR_SIZE + n) == 0;
	fuzz_vtpm_cmd(apic, gpa, known, platform_cmd, locality, size);
}

static void fuzz_vtpm_query(struct fuzz_in *in)
{
	u32 apic = fuzz_vtpm_vcpu(fuzz_u8(in));
	u8 id = fuzz_u8(in);
	struct guest_regs r = {.rax = SVSM_CALL(SVSM_PROTOCOL_VTPM, id < 128 ? SVSM_VTPM_QUERY : id), .rcx = ~0ull,
			       .rdx = ~0ull};

	if (fuzz_call(apic, &r, false) == GUEST_OK && id < 128 &&
	    ((u32)r.rax != SVSM_SUCCESS || r.rcx != BIT(8) || r.rdx != 0)) {
		fuzz_finding("vTPM QUERY answered rax %llx rcx %llx rdx %llx", (unsigned long long)r.rax,
			     (unsigned long long)r.rcx, (unsigned long long)r.rdx);
	}
}

struct fuzz_vtpm_manifest {
	u32 size;
	int result;
	u32 len;
	u8 buf[1024];
};

static void fuzz_vtpm_manifest_run(void *ctx)
{
	struct fuzz_vtpm_manifest *m = ctx;

	m->result = vtpm_manifest(m->buf, m->size, &m->len);
}

static void fuzz_vtpm_manifest(struct fuzz_in *in)
{
	struct fuzz_vtpm_manifest m = {.size = fuzz_u16(in) % 1025};

	fuzz_svsm_begin();
	bool terminated = fuzz_catch_terminate(fuzz_vtpm_manifest_run, &m);
	fuzz_svsm_end();
	if (terminated) {
		fuzz_finding("the manifest terminated the machine");
	}
	if (m.result == VTPM_MANIFEST_OK && (m.len < 2 || m.len > m.size || m.buf[0] != 0 || m.buf[1] != 1)) {
		fuzz_finding("manifest of %u bytes for a buffer of %u", m.len, m.size);
	}
	if (m.result == VTPM_MANIFEST_TOO_SMALL && m.len <= m.size) {
		fuzz_finding("manifest too small for %u bytes but needs %u", m.size, m.len);
	}
	if (m.result != VTPM_MANIFEST_OK && m.result != VTPM_MANIFEST_TOO_SMALL && m.result != VTPM_MANIFEST_TPM_ERROR) {
		fuzz_finding("manifest result %d", m.result);
	}
}

/*
 * After the boot, before the snapshot: the guest's TPM2_Startup (given to the engine
 * directly) and a first manifest, so that every input starts from a started TPM whose EK
 * the SVSM already knows (deriving an RSA-2048 EK costs tens of milliseconds; inputs
 * still reach that path through TPM2_ChangeEPS). Then the checkpoint of libtpms.
 */
static int fuzz_vtpm_after_boot(void)
{
	u8 startup[VTPM_BUFFER_SIZE] = {0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0};
	u8 ek[1024];
	u32 len = 0;

	if (!vtpm_present() || vtpm_engine_execute(startup, 12, sizeof(startup), &len) != VTPM_ENGINE_OK || len != 10 ||
	    startup[9] != 0 || vtpm_manifest(ek, sizeof(ek), &len) != VTPM_MANIFEST_OK || emu_vtpm_checkpoint() != 0) {
		return -1;
	}
	struct emu_vtpm_stats s;
	emu_vtpm_get_stats(&s);
	fuzz_vtpm_commands_at_checkpoint = s.commands;
	return 0;
}

static int fuzz_vtpm_init(void)
{
	struct fuzz_machine_opts o = {.boot_per_input = false, .termination_ok = false, .after_boot = fuzz_vtpm_after_boot};
	const char *trace = getenv("FUZZ_VTPM_TRACE");

	fuzz_vtpm_trace = trace && trace[0] == '1';
	fuzz_vtpm_store = vtpm_store_mem_new();
	if (!fuzz_vtpm_store) {
		return -1;
	}
	emu_vtpm_set_store(fuzz_vtpm_store);
	return fuzz_machine_init(&o);
}

static void fuzz_vtpm_run(const u8 *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct emu_vtpm_stats s;

	emu_vtpm_get_stats(&s);
	if (s.commands != fuzz_vtpm_commands_at_checkpoint) {
		if (emu_vtpm_rollback() != 0) {
			fuzz_finding("libtpms could not go back to its checkpoint");
		}
		emu_vtpm_get_stats(&s);
		fuzz_vtpm_commands_at_checkpoint = s.commands;
	}
	if (fuzz_begin(&in)) {
		bool manifest_done = false;
		for (unsigned ops = 0; fuzz_more(&in) && ops < 32; ops++) {
			u8 op = fuzz_u8(&in) % 16;
			if (op < 7) {
				fuzz_vtpm_raw(&in);
			} else if (op < 14) {
				fuzz_vtpm_command(&in);
			} else if (op == 14) {
				fuzz_vtpm_query(&in);
			} else if (!manifest_done) {
				fuzz_vtpm_manifest(&in);
				manifest_done = true;
			}
		}
	}
	fuzz_end();
}

const struct fuzz_target fuzz_target = {
	.name = "vtpm",
	.init = fuzz_vtpm_init,
	.run = fuzz_vtpm_run,
};
