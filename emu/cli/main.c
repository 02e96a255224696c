/* svsm-emu: start an emulated SNP machine, boot the SVSM core in it, and drive it from a VMPL1 guest. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <svsm/core.h>
#include <svsm/log.h>
#include <svsm/mm.h>

#include "hostile.h"
#include "attest_cli.h"
#include "machine.h"
#include "paths.h"
#include "scenario.h"
#include "tpm_server.h"

#define EXIT_STEPS_FAILED 1
#define EXIT_USAGE 2
#define EXIT_MACHINE 3

struct options {
	const char *command;
	u64 mem_mib;
	const char *console;
	bool json;
	bool oracle;
	bool rmp_4k;
	enum log_level level;
	const char *hostile; /* misbehaviours to arm, or "list" */
	bool markdown;       /* --hostile list as a Markdown table */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: svsm-emu [OPTIONS] COMMAND\n"
		"\n"
		"Run the SVSM core on an emulated AMD SEV-SNP machine (RMP, VMPLs, GHCB hypervisor)\n"
		"and drive it from a VMPL1 guest that calls it the way Linux does.\n"
		"\n"
		"Commands:\n"
		"  run               boot a machine, run the default scenario and print a summary;\n"
		"                    exit status 0 only if every step behaved as the SVSM spec says\n"
		"  attest            attestation through the SVSM and the emulated PSP (attest --help)\n"
		"  verify            check an attestation like a relying party (verify --help)\n"
		"  measure           print the launch measurement without running (measure --help)\n"
		"  tpm-server        serve the SVSM's vTPM to TPM clients on loopback (TPM simulator\n"
		"                    protocol); 'svsm-emu tpm-server --help' for its options\n"
		"  paths             print where the images and fixtures are (--json: as JSON)\n"
		"  help              print this text\n"
		"  version           print the version\n"
		"\n"
		"Options:\n"
		"  --mem MIB         guest memory in MiB: even, 32..65536 (default %d)\n"
		"  --console FILE    write the SVSM's serial console to FILE ('-' = stderr, the default;\n"
		"                    'none' = discard)\n"
		"  --json            print the summary as JSON on stdout\n"
		"  --no-oracle       do not run the invariant oracle after each step\n"
		"  --rmp-4k          back guest memory with 4 KiB RMP entries only (no 2 MiB pages)\n"
		"  --log-level L     error, warn, info or debug (default info)\n"
		"  --hostile NAMES   a hostile host: arm the comma-separated misbehaviours and show, step\n"
		"                    by step, how the SVSM fails safe (exit 0 if it always did);\n"
		"                    '--hostile list' lists them (add --markdown for a table)\n"
		"  -h, --help        print this text\n"
		"  --version         print the version\n"
		"\n"
		"Exit status: 0 success, 1 a scenario step failed (with --hostile: the SVSM did not\n"
		"fail safe), 2 bad usage, 3 the machine could not start or was terminated.\n",
		EMU_DEFAULT_MEM_MIB);
}

static int parse_u64(const char *s, u64 *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-') {
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){.mem_mib = EMU_DEFAULT_MEM_MIB, .console = "-", .oracle = true, .level = LOG_INFO};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			o->command = "help";
		} else if (!strcmp(a, "--version")) {
			o->command = "version";
		} else if (!strcmp(a, "--json")) {
			o->json = true;
		} else if (!strcmp(a, "--no-oracle")) {
			o->oracle = false;
		} else if (!strcmp(a, "--rmp-4k")) {
			o->rmp_4k = true;
		} else if (!strcmp(a, "--markdown")) {
			o->markdown = true;
		} else if (!strcmp(a, "--hostile")) {
			if (!val) {
				fprintf(stderr, "svsm-emu: --hostile needs misbehaviour names or 'list'\n");
				return -1;
			}
			o->hostile = val;
			i++;
		} else if (!strcmp(a, "--mem")) {
			if (!val || parse_u64(val, &o->mem_mib) || o->mem_mib < 32 || o->mem_mib > 65536 || o->mem_mib % 2) {
				fprintf(stderr, "svsm-emu: --mem needs an even number of MiB between 32 and 65536\n");
				return -1;
			}
			i++;
		} else if (!strcmp(a, "--console")) {
			if (!val) {
				fprintf(stderr, "svsm-emu: --console needs a file name, '-' or 'none'\n");
				return -1;
			}
			o->console = val;
			i++;
		} else if (!strcmp(a, "--log-level")) {
			static const char *const names[] = {"error", "warn", "info", "debug"};
			int found = -1;
			for (int l = 0; val && l < 4; l++) {
				if (!strcmp(val, names[l])) {
					found = l;
				}
			}
			if (found < 0) {
				fprintf(stderr, "svsm-emu: --log-level must be error, warn, info or debug\n");
				return -1;
			}
			o->level = (enum log_level)found;
			i++;
		} else if (a[0] == '-') {
			fprintf(stderr, "svsm-emu: unknown option '%s' (try --help)\n", a);
			return -1;
		} else if (!o->command) {
			o->command = a;
		} else {
			fprintf(stderr, "svsm-emu: unexpected argument '%s' (try --help)\n", a);
			return -1;
		}
	}
	if (!o->command) {
		fprintf(stderr, "svsm-emu: no command given (try 'svsm-emu run' or --help)\n");
		return -1;
	}
	return 0;
}

/* JSON string with escapes. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c < 0x20) {
			fprintf(f, "\\u%04x", c);
		} else {
			fputc(c, f);
		}
	}
	fputc('"', f);
}

static const char *const protocol_names[5] = {"core", "attestation", "vtpm", "protocol-3", "other"};

static void print_mm_line(FILE *f, const char *name, const struct mm_allocator_stats *a)
{
	fprintf(f, "  %-6s in use %8llu KiB  free %8llu KiB  peak %8llu KiB  fragmentation %5.1f%%\n", name,
		(unsigned long long)(a->in_use >> 10), (unsigned long long)(a->free >> 10),
		(unsigned long long)(a->peak >> 10), a->fragmentation_permille / 10.0);
}

static void print_text(const struct scenario *s, const struct emu_machine *m, unsigned failed, const char *log)
{
	struct svsm_counters c;
	struct mm_stats mm;
	struct rmp_stats rs;
	const struct rmp_stats *r = &rs;

	rmp_stats_get(&m->rmp, &rs);
	svsm_get_counters(&c);
	mm_get_stats(&mm);
	printf("svsm-emu %s: %llu MiB guest memory, SVSM at %#llx (+%llu MiB), guest at VMPL%d\n\n",
	       SVSM_VERSION_STRING, (unsigned long long)(m->cfg.mem_size >> 20), (unsigned long long)m->cfg.svsm_base,
	       (unsigned long long)(m->cfg.svsm_size >> 20), m->cfg.guest_vmpl);
	printf("Scenario%s\n", s->hostile ? " (hostile host: SAFE = refused or unfinished without harm, TERM = the "
					  "SVSM stopped rather than use what the host changed)"
					: "");
	for (unsigned i = 0; i < s->step_count; i++) {
		const struct scenario_step *st = &s->steps[i];
		printf("  %s  %-30s %6llu calls %9.3f ms  %s\n", scenario_verdict_name(st->verdict), st->name,
		       (unsigned long long)st->calls, st->ns / 1e6, st->detail);
		if (st->verdict == STEP_FAIL || st->verdict == STEP_SAFE) {
			printf("        spec: %s\n", st->expect);
		}
	}
	for (unsigned i = 0; s->hostile && i < EMU_TAKES_MAX; i++) {
		const struct emu_take *t = &m->hostile.takes[i];
		if (t->armed) {
			if (t->done) {
				printf("  host: took page %#llx (%s)%s\n", (unsigned long long)t->taken_gpa,
				       t->op == TAKE_OP_SHARED ? "made shared" : "made private again, not validated",
				       t->refused ? " -- the RMP refused it" : "");
			} else {
				printf("  host: the planned take never came (no matching call)\n");
			}
		}
	}
	if (m->findings.count) {
		printf("  machine findings: %llu, the first: %s\n", (unsigned long long)m->findings.count,
		       m->findings.first);
	}
	printf("\nCalls by protocol\n");
	for (unsigned p = 0; p < 5; p++) {
		if (c.calls_by_protocol[p]) {
			printf("  %-12s %8llu\n", protocol_names[p], (unsigned long long)c.calls_by_protocol[p]);
		}
	}
	printf("  errors returned %llu, spurious entries %llu\n", (unsigned long long)c.errors,
	       (unsigned long long)c.spurious_entries);
	printf("\nVMGEXITs by kind\n");
	for (unsigned k = 0; k < EXIT_KIND_COUNT; k++) {
		if (emu_exits(m, k)) {
			printf("  %-24s %8llu\n", emu_exit_kind_names[k], (unsigned long long)emu_exits(m, k));
		}
	}
	printf("\nRMP transitions (4 KiB pages)\n");
	printf("  validated %llu, rescinded %llu, unchanged %llu, permission changes %llu\n",
	       (unsigned long long)r->validate, (unsigned long long)r->rescind, (unsigned long long)r->unchanged,
	       (unsigned long long)r->perm_changes);
	printf("  VMSA set %llu, VMSA cleared %llu, made private %llu, made shared %llu, PSMASH %llu, failures %llu\n",
	       (unsigned long long)r->vmsa_set, (unsigned long long)r->vmsa_clear, (unsigned long long)r->assign,
	       (unsigned long long)r->unassign, (unsigned long long)r->psmash, (unsigned long long)r->failures);
	printf("\nTime per call\n");
	if (s->query_loop_calls) {
		printf("  QUERY_PROTOCOL round trip (guest -> VMGEXIT -> SVSM -> guest): %.0f ns over %llu calls\n",
		       (double)s->query_loop_ns / (double)s->query_loop_calls, (unsigned long long)s->query_loop_calls);
	}
	printf("\nSVSM memory\n");
	print_mm_line(stdout, "pages", &mm.page);
	print_mm_line(stdout, "slab", &mm.slab);
	print_mm_line(stdout, "heap", &mm.heap);
	printf("\nInvariant oracle: %s\n", !s->check_oracle          ? "not run"
					   : s->oracle_violations == 0 ? "no violations"
								       : s->oracle_report);
	printf("\nSVSM log (ring buffer)\n");
	for (const char *p = log; *p;) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		printf("  %.*s\n", len, p);
		p += len + (nl ? 1 : 0);
	}
	if (s->hostile) {
		printf("\nResult: %s (%u unsafe step(s))\n", failed ? "NOT SAFE" : "the SVSM failed safe", failed);
	} else {
		printf("\nResult: %u of %u steps passed\n", s->step_count - failed, s->step_count);
	}
}

static void json_alloc(FILE *f, const char *name, const struct mm_allocator_stats *a, bool last)
{
	fprintf(f, "    \"%s\": {\"in_use\": %llu, \"free\": %llu, \"peak\": %llu, \"fragmentation_permille\": %u}%s\n",
		name, (unsigned long long)a->in_use, (unsigned long long)a->free, (unsigned long long)a->peak,
		a->fragmentation_permille, last ? "" : ",");
}

static void print_json(const struct scenario *s, const struct emu_machine *m, unsigned failed, const char *log)
{
	struct svsm_counters c;
	struct mm_stats mm;
	struct rmp_stats rs;
	const struct rmp_stats *r = &rs;
	FILE *f = stdout;

	rmp_stats_get(&m->rmp, &rs);

	svsm_get_counters(&c);
	mm_get_stats(&mm);
	fprintf(f, "{\n  \"version\": \"%s\",\n  \"mem_bytes\": %llu,\n  \"passed\": %s,\n", SVSM_VERSION_STRING,
		(unsigned long long)m->cfg.mem_size, failed ? "false" : "true");
	fprintf(f, "  \"steps\": [\n");
	for (unsigned i = 0; i < s->step_count; i++) {
		const struct scenario_step *st = &s->steps[i];
		fprintf(f, "    {\"name\": ");
		json_str(f, st->name);
		fprintf(f, ", \"passed\": %s, \"verdict\": \"%s\", \"calls\": %llu, \"ns\": %llu, \"expect\": ",
			st->passed ? "true" : "false", scenario_verdict_name(st->verdict), (unsigned long long)st->calls,
			(unsigned long long)st->ns);
		json_str(f, st->expect);
		fprintf(f, ", \"detail\": ");
		json_str(f, st->detail);
		fprintf(f, "}%s\n", i + 1 < s->step_count ? "," : "");
	}
	fprintf(f, "  ],\n  \"calls_by_protocol\": {");
	for (unsigned p = 0; p < 5; p++) {
		fprintf(f, "%s\"%s\": %llu", p ? ", " : "", protocol_names[p], (unsigned long long)c.calls_by_protocol[p]);
	}
	fprintf(f, "},\n  \"errors\": %llu,\n  \"spurious_entries\": %llu,\n  \"vmgexits\": {",
		(unsigned long long)c.errors, (unsigned long long)c.spurious_entries);
	for (unsigned k = 0; k < EXIT_KIND_COUNT; k++) {
		fprintf(f, "%s\"%s\": %llu", k ? ", " : "", emu_exit_kind_names[k], (unsigned long long)emu_exits(m, k));
	}
	fprintf(f,
		"},\n  \"rmp\": {\"validate\": %llu, \"rescind\": %llu, \"unchanged\": %llu, \"perm_changes\": %llu, "
		"\"vmsa_set\": %llu, \"vmsa_clear\": %llu, \"assign\": %llu, \"unassign\": %llu, \"psmash\": %llu, "
		"\"failures\": %llu},\n",
		(unsigned long long)r->validate, (unsigned long long)r->rescind, (unsigned long long)r->unchanged,
		(unsigned long long)r->perm_changes, (unsigned long long)r->vmsa_set, (unsigned long long)r->vmsa_clear,
		(unsigned long long)r->assign, (unsigned long long)r->unassign, (unsigned long long)r->psmash,
		(unsigned long long)r->failures);
	fprintf(f, "  \"query_round_trip_ns\": %.1f,\n",
		s->query_loop_calls ? (double)s->query_loop_ns / (double)s->query_loop_calls : 0.0);
	fprintf(f, "  \"memory\": {\n");
	json_alloc(f, "page", &mm.page, false);
	json_alloc(f, "slab", &mm.slab, false);
	json_alloc(f, "heap", &mm.heap, true);
	fprintf(f, "  },\n  \"oracle\": {\"run\": %s, \"violations\": %u},\n  \"log\": ", s->check_oracle ? "true" : "false",
		s->oracle_violations);
	json_str(f, log);
	fprintf(f, "\n}\n");
}

/* Run the scenario on @m and print the summary; a termination of the machine ends it early. */
static int run_scenario(struct emu_machine *m, const struct options *o)
{
	static struct scenario s;
	static char log[LOG_RING_SIZE + 1];

	s.check_oracle = o->oracle;
	s.hostile = o->hostile != NULL;
	unsigned failed = scenario_run(&s, m);
	log_ring_read(log, sizeof(log));
	if (o->json) {
		print_json(&s, m, failed, log);
	} else {
		print_text(&s, m, failed, log);
	}
	if (!s.hostile && s.terminated) {
		fprintf(stderr, "svsm-emu: the machine was terminated (reason set %u, code %u) during the scenario\n",
			m->term_set, m->term_code);
		return EXIT_MACHINE;
	}
	return failed ? EXIT_STEPS_FAILED : 0;
}

/* `--hostile list`: the catalogue, as text or as the Markdown table of docs/hostile.md. */
static int cmd_hostile_list(const struct options *o)
{
	if (o->markdown) {
		printf("| name | the host | the SVSM | outcome | test |\n| --- | --- | --- | --- | --- |\n");
	}
	for (unsigned i = 0; i < hostile_entry_count; i++) {
		const struct hostile_entry *e = &hostile_entries[i];
		if (o->markdown) {
			printf("| `%s` | %s | %s | %s | %s |\n", e->name, e->does, e->outcome, hostile_outcome_name(e->kind),
			       e->test);
		} else {
			printf("%-26s %s%s\n%-26s -> %s [%s]\n", e->name, e->does, e->at_boot ? " (at boot)" : "", "",
			       e->outcome, hostile_outcome_name(e->kind));
		}
	}
	return 0;
}

static int cmd_run(const struct options *o)
{
	struct emu_config cfg;
	char err[256];
	FILE *console = stderr;

	emu_config_default(&cfg);
	cfg.mem_size = o->mem_mib << 20;
	cfg.rmp_2m = !o->rmp_4k;
	if (!strcmp(o->console, "none")) {
		console = NULL;
	} else if (strcmp(o->console, "-")) {
		console = fopen(o->console, "w");
		if (!console) {
			fprintf(stderr, "svsm-emu: cannot open console file '%s': %s\n", o->console, strerror(errno));
			return EXIT_USAGE;
		}
	}
	cfg.console = console;
	log_set_level(o->level);
	if (o->hostile && hostile_arm_names(&cfg.boot_hostile, o->hostile, true, err, sizeof(err)) != 0) {
		fprintf(stderr, "svsm-emu: %s\n", err);
		return EXIT_USAGE;
	}
	struct emu_machine *m = emu_machine_create(&cfg, err, sizeof(err));
	if (!m) {
		if (console && console != stderr) {
			fclose(console);
		}
		if (o->hostile && hostile_names_have_boot(o->hostile)) {
			/* Refusing to start on such a host is failing safe. */
			printf("svsm-emu: the SVSM did not start on this host: %s\nResult: the SVSM failed safe\n", err);
			return 0;
		}
		fprintf(stderr, "svsm-emu: cannot start the machine: %s\n", err);
		return EXIT_MACHINE;
	}
	if (o->hostile && hostile_arm_names(&m->hostile, o->hostile, false, err, sizeof(err)) != 0) {
		fprintf(stderr, "svsm-emu: %s\n", err);
		emu_machine_destroy(m);
		return EXIT_USAGE;
	}
	int rc = run_scenario(m, o);
	emu_machine_destroy(m);
	if (console && console != stderr) {
		fclose(console);
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;

	if (argc > 1 && attest_cli_handles(argv[1])) {
		return attest_cli_main(argc - 1, argv + 1);
	}
	if (argc > 1 && !strcmp(argv[1], "tpm-server")) {
		return tpm_server_main(argc - 1, argv + 1);
	}
	if (parse_args(argc, argv, &o) != 0) {
		return EXIT_USAGE;
	}
	if (!strcmp(o.command, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(o.command, "version")) {
		printf("svsm-emu %s\n", SVSM_VERSION_STRING);
		return 0;
	}
	if (!strcmp(o.command, "run")) {
		if (o.hostile && !strcmp(o.hostile, "list")) {
			return cmd_hostile_list(&o);
		}
		return cmd_run(&o);
	}
	if (!strcmp(o.command, "paths")) {
		return cli_paths_command(o.json);
	}
	fprintf(stderr, "svsm-emu: unknown command '%s' (try --help)\n", o.command);
	return EXIT_USAGE;
}
