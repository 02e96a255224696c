/*
 * Real TPM clients against the TPM bridge: tpm2-tools (Debian 5.4, mssim TCTI) run against
 * `svsm-emu tpm-server`, every command going through the guest's vTPM driver, the SVSM
 * and libtpms. One server for the suite (started in the group setup, stopped in the
 * teardown whatever happened; it also dies with this process). tpm2-tools without a
 * resource manager leave objects and sessions loaded, so every tool call is followed by
 * tpm2_flushcontext, as a resource manager would do.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <svsm/vtpm.h>

#include "../test_common.h"
#include "tpm_client.h"
#include "tpm_cmd.h"
#include "vtpm/engine.h"
#include "vtpm/tpm_guest.h"

struct suite {
	char dir[64];     /* work directory: files of the tools, script, outputs */
	char state[128];  /* the TPM's state directory */
	struct tpm_server server;
	char out[16384];  /* output of the last sh() */
};

static struct suite S;

static int use_server(unsigned port)
{
	char tcti[64];

	snprintf(tcti, sizeof(tcti), "mssim:host=127.0.0.1,port=%u", port);
	return setenv("TPM2TOOLS_TCTI", tcti, 1);
}

static int start_server(void)
{
	char log[128];

	snprintf(log, sizeof(log), "%s/server.log", S.dir);
	if (tpm_server_start(&S.server, S.state, log, NULL) != 0) {
		fprintf(stderr, "tpm-server did not start; its log: %s\n", S.server.log);
		return -1;
	}
	return use_server(S.server.port);
}

/* Run a shell command line in the work directory with the helpers; its exit status, output in S.out. */
static int sh(const char *fmt, ...) SVSM_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[4096], line[4400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "cd %s && . ./lib.sh && { %s ; } >out.txt 2>&1", S.dir, cmd);
	int st = system(line);
	char path[128];
	snprintf(path, sizeof(path), "%s/out.txt", S.dir);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(S.out, 1, sizeof(S.out) - 1, f) : 0;
	S.out[n] = 0;
	if (f) {
		fclose(f);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

/* A command line that must succeed. */
#define SH_OK(...)                                                                     \
	do {                                                                           \
		int sh_rc_ = sh(__VA_ARGS__);                                          \
		if (sh_rc_ != 0) {                                                     \
			fail_msg("exit %d: %s\n%s", sh_rc_, #__VA_ARGS__, S.out);    \
		}                                                                      \
	} while (0)

static size_t read_work_file(const char *name, u8 *buf, size_t size)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", S.dir, name);
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(buf, 1, size, f) : 0;
	if (f) {
		fclose(f);
	}
	return n;
}

static int group_setup(void **state)
{
	snprintf(S.dir, sizeof(S.dir), "/tmp/svsm-vtpm-tools-XXXXXX");
	if (!mkdtemp(S.dir)) {
		return -1;
	}
	snprintf(S.state, sizeof(S.state), "%s/state", S.dir);
	/* t CMD...: run a tool, then flush what it left loaded (no resource manager here). */
	char path[128];
	snprintf(path, sizeof(path), "%s/lib.sh", S.dir);
	FILE *f = fopen(path, "w");
	if (!f) {
		return -1;
	}
	fputs("t() { \"$@\"; rc=$?; tpm2_flushcontext -t >/dev/null 2>&1; tpm2_flushcontext -l >/dev/null 2>&1;"
	      " tpm2_flushcontext -s >/dev/null 2>&1; return $rc; }\n",
	      f);
	fclose(f);
	return start_server();
}

static int group_teardown(void **state)
{
	char cmd[128];

	tpm_server_kill(&S.server);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", S.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_startup_selftest(void **state)
{
	SH_OK("t tpm2_startup -c");
	SH_OK("t tpm2_selftest -f");
	SH_OK("t tpm2_gettestresult");
	assert_non_null(strstr(S.out, "success"));
}

static void test_getrandom(void **state)
{
	u8 buf[64];

	/* The form of the issue: the mssim TCTI with only a port (host localhost, either address family). */
	SH_OK("tpm2_getrandom -T mssim:port=%u 8 > rnd.bin", S.server.port);
	assert_int_equal(read_work_file("rnd.bin", buf, sizeof(buf)), 8);
	SH_OK("t tpm2_getrandom --hex 32");
	assert_int_equal(strlen(S.out), 64);
}

static void sha256(const u8 *a, size_t alen, const u8 *b, size_t blen, u8 out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n;

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, a, alen), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, b, blen), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, out, &n), 1);
	EVP_MD_CTX_free(ctx);
}

static void test_pcr_read_extend(void **state)
{
	u8 zero[32] = {0}, digest[32], expect[32], got[64];

	SH_OK("t tpm2_pcrread -o pcr16.bin sha256:16");
	assert_int_equal(read_work_file("pcr16.bin", got, sizeof(got)), 32);
	assert_memory_equal(got, zero, 32);
	memset(digest, 0xA5, sizeof(digest));
	SH_OK("t tpm2_pcrextend 16:sha256=%s", "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5");
	SH_OK("t tpm2_pcrread -o pcr16.bin sha256:16");
	assert_int_equal(read_work_file("pcr16.bin", got, sizeof(got)), 32);
	sha256(zero, 32, digest, 32, expect);
	assert_memory_equal(got, expect, 32);
}

static void test_keys_sign_verify(void **state)
{
	SH_OK("t tpm2_createprimary -C o -G ecc -c prim.ctx -Q");
	SH_OK("t tpm2_create -C prim.ctx -G ecc -u key.pub -r key.priv -Q");
	SH_OK("t tpm2_load -C prim.ctx -u key.pub -r key.priv -c key.ctx -Q");
	SH_OK("echo 'signed by the vTPM' > msg.txt && t tpm2_sign -c key.ctx -g sha256 -o msg.sig msg.txt");
	SH_OK("t tpm2_verifysignature -c key.ctx -g sha256 -m msg.txt -s msg.sig");
	assert_int_not_equal(sh("echo tampered > bad.txt && t tpm2_verifysignature -c key.ctx -g sha256 -m bad.txt -s msg.sig"), 0);
	/* An RSA key too, under an RSA primary. */
	SH_OK("t tpm2_createprimary -C o -G rsa2048 -c rprim.ctx -Q");
	SH_OK("t tpm2_create -C rprim.ctx -G rsa2048 -u rkey.pub -r rkey.priv -Q");
	SH_OK("t tpm2_load -C rprim.ctx -u rkey.pub -r rkey.priv -c rkey.ctx -Q");
	SH_OK("t tpm2_sign -c rkey.ctx -g sha256 -o rmsg.sig msg.txt && t tpm2_verifysignature -c rkey.ctx -g sha256 -m msg.txt -s rmsg.sig");
}

static void test_seal_unseal(void **state)
{
	SH_OK("t tpm2_createprimary -C o -G ecc -c prim.ctx -Q");
	SH_OK("echo -n 'disk key 0123' > secret.txt && t tpm2_create -C prim.ctx -i secret.txt -u seal.pub -r seal.priv -Q");
	SH_OK("t tpm2_load -C prim.ctx -u seal.pub -r seal.priv -c seal.ctx -Q");
	SH_OK("t tpm2_unseal -c seal.ctx -o unsealed.txt && cmp secret.txt unsealed.txt");
}

/* Sealed under a PCR policy: unseals while PCR 23 is unchanged, not after an extend. */
static void test_seal_pcr_policy(void **state)
{
	SH_OK("t tpm2_createprimary -C o -G ecc -c prim.ctx -Q");
	SH_OK("t tpm2_pcrread -o pcr23.bin sha256:23");
	SH_OK("t tpm2_createpolicy --policy-pcr -l sha256:23 -f pcr23.bin -L pcr.policy");
	SH_OK("echo -n 'only in this state' > psecret.txt && "
	      "t tpm2_create -C prim.ctx -i psecret.txt -L pcr.policy -u pseal.pub -r pseal.priv -Q");
	SH_OK("t tpm2_load -C prim.ctx -u pseal.pub -r pseal.priv -c pseal.ctx -Q");
	SH_OK("t tpm2_unseal -c pseal.ctx -p pcr:sha256:23 -o punsealed.txt && cmp psecret.txt punsealed.txt");
	/* Without the policy session it is refused, too. */
	assert_int_not_equal(sh("t tpm2_unseal -c pseal.ctx"), 0);
	SH_OK("t tpm2_pcrextend 23:sha256=%s", "0101010101010101010101010101010101010101010101010101010101010101");
	assert_int_not_equal(sh("t tpm2_unseal -c pseal.ctx -p pcr:sha256:23"), 0);
	assert_non_null(strstr(S.out, "policy"));
}

static void test_nv(void **state)
{
	SH_OK("t tpm2_nvdefine 0x1500016 -C o -s 32 -a 'ownerread|ownerwrite|authread|authwrite'");
	SH_OK("echo -n 'kept in NV across restarts......' > nv.bin && t tpm2_nvwrite 0x1500016 -C o -i nv.bin");
	SH_OK("t tpm2_nvread 0x1500016 -C o -s 32 -o nvout.bin && cmp nv.bin nvout.bin");
	SH_OK("t tpm2_nvreadpublic 0x1500016");
	assert_non_null(strstr(S.out, "0x1500016"));
	/* A persistent key for the restart test. */
	SH_OK("t tpm2_createprimary -C o -G ecc -c pers.ctx -Q && t tpm2_evictcontrol -C o -c pers.ctx 0x81000001");
}

static void test_quote_checkquote(void **state)
{
	SH_OK("t tpm2_createek -c ek.ctx -G rsa -u ek.pub");
	SH_OK("t tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub -n ak.name");
	SH_OK("t tpm2_quote -c ak.ctx -l sha256:0,16,23 -q 0badc0de -m quote.msg -s quote.sig -o quote.pcrs -g sha256");
	SH_OK("t tpm2_checkquote -u ak.pub -m quote.msg -s quote.sig -f quote.pcrs -g sha256 -q 0badc0de");
	/* Another nonce, or a changed quote: not accepted. */
	assert_int_not_equal(sh("t tpm2_checkquote -u ak.pub -m quote.msg -s quote.sig -f quote.pcrs -g sha256 -q 0badc0df"), 0);
	assert_int_not_equal(sh("cp quote.msg bad.msg && printf '\\377' | dd of=bad.msg bs=1 seek=40 conv=notrunc 2>/dev/null && "
				"! cmp -s quote.msg bad.msg && "
				"t tpm2_checkquote -u ak.pub -m bad.msg -s quote.sig -f quote.pcrs -g sha256 -q 0badc0de"),
			     0);
	assert_non_null(strstr(S.out, "ERROR"));
}

/*
 * What a verifier does: the EK created from the default template through the bridge
 * must be the vTPM's manifest. The manifest comes from vtpm_manifest() of an SVSM booted
 * on the same state (the attestation registry that will serve it through
 * `svsm-emu attest --service` is another issue's).
 */
static void test_ek_matches_manifest(void **state)
{
	u8 ek_pub[2048], manifest[2048], rsp[VTPM_MAX_RESPONSE], cmd[TC_MAX];
	u32 len = 0, rsp_len = 0;
	char err[256];

	SH_OK("t tpm2_createek -c ek.ctx -G rsa -u ek.pub");
	size_t n = read_work_file("ek.pub", ek_pub, sizeof(ek_pub));
	assert_true(n > 2);
	assert_int_equal(tc_be16(ek_pub), n - 2); /* TPM2B_PUBLIC: size, then the TPMT_PUBLIC */
	assert_int_equal(tpm_server_stop(&S.server), 0);

	struct vtpm_store *store = vtpm_store_file_open(S.state, err, sizeof(err));
	assert_non_null(store);
	emu_vtpm_set_store(store);
	struct hx *h = hx_boot(NULL);
	assert_non_null(h);
	struct tpm_guest t;
	assert_int_equal(tpm_guest_init(&t, &h->g, 0), TPM_GUEST_OK);
	size_t c = tc_startup(cmd, TPM_SU_CLEAR);
	assert_int_equal(tpm_guest_send(&t, 0, cmd, (u32)c, rsp, sizeof(rsp), &rsp_len), TPM_GUEST_OK);
	assert_int_equal(tc_rc(rsp, rsp_len), 0);
	int mr = vtpm_manifest(manifest, sizeof(manifest), &len);
	assert_int_equal(vtpm_idle(true), 0);
	hx_shutdown(h);
	emu_vtpm_shutdown();
	emu_vtpm_set_store(NULL);
	store->ops->close(store);

	assert_int_equal(mr, VTPM_MANIFEST_OK);
	assert_int_equal(len, n - 2);
	assert_memory_equal(manifest, ek_pub + 2, len);
	assert_int_equal(start_server(), 0);
	SH_OK("t tpm2_startup -c");
}

#ifndef VTPM_CI_DIR
#define VTPM_CI_DIR "ci"
#endif
#ifndef FIXTURES_DIR
#define FIXTURES_DIR "fixtures"
#endif

/*
 * What a verifier does: create the EK from the default template through the bridge with
 * tpm2-tools, then take an attestation of the vTPM service of the same TPM (svsm-emu
 * attest --service <vTPM GUID> on its state directory) and check that its manifest is
 * that EK's TPMT_PUBLIC, that the report verifies under the pinned test ARK, and that
 * REPORT_DATA = SHA-512(nonce || manifest) (svsm-emu verify, and the openssl command
 * line alone). Another TPM's attestation does not match the EK.
 */
static void test_verifier_checks_attested_ek(void **state)
{
	const char *emu = tpm_svsm_emu();
	const char *nonce = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
			    "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
	static char failed[sizeof(S.out) + 32];

	failed[0] = 0;

	SH_OK("t tpm2_createek -c ekv.ctx -G rsa -u ekv.pub");
	assert_int_equal(tpm_server_stop(&S.server), 0);
	/* Every step runs, the server comes back whatever happened, then the verdict. */
	int rc = sh("set -e; %s attest --nonce %s --out att --service %s --tpm-state %s;"
		    /* ekv.pub is a TPM2B_PUBLIC: a 2-byte size, then the TPMT_PUBLIC the manifest holds. */
		    " tail -c +3 ekv.pub > ekv.tpmt; test -s ekv.tpmt; cmp ekv.tpmt att/manifest.bin;"
		    " %s verify --dir att --ark %s/attestation/keys/ark.pem | grep -q report_data;"
		    " %s/attest-openssl-verify.sh att | grep -q 'REPORT_DATA OK';"
		    /* The same check against another TPM (a new one in memory) fails at the EK. */
		    " %s attest --nonce %s --out other --service %s; ! cmp -s ekv.tpmt other/manifest.bin",
		    emu, nonce, VTPM_SERVICE_GUID_STR, S.state, emu, FIXTURES_DIR, VTPM_CI_DIR, emu, nonce,
		    VTPM_SERVICE_GUID_STR);
	if (rc != 0) {
		snprintf(failed, sizeof(failed), "exit %d:\n%s", rc, S.out);
	}
	assert_int_equal(start_server(), 0);
	SH_OK("t tpm2_startup -c");
	if (failed[0]) {
		fail_msg("%s", failed);
	}
}

/* A restart of tpm-server is a power cycle: NV and persistent keys stay, PCRs start over. */
static void test_state_across_restart(void **state)
{
	u8 zero[32] = {0}, got[64];

	assert_int_equal(tpm_server_stop(&S.server), 0);
	assert_int_equal(start_server(), 0);
	/* The TPM waits for TPM2_Startup again. */
	assert_int_not_equal(sh("t tpm2_getrandom 4"), 0);
	SH_OK("t tpm2_startup -c");
	SH_OK("t tpm2_nvread 0x1500016 -C o -s 32 -o nvout2.bin && cmp nv.bin nvout2.bin");
	SH_OK("t tpm2_getcap handles-persistent");
	assert_non_null(strstr(S.out, "0x81000001"));
	SH_OK("t tpm2_pcrread -o pcr16.bin sha256:16");
	assert_int_equal(read_work_file("pcr16.bin", got, sizeof(got)), 32);
	assert_memory_equal(got, zero, 32);
	/* And keys created before still load under the persisted owner seed. */
	SH_OK("t tpm2_createprimary -C o -G ecc -c prim2.ctx -Q && t tpm2_load -C prim2.ctx -u key.pub -r key.priv -c key2.ctx -Q");
	SH_OK("t tpm2_verifysignature -c key2.ctx -g sha256 -m msg.txt -s msg.sig");
}

static u32 tc_getrandom_rc(struct tpm_conn *c)
{
	u8 req[TC_MAX], rsp[VTPM_MAX_RESPONSE];
	size_t n = tc_get_random(req, 8);

	assert_int_equal(tpm_transact(c, 0, req, n, rsp, sizeof(rsp), &n), 0);
	return tc_rc(rsp, n);
}

static u32 tc_startup_rc(struct tpm_conn *c)
{
	u8 req[TC_MAX], rsp[VTPM_MAX_RESPONSE];
	size_t n = tc_startup(req, TPM_SU_CLEAR);

	assert_int_equal(tpm_transact(c, 0, req, n, rsp, sizeof(rsp), &n), 0);
	return tc_rc(rsp, n);
}

/* The platform port: power off and on (a reboot), reset, cancel, handshake, unknown codes. */
static void test_platform_port(void **state)
{
	struct tpm_conn c;
	u8 hs[8] = {0, 0, 0, 15, 0, 0, 0, 1}, ans[12];

	assert_int_equal(tpm_connect(&c, S.server.port, TPM_FRAMING_MSSIM), 0);
	assert_int_equal(tpm_send_raw(&c, hs, sizeof(hs)), 0);
	assert_int_equal(recv(c.fd, ans, sizeof(ans), MSG_WAITALL), 12);
	assert_int_equal(tc_be32(ans), 1);     /* server version */
	assert_int_equal(tc_be32(ans + 4), 5); /* platform available, raw mode */
	assert_int_equal(tc_be32(ans + 8), 0);
	assert_int_equal(tpm_platform(&c, 9), 0);  /* CANCEL_ON */
	assert_int_equal(tpm_platform(&c, 10), 0); /* CANCEL_OFF */
	assert_int_equal(tpm_platform(&c, 11), 0); /* NV_ON */
	assert_int_equal(tpm_platform(&c, 1), 0);  /* POWER_ON while on: nothing happens */
	assert_int_equal(tc_getrandom_rc(&c), 0);

	/* Off: commands fail; on again: the machine reboots, the TPM waits for TPM2_Startup. */
	assert_int_equal(tpm_platform(&c, 2), 0);
	assert_int_equal(tc_getrandom_rc(&c), 0x101u); /* TPM_RC_FAILURE */
	assert_int_equal(tpm_platform(&c, 1), 0);
	assert_int_equal(tc_getrandom_rc(&c), TPM_RC_INITIALIZE);
	assert_int_equal(tc_startup_rc(&c), 0);
	/* RESET: a reboot too. */
	assert_int_equal(tpm_platform(&c, 17), 0);
	assert_int_equal(tc_getrandom_rc(&c), TPM_RC_INITIALIZE);
	assert_int_equal(tc_startup_rc(&c), 0);
	SH_OK("t tpm2_nvread 0x1500016 -C o -s 32 -o nvout3.bin && cmp nv.bin nvout3.bin");
	/* Physical presence does not exist in a VM: answered 1, connection closed. */
	assert_int_equal(tpm_platform(&c, 3), 1);
	assert_int_equal(tpm_platform(&c, 11), -1);
	tpm_disconnect(&c);
}

/* The bridge itself: taken port, shared state directory, clients that vanish or misbehave. */
static void test_server_robustness(void **state)
{
	struct tpm_conn c;
	u8 buf[64];
	size_t n;
	char cmd[512];

	/* A second server on the same port: a clear error, exit status 4. */
	snprintf(cmd, sizeof(cmd), "%s tpm-server --port %u 2>&1; echo status=$?", tpm_svsm_emu(), S.server.port);
	sh("%s", cmd);
	assert_non_null(strstr(S.out, "already in use"));
	assert_non_null(strstr(S.out, "status=4"));
	/* A second server on the same state directory: refused, status 3. */
	snprintf(cmd, sizeof(cmd), "%s tpm-server --port 0 --state %s 2>&1; echo status=$?", tpm_svsm_emu(), S.state);
	sh("%s", cmd);
	assert_non_null(strstr(S.out, "in use by another process"));
	assert_non_null(strstr(S.out, "status=3"));

	/* A client that goes away in the middle of a command. */
	assert_int_equal(tpm_connect(&c, S.server.port, TPM_FRAMING_MSSIM), 0);
	u8 partial[9 + 6] = {0, 0, 0, 8, 0, 0, 0, 0, 12, 0x80, 0x01, 0, 0, 0, 12};
	assert_int_equal(tpm_send_raw(&c, partial, sizeof(partial)), 0);
	close(c.fd);
	close(c.platform_fd);
	/* One that sends an unknown code, and one that claims a 1 GiB command. */
	assert_int_equal(tpm_connect(&c, S.server.port, TPM_FRAMING_MSSIM), 0);
	u8 junk[4] = {0, 0, 0, 99};
	assert_int_equal(tpm_send_raw(&c, junk, sizeof(junk)), 0);
	assert_int_equal(recv(c.fd, buf, sizeof(buf), 0), 4); /* a non-zero answer, then the close */
	assert_int_equal(tc_be32(buf), 1);
	assert_int_equal(recv(c.fd, buf, sizeof(buf), 0), 0);
	tpm_disconnect(&c);
	assert_int_equal(tpm_connect(&c, S.server.port, TPM_FRAMING_MSSIM), 0);
	u8 huge[9] = {0, 0, 0, 8, 0, 0x40, 0, 0, 0};
	assert_int_equal(tpm_send_raw(&c, huge, sizeof(huge)), 0);
	assert_int_equal(recv(c.fd, buf, sizeof(buf), 0), 0);
	tpm_disconnect(&c);

	/* The server carries on. */
	assert_int_equal(tpm_server_reap(&S.server), -1);
	SH_OK("t tpm2_getrandom --hex 8");
	assert_int_equal(strlen(S.out), 16);

	/* Locality 3 and an oversized command get TPM errors from the bridge, without a SVSM answer. */
	assert_int_equal(tpm_connect(&c, S.server.port, TPM_FRAMING_MSSIM), 0);
	u8 req[TC_MAX], rsp[VTPM_MAX_RESPONSE];
	n = tc_get_random(req, 8);
	assert_int_equal(tpm_transact(&c, 3, req, n, rsp, sizeof(rsp), &n), 0);
	assert_int_equal(tc_rc(rsp, n), 0x907u); /* TPM_RC_LOCALITY */
	static u8 big[VTPM_MAX_COMMAND + 1];
	n = tc_raw(big, 0x8001, 0x17B, sizeof(big));
	assert_int_equal(tpm_transact(&c, 0, big, n, rsp, sizeof(rsp), &n), 0);
	assert_int_equal(tc_rc(rsp, n), 0x142u); /* TPM_RC_COMMAND_SIZE */
	n = tc_get_random(req, 8);
	assert_int_equal(tpm_transact(&c, 0, req, n, rsp, sizeof(rsp), &n), 0);
	assert_int_equal(tc_rc(rsp, n), 0);
	tpm_disconnect(&c);
}

/* Wait for the server to exit by itself; its wait status. */
static int wait_exit(void)
{
	int st = -1;

	for (int i = 0; i < 1000 && st < 0; i++) {
		st = tpm_server_reap(&S.server);
		usleep(10000);
	}
	return st;
}

/* SIGTERM, SIGINT, or the simulator's STOP: a clean stop (status 0). */
static void test_clean_stop(void **state)
{
	struct tpm_conn c;

	assert_int_equal(tpm_server_stop(&S.server), 0);
	assert_int_equal(start_server(), 0);
	kill(S.server.pid, SIGINT);
	int st = wait_exit();
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(start_server(), 0);
	assert_int_equal(tpm_connect(&c, S.server.port, TPM_FRAMING_MSSIM), 0);
	assert_int_equal(tpm_platform(&c, 21), 0); /* STOP */
	st = wait_exit();
	tpm_disconnect(&c);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(start_server(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_startup_selftest),
		cmocka_unit_test(test_getrandom),
		cmocka_unit_test(test_pcr_read_extend),
		cmocka_unit_test(test_keys_sign_verify),
		cmocka_unit_test(test_seal_unseal),
		cmocka_unit_test(test_seal_pcr_policy),
		cmocka_unit_test(test_nv),
		cmocka_unit_test(test_quote_checkquote),
		cmocka_unit_test(test_ek_matches_manifest),
		cmocka_unit_test(test_verifier_checks_attested_ek),
		cmocka_unit_test(test_state_across_restart),
		cmocka_unit_test(test_platform_port),
		cmocka_unit_test(test_server_robustness),
		cmocka_unit_test(test_clean_stop),
	};

	return cmocka_run_group_tests_name("vtpm_tools", tests, group_setup, group_teardown);
}
