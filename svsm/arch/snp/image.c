/*
 * The program of the production image once booted. On SNP hardware: serve the guest
 * (hw_request_loop). Without SNP: boot the SVSM on the emulated machine, let the guest
 * stand-in make a few calls, check the invariants, print a summary and leave QEMU.
 */
#include <svsm/core.h>
#include <svsm/log.h>
#include <svsm/mm.h>
#include <svsm/svsm_abi.h>

#include "guest.h"
#include "oracle.h"
#include "snp.h"

static bool image_check(const char *what, bool ok)
{
	serial_printf("  %s: %s\n", what, ok ? "ok" : "FAILED");
	return ok;
}

void image_run(void)
{
	static struct emu_guest g;
	struct emu_config cfg;
	struct oracle_state o;
	struct guest_regs r;
	char err[160];
	bool ok = true;

	if (boot_snp_active()) {
		hw_request_loop();
	}
	u64 t0 = clock_ns();
	nosnp_config_default(&cfg);
	struct emu_machine *m = nosnp_machine_boot(&cfg, err, sizeof(err));
	if (!m) {
		serial_printf("svsm: boot on the no-SNP platform failed: %s\n", err);
		nosnp_exit(NOSNP_EXIT_FAIL);
	}
	u64 t_boot = clock_ns() - t0;
	serial_printf("svsm: SVSM %s booted on the no-SNP platform (%llu MiB emulated, %llu us)\n",
		      SVSM_VERSION_STRING, (unsigned long long)(cfg.mem_size >> 20),
		      (unsigned long long)(t_boot / 1000));
	ok &= image_check("guest driver attached", guest_init(&g, m) == 0);
	oracle_init(&o, m);
	ok &= image_check("QUERY_PROTOCOL core v1",
			guest_svsm(&g, SVSM_PROTOCOL_CORE, SVSM_CORE_QUERY_PROTOCOL, 1, 0, 0, &r) == SVSM_SUCCESS &&
				r.rcx == ((1ull << 32) | 1));
	u64 pages = guest_alloc_pages(&g, 16);
	ok &= image_check("PVALIDATE of 16 pages through the SVSM", pages != 0);
	ok &= image_check("PVALIDATE rescind", guest_pvalidate_range(&g, pages, 16, false) == SVSM_SUCCESS);
	char report[512];
	ok &= image_check("invariant oracle", oracle_check(&o, m, report, sizeof(report)) == 0);
	struct mm_stats st;
	mm_get_stats(&st);
	serial_printf("svsm: %llu calls, %llu page-state changes, %llu RMP validations, heap in use %llu bytes\n",
		      (unsigned long long)g.calls, (unsigned long long)m->stats.exits[EXIT_MSR_PSC],
		      (unsigned long long)m->rmp.stats.validate, (unsigned long long)st.heap.in_use);
	serial_printf("svsm: %s\n", ok ? "no-SNP self-check passed" : "no-SNP self-check FAILED");
	nosnp_exit(ok ? NOSNP_EXIT_PASS : NOSNP_EXIT_FAIL);
}
