#!/usr/bin/env bash
# End-to-end attestation check (part of make test): svsm-emu measure, an independent
# recomputation of its launch log, svsm-emu attest (all services, one service, with and
# without certificates), svsm-emu verify, the openssl-only verification of
# docs/attestation.md, the golden vectors, and the CLI's errors.
#   ci/attest-e2e.sh SVSM_EMU WORKDIR
set -uo pipefail
emu=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
golden=$here/../fixtures/attestation/golden
rm -rf "$work"
mkdir -p "$work"
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "attest-e2e: FAILED: $*" >&2; }
check() { local what=$1; shift; if "$@" >"$work/last.log" 2>&1; then ok; else bad "$what"; cat "$work/last.log" >&2; fi; }
# A command that must fail with @status and print @text on stderr.
refuse() {
	local what=$1 status=$2 text=$3; shift 3
	"$@" >"$work/last.out" 2>"$work/last.err"
	local rc=$?
	if [ $rc -eq "$status" ] && grep -q -- "$text" "$work/last.err"; then ok; else bad "$what (exit $rc)"; cat "$work/last.err" >&2; fi
}

nonce=$(printf '%02x' $(seq 0 63))
test_service=3f1e9c5a-7b2d-4c8e-9a61-0d5b2e7f4c13
vtpm_service=c476f1eb-0123-45a5-9641-b4e7dde5bfe3

# Measurement without running, and the same digest recomputed from the launch log by Python.
measurement=$("$emu" measure --launch-log "$work/launch.json") || bad "measure"
check "launch log recomputed with hashlib" python3 "$here/launch-digest.py" "$work/launch.json"
[ "$(python3 "$here/launch-digest.py" "$work/launch.json" 2>/dev/null)" = "$measurement" ] && ok || bad "launch log digest = measure"

# The whole path, all services, certificates from the hypervisor through the SVSM.
check "attest (all services, certificates)" "$emu" attest --nonce "$nonce" --out "$work/all" --certs --launch-log "$work/attest-launch.json"
check "verify --dir" "$emu" verify --dir "$work/all" --measurement "$measurement"
check "verify --certs (certificate table)" "$emu" verify --report "$work/all/report.bin" --nonce "$work/all/nonce.bin" \
	--manifest "$work/all/manifest.bin" --certs "$work/all/certs.bin"
check "openssl command line" "$here/attest-openssl-verify.sh" "$work/all" "$measurement"
cmp -s "$work/launch.json" "$work/attest-launch.json" && ok || bad "attest's launch log = measure's"
"$emu" verify --dir "$work/all" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["verified"] and d["report"]["vmpl"] == 0 else 1)' \
	&& ok || bad "verify --json"

# One service: the service's own data, never the GUID table; another manifest, another REPORT_DATA.
check "attest (single service)" "$emu" attest --nonce "$nonce" --out "$work/single" --service "$test_service"
check "verify (single service)" "$emu" verify --dir "$work/single" --measurement "$measurement"
check "openssl (single service)" "$here/attest-openssl-verify.sh" "$work/single" "$measurement"
cmp -s "$work/all/manifest.bin" "$work/single/manifest.bin" && bad "single and all manifests equal" || ok
[ "$(head -c 16 "$work/single/manifest.bin" | od -An -tx1 | tr -d ' \n')" != "bb9e8463923d7046a1ff58f9c94b87bb" ] && ok \
	|| bad "the single-service manifest starts with the GUID-table header"

# The vTPM (svsm-emu has a TPM engine; the guest sends TPM2_Startup first, as firmware does):
# SERVICES lists it first, SINGLE_SERVICE gives its EK's TPMT_PUBLIC (RSA-2048: 314 bytes).
[ "$(od -An -tu4 -j 20 -N 4 "$work/all/manifest.bin" | tr -d ' ')" = 2 ] && ok || bad "SERVICES lists two services"
[ "$(od -An -tx1 -j 24 -N 16 "$work/all/manifest.bin" | tr -d ' \n')" = "ebf176c42301a5459641b4e7dde5bfe3" ] && ok \
	|| bad "the vTPM is the first entry of SERVICES"
check "attest (vTPM)" "$emu" attest --nonce "$nonce" --out "$work/vtpm" --service "$vtpm_service"
check "verify (vTPM)" "$emu" verify --dir "$work/vtpm" --measurement "$measurement"
check "openssl (vTPM)" "$here/attest-openssl-verify.sh" "$work/vtpm" "$measurement"
[ "$(stat -c %s "$work/vtpm/manifest.bin")" = 314 ] && [ "$(od -An -tx1 -N 2 "$work/vtpm/manifest.bin" | tr -d ' ')" = 0001 ] \
	&& ok || bad "the vTPM manifest is an RSA TPMT_PUBLIC of 314 bytes"
refuse "vTPM before TPM2_Startup" 1 "INVALID_REQUEST" "$emu" attest --nonce "$nonce" --out "$work/x" --service "$vtpm_service" --no-tpm-startup
refuse "SERVICES before TPM2_Startup" 1 "INVALID_REQUEST" "$emu" attest --nonce "$nonce" --out "$work/x" --no-tpm-startup
check "the test service without TPM2_Startup" "$emu" attest --nonce "$nonce" --out "$work/nostartup" --service "$test_service" --no-tpm-startup

# A key hierarchy made for this machine (new ARK, ASK and VCEK): verifies against its own ARK,
# not against the committed test ARK.
check "attest --new-keys" "$emu" attest --nonce "$nonce" --out "$work/newkeys" --new-keys --certs
check "verify --new-keys" "$emu" verify --dir "$work/newkeys" --measurement "$measurement"
refuse "new keys against the committed ARK" 1 "FAILED chain" "$emu" verify --report "$work/newkeys/report.bin" \
	--nonce "$work/newkeys/nonce.bin" --manifest "$work/newkeys/manifest.bin" --ark "$golden/ok/ark.pem" \
	--ask "$work/newkeys/ask.pem" --vcek "$work/newkeys/vcek.pem"

# Another launch, another measurement, and measure agrees with that report too.
m512=$("$emu" measure --mem 512)
[ "$m512" != "$measurement" ] && ok || bad "measure --mem 512 differs"
check "attest --mem 512" "$emu" attest --nonce "$nonce" --out "$work/m512" --mem 512
check "verify --mem 512 report against measure --mem 512" "$emu" verify --dir "$work/m512" --measurement "$m512"
refuse "verify with another launch's measurement" 1 "FAILED measurement" "$emu" verify --dir "$work/m512" --measurement "$measurement"

# Golden vectors: the good one verifies, each tampered copy fails for its own reason.
for d in "$golden"/*/; do
	expect=$(cat "$d/expect")
	# shellcheck disable=SC2046
	if [ "$expect" = ok ]; then
		check "golden $(basename "$d")" "$emu" verify --dir "$d" $(cat "$d/args")
		check "golden $(basename "$d") with openssl" "$here/attest-openssl-verify.sh" "$d"
	else
		refuse "golden $(basename "$d")" 1 "FAILED $expect:" "$emu" verify --dir "$d" $(cat "$d/args")
	fi
done
for d in bad-signature bad-report-body bad-chain-vcek bad-chain-ask bad-manifest bad-nonce bad-vmpl; do
	if "$here/attest-openssl-verify.sh" "$golden/$d" >/dev/null 2>&1; then bad "openssl accepted golden $d"; else ok; fi
done

# The CLI's errors.
refuse "unknown service" 1 "UNSUPPORTED_PROTOCOL" "$emu" attest --nonce "$nonce" --out "$work/x" --service 00000000-1111-2222-3333-444444444444
refuse "nonce of 32 bytes" 1 "INVALID_PARAMETER" "$emu" attest --nonce "${nonce:0:64}" --out "$work/x"
refuse "manifest version 1" 1 "INVALID_PARAMETER" "$emu" attest --nonce "$nonce" --out "$work/x" --service "$test_service" --manifest-version 1
refuse "vTPM manifest version 1" 1 "INVALID_PARAMETER" "$emu" attest --nonce "$nonce" --out "$work/x" --service "$vtpm_service" --manifest-version 1
# --tpm-state: the TPM's state directory is kept (a second run sees the same EK) and locked.
check "attest --tpm-state" "$emu" attest --nonce "$nonce" --out "$work/tpm1" --service "$vtpm_service" --tpm-state "$work/tpm-state"
check "attest --tpm-state again" "$emu" attest --nonce "$nonce" --out "$work/tpm2" --service "$vtpm_service" --tpm-state "$work/tpm-state"
cmp -s "$work/tpm1/manifest.bin" "$work/tpm2/manifest.bin" && ok || bad "the same TPM state gives the same EK"
cmp -s "$work/tpm1/manifest.bin" "$work/vtpm/manifest.bin" && bad "another TPM gives the same EK" || ok
refuse "--tpm-state in use" 3 "in use" flock "$work/tpm-state/vtpm.lock" "$emu" attest --nonce "$nonce" --out "$work/x" \
	--tpm-state "$work/tpm-state"
refuse "attest without --out" 2 "needs --nonce HEX and --out DIR" "$emu" attest --nonce "$nonce"
refuse "bad nonce hex" 2 "--nonce needs hex" "$emu" attest --nonce xyz --out "$work/x"
refuse "bad policy" 2 "refused by the emulated firmware" "$emu" measure --policy 0x10000
refuse "verify without files" 2 "give --dir" "$emu" verify
refuse "verify of a missing directory" 2 "cannot read" "$emu" verify --dir "$work/none"
refuse "unknown option" 2 "unknown option" "$emu" measure --bogus
for c in attest verify measure; do
	"$emu" "$c" --help | grep -q "usage: svsm-emu $c" && ok || bad "$c --help"
done

echo "attest-e2e: $passed checks passed, $failed failed"
[ $failed -eq 0 ]
