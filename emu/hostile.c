/* The catalogue of hostile-host misbehaviours (see hostile.h). */
#include <stdio.h>
#include <string.h>

#include <svsm/svsm_abi.h>

#include "hostile.h"

/* Answers of the decide hook, for the misbehaviours that change one answer of the host. */
enum {
	HD_AP_LIE = 1u << 0,          /* AP creation: success without doing it */
	HD_EXITINFO_GARBAGE = 1u << 1, /* SW_EXITINFO1/2 of every GHCB exit: garbage */
	HD_PSC_BEYOND_END = 1u << 2,   /* PSC cur_entry written back past the end */
	HD_MSR_PSC_PRETEND = 1u << 3,  /* MSR page state change: "done" without changing the RMP */
};

/*
 * The decide hook of the catalogue. It keeps its flags in the hook's context (a u32 inside
 * struct emu_hostile would need a new field for each): the context is this static word,
 * one machine per process.
 */
static u32 hostile_decisions;

static u64 hostile_decide(void *ctx, enum emu_hostile_point point, u64 proper)
{
	u32 d = *(const u32 *)ctx;

	switch (point) {
	case HOSTILE_AP_CREATION:
		return (d & HD_AP_LIE) ? 2 : proper;
	case HOSTILE_NAE_EXITINFO1:
		return (d & HD_EXITINFO_GARBAGE) ? 0x5A5A5A5A5A5A5A5Aull : proper;
	case HOSTILE_NAE_EXITINFO2:
		return (d & HD_EXITINFO_GARBAGE) ? 0xA5A5A5A5A5A5A5A5ull : proper;
	case HOSTILE_PSC_CUR_ENTRY:
		return (d & HD_PSC_BEYOND_END) ? proper + 7 : proper;
	case HOSTILE_MSR_PSC_DO:
		return (d & HD_MSR_PSC_PRETEND) ? 0 : proper;
	default:
		return proper;
	}
}

static void hostile_flag(struct emu_hostile *h, u32 flag)
{
	if (h->decide != hostile_decide) {
		hostile_decisions = 0; /* a new machine: forget the last one's answers */
	}
	hostile_decisions |= flag;
	h->decide = hostile_decide;
	h->decide_ctx = &hostile_decisions;
}

/* Add a planned take (the first free slot; the catalogue never needs more than EMU_TAKES_MAX). */
static void hostile_take(struct emu_hostile *h, enum emu_take_target target, enum emu_take_op op, u64 call,
			 enum emu_opp kind, u32 at)
{
	for (unsigned i = 0; i < EMU_TAKES_MAX; i++) {
		if (!h->takes[i].armed) {
			h->takes[i] = (struct emu_take){
				.armed = true, .target = target, .op = op, .call = call, .kind = kind, .at = at};
			return;
		}
	}
}

#define CORE_CALL(c) SVSM_CALL(SVSM_PROTOCOL_CORE, (c))

static void arm_boot_msr_garbage(struct emu_hostile *h)
{
	h->msr_garbage = true;
}
static void arm_boot_psc_fail(struct emu_hostile *h)
{
	h->psc_fail = true;
}
static void arm_boot_register_bad_echo(struct emu_hostile *h)
{
	h->register_bad_echo = true;
}
static void arm_boot_ap_create_fail(struct emu_hostile *h)
{
	h->ap_create_fail = true;
}
static void arm_run_vmpl_fail(struct emu_hostile *h)
{
	h->run_vmpl_fail = true;
}
static void arm_msr_garbage(struct emu_hostile *h)
{
	h->msr_garbage = true;
}
static void arm_psc_fail(struct emu_hostile *h)
{
	h->psc_fail = true;
}
static void arm_psc_pretend(struct emu_hostile *h)
{
	hostile_flag(h, HD_MSR_PSC_PRETEND);
}
static void arm_register_bad_echo(struct emu_hostile *h)
{
	h->register_bad_echo = true;
}
static void arm_ioio_fail(struct emu_hostile *h)
{
	h->ioio_fail = true;
}
static void arm_exitinfo_garbage(struct emu_hostile *h)
{
	hostile_flag(h, HD_EXITINFO_GARBAGE);
}
static void arm_ap_create_lie(struct emu_hostile *h)
{
	hostile_flag(h, HD_AP_LIE);
}
static void arm_psc_partial(struct emu_hostile *h)
{
	h->psc_partial = 3;
}
static void arm_psc_no_progress(struct emu_hostile *h)
{
	h->psc_no_progress = true;
}
static void arm_psc_beyond_end(struct emu_hostile *h)
{
	hostile_flag(h, HD_PSC_BEYOND_END);
}
static void arm_take_svsm_map(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_SVSM_FIRST, TAKE_OP_SHARED, ~0ull, OPP_ANY, 0);
}
static void arm_reassign_svsm_map(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_SVSM_FIRST, TAKE_OP_REASSIGN, ~0ull, OPP_ANY, 0);
}
static void arm_take_svsm_vcpu(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_SVSM_VCPU, TAKE_OP_SHARED, ~0ull, OPP_ANY, 0);
}
static void arm_take_caller_vmsa(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_CALLER_VMSA, TAKE_OP_SHARED, ~0ull, OPP_ANY, 0);
}
static void arm_reassign_caller_vmsa(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_CALLER_VMSA, TAKE_OP_REASSIGN, ~0ull, OPP_ANY, 0);
}
static void arm_take_svsm_ghcb(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_SVSM_GHCB, TAKE_OP_REASSIGN, ~0ull, OPP_ANY, 0);
}
static void arm_take_caller_ca(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_CALLER_CA, TAKE_OP_SHARED, ~0ull, OPP_WRITE, 0);
}
static void arm_take_list_page(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_RCX, TAKE_OP_SHARED, CORE_CALL(SVSM_CORE_PVALIDATE), OPP_READ, 2);
}
static void arm_take_pvalidate_target(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_LIST_ENTRY, TAKE_OP_SHARED, CORE_CALL(SVSM_CORE_PVALIDATE), OPP_PVALIDATE, 0);
}
static void arm_reassign_pvalidate_target(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_LIST_ENTRY, TAKE_OP_REASSIGN, CORE_CALL(SVSM_CORE_PVALIDATE), OPP_RMPADJUST, 0);
}
static void arm_take_deposit_page(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_LIST_ENTRY, TAKE_OP_SHARED, CORE_CALL(SVSM_CORE_DEPOSIT_MEM), OPP_RMPADJUST, 0);
}
static void arm_take_withdraw_buffer(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_RCX, TAKE_OP_SHARED, CORE_CALL(SVSM_CORE_WITHDRAW_MEM), OPP_WRITE, 0);
}
static void arm_take_new_vmsa(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_RCX, TAKE_OP_SHARED, CORE_CALL(SVSM_CORE_CREATE_VCPU), OPP_RMPADJUST, 0);
}
static void arm_take_new_ca(struct emu_hostile *h)
{
	hostile_take(h, TAKE_TARGET_RDX, TAKE_OP_SHARED, CORE_CALL(SVSM_CORE_CREATE_VCPU), OPP_READ, 1);
}

#define T(fn) "hostile:test_" #fn

const struct hostile_entry hostile_entries[] = {
	/* At boot. */
	{"boot-msr-garbage", "every GHCB MSR-protocol answer carries a wrong response code",
	 "the SVSM finds no usable GHCB protocol and terminates (set 0, code 1) before serving anything",
	 HOSTILE_BOOT_REFUSED, T(boot_msr_garbage), true, arm_boot_msr_garbage},
	{"boot-psc-fail", "page state changes fail", "no GHCB page can be made shared: svsm_boot fails, nothing runs",
	 HOSTILE_BOOT_REFUSED, T(boot_psc_fail), true, arm_boot_psc_fail},
	{"boot-register-bad-echo", "GHCB registration answers with another page's GFN",
	 "the SVSM refuses the registration and does not start", HOSTILE_BOOT_REFUSED, T(boot_register_bad_echo), true,
	 arm_boot_register_bad_echo},
	{"boot-ap-create-fail", "SNP AP creation of the guest's startup VMSA is refused",
	 "svsm_boot fails: no guest vCPU is started", HOSTILE_BOOT_REFUSED, T(boot_ap_create_fail), true,
	 arm_boot_ap_create_fail},
	/* GHCB protocol, after boot. */
	{"run-vmpl-fail", "every run-VMPL request is refused",
	 "the guest's calls never reach the SVSM (the guest sees the hypervisor's error); nothing changes",
	 HOSTILE_CONTINUES, T(run_vmpl_fail), false, arm_run_vmpl_fail},
	{"msr-garbage", "MSR-protocol answers carry wrong response codes",
	 "the guest sees the error; a new vCPU's SVSM GHCB cannot be registered and that vCPU is served without one",
	 HOSTILE_CONTINUES, T(msr_garbage), false, arm_msr_garbage},
	{"psc-fail", "page state changes fail",
	 "a new vCPU gets no SVSM GHCB; its page is validated again and kept private; calls still work",
	 HOSTILE_CONTINUES, T(psc_fail), false, arm_psc_fail},
	{"psc-pretend", "MSR page state changes answer success without changing the RMP",
	 "the SVSM cannot map the page it was told is shared: no GHCB, page recovered; calls still work",
	 HOSTILE_CONTINUES, T(psc_pretend), false, arm_psc_pretend},
	{"register-bad-echo", "GHCB registration echoes another GFN",
	 "the new vCPU's GHCB is refused and its page recovered; calls still work", HOSTILE_CONTINUES,
	 T(register_bad_echo), false, arm_register_bad_echo},
	{"ioio-fail", "console port writes are refused", "log lines stay in the SVSM's ring buffer; calls still work",
	 HOSTILE_CONTINUES, T(ioio_fail), false, arm_ioio_fail},
	{"exitinfo-garbage", "SW_EXITINFO1/2 of every GHCB exit are garbage",
	 "every GHCB exit counts as failed (console output dropped); calls still work", HOSTILE_CONTINUES,
	 T(exitinfo_garbage), false, arm_exitinfo_garbage},
	{"ap-create-lie", "SNP AP creation answers success without doing anything",
	 "a deleted vCPU's own AP destroy is believed; the vCPU is gone from the SVSM either way", HOSTILE_CONTINUES,
	 T(ap_create_lie), false, arm_ap_create_lie},
	{"psc-partial", "GHCB page state changes do at most 3 entries per exit",
	 "the SVSM's client re-issues until every entry is done", HOSTILE_CONTINUES, T(psc_partial), false,
	 arm_psc_partial},
	{"psc-no-progress", "GHCB page state changes answer success without progress",
	 "the client stops with NO_PROGRESS instead of looping", HOSTILE_CONTINUES, T(psc_no_progress), false,
	 arm_psc_no_progress},
	{"psc-beyond-end", "GHCB page state changes write cur_entry past end_entry",
	 "the client rejects the answer (BAD_RESPONSE)", HOSTILE_CONTINUES, T(psc_beyond_end), false,
	 arm_psc_beyond_end},
	/* The host takes pages. */
	{"take-svsm-map", "makes the SVSM's first page (its ownership map) shared at the start of a call",
	 "the SVSM's next look at the map faults (#NPF): the machine terminates, no host byte is used",
	 HOSTILE_TERMINATED, T(take_svsm_map), false, arm_take_svsm_map},
	{"reassign-svsm-map", "makes that page shared and private again (not validated)",
	 "the next access raises #VC 0x404 in the SVSM: terminated", HOSTILE_TERMINATED, T(reassign_svsm_map), false,
	 arm_reassign_svsm_map},
	{"take-svsm-vcpu", "takes the SVSM page that holds its own state of the calling vCPU",
	 "the SVSM faults on its next use of that state: terminated", HOSTILE_TERMINATED, T(take_svsm_vcpu), false,
	 arm_take_svsm_vcpu},
	{"take-caller-vmsa", "makes the calling vCPU's VMSA shared during the call",
	 "the SVSM faults when it writes the results: terminated, nothing read from the page after the take",
	 HOSTILE_TERMINATED, T(take_caller_vmsa), false, arm_take_caller_vmsa},
	{"reassign-caller-vmsa", "makes that VMSA private again, not validated",
	 "#VC 0x404 on the SVSM's next access: terminated", HOSTILE_TERMINATED, T(reassign_caller_vmsa), false,
	 arm_reassign_caller_vmsa},
	{"take-svsm-ghcb", "makes the SVSM's GHCB private (guest-owned) behind its back",
	 "the SVSM's next GHCB write is a C=0 write to a private page (#NPF): terminated", HOSTILE_TERMINATED,
	 T(take_svsm_ghcb), false, arm_take_svsm_ghcb},
	{"take-caller-ca", "makes the caller's calling area shared just before the SVSM writes the result",
	 "the SVSM cannot release the call and says so in its log; its state is unchanged; the guest sees a fault",
	 HOSTILE_CONTINUES, T(take_caller_ca), false, arm_take_caller_ca},
	{"take-list-page", "makes a PVALIDATE list's page shared between the header and the entries",
	 "INVALID_ADDRESS; no entry done", HOSTILE_REFUSED, T(take_list_page), false, arm_take_list_page},
	{"take-pvalidate-target", "makes the page of the entry at next shared just before PVALIDATE",
	 "the instruction faults: INVALID_ADDRESS, next = that entry, the page's state is the host's",
	 HOSTILE_REFUSED, T(take_pvalidate_target), false, arm_take_pvalidate_target},
	{"reassign-pvalidate-target", "makes an entry's page private and not validated between check and rescind",
	 "RMPADJUST fails: an error for that entry, next = that entry, nothing else changed", HOSTILE_REFUSED,
	 T(reassign_pvalidate_target), false, arm_reassign_pvalidate_target},
	{"take-deposit-page", "makes a page being deposited shared between check and take",
	 "INVALID_ADDRESS; the page does not become the SVSM's", HOSTILE_REFUSED, T(take_deposit_page), false,
	 arm_take_deposit_page},
	{"take-withdraw-buffer", "makes the WITHDRAW buffer shared before the SVSM writes the list",
	 "INVALID_ADDRESS; every withdrawn page goes back to the SVSM, revoked", HOSTILE_REFUSED,
	 T(take_withdraw_buffer), false, arm_take_withdraw_buffer},
	{"take-new-vmsa", "makes the page offered as a new VMSA shared before the SVSM takes it",
	 "INVALID_ADDRESS; no vCPU, the page is the host's", HOSTILE_REFUSED, T(take_new_vmsa), false,
	 arm_take_new_vmsa},
	{"take-new-ca", "makes the new vCPU's calling area shared while the SVSM reads the VMSA",
	 "INVALID_ADDRESS; the VMSA page gets back exactly its masks", HOSTILE_REFUSED, T(take_new_ca), false,
	 arm_take_new_ca},
};

const unsigned hostile_entry_count = ARRAY_COUNT(hostile_entries);

const struct hostile_entry *hostile_find(const char *name)
{
	for (unsigned i = 0; i < hostile_entry_count; i++) {
		if (!strcmp(hostile_entries[i].name, name)) {
			return &hostile_entries[i];
		}
	}
	return NULL;
}

const char *hostile_outcome_name(enum hostile_outcome k)
{
	switch (k) {
	case HOSTILE_CONTINUES:
		return "continues";
	case HOSTILE_REFUSED:
		return "refused";
	case HOSTILE_TERMINATED:
		return "terminated";
	case HOSTILE_BOOT_REFUSED:
		return "does not boot";
	}
	return "?";
}

/* Call @fn(entry, ctx) for each name of the comma-separated list; -1 at the first unknown one. */
static int hostile_each(const char *names, char *err, size_t err_size,
			void (*fn)(const struct hostile_entry *e, void *ctx), void *ctx)
{
	const char *p = names;

	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char name[64];
		if (len == 0 || len >= sizeof(name)) {
			snprintf(err, err_size, "bad misbehaviour name in '%s' (try --hostile list)", names);
			return -1;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		const struct hostile_entry *e = hostile_find(name);
		if (!e) {
			snprintf(err, err_size, "unknown misbehaviour '%s' (try --hostile list)", name);
			return -1;
		}
		fn(e, ctx);
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

struct hostile_arm_ctx {
	struct emu_hostile *h;
	bool boot;
};

static void hostile_arm_one(const struct hostile_entry *e, void *p)
{
	struct hostile_arm_ctx *c = p;

	if (e->at_boot == c->boot) {
		e->arm(c->h);
	}
}

int hostile_arm_names(struct emu_hostile *h, const char *names, bool boot, char *err, size_t err_size)
{
	struct hostile_arm_ctx c = {h, boot};

	return hostile_each(names, err, err_size, hostile_arm_one, &c);
}

static void hostile_note_boot(const struct hostile_entry *e, void *p)
{
	*(bool *)p |= e->at_boot;
}

bool hostile_names_have_boot(const char *names)
{
	bool boot = false;
	char err[8];

	hostile_each(names, err, sizeof(err), hostile_note_boot, &boot);
	return boot;
}
