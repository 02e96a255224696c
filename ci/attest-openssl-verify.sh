#!/usr/bin/env bash
# Verify an SVSM attestation with the openssl command line and coreutils only, the steps
# docs/attestation.md lists (make test runs this on svsm-emu attest's output).
#   ci/attest-openssl-verify.sh DIR [MEASUREMENT_HEX]
# DIR holds report.bin, nonce.bin, manifest.bin, ark.pem, ask.pem, vcek.pem.
set -euo pipefail
dir=$1
want_measurement=${2:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$dir"

# 1. The certificate chain: ARK self-signed, ASK signed by the ARK, VCEK signed by the ASK.
openssl verify -CAfile ark.pem ark.pem
openssl verify -CAfile ark.pem ask.pem
openssl verify -CAfile ark.pem -untrusted ask.pem vcek.pem

# 2. The signature: ECDSA P-384 with SHA-384 over bytes 0x000-0x29F. R (at 0x2A0) and S
#    (at 0x2E8) are 72-byte little-endian fields of which P-384 uses 48 bytes: reverse them
#    to big-endian and wrap them in the DER ECDSA-Sig-Value openssl expects.
le_to_be() { od -An -tx1 -v -j "$1" -N 48 report.bin | tr -s ' \n' '\n' | grep . | tac | tr -d '\n'; }
printf 'asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x%s\ns=INTEGER:0x%s\n' "$(le_to_be $((0x2A0)))" "$(le_to_be $((0x2E8)))" >"$work/sig.cnf"
openssl asn1parse -genconf "$work/sig.cnf" -out "$work/sig.der" >/dev/null
head -c $((0x2A0)) report.bin >"$work/signed.bin"
openssl x509 -in vcek.pem -pubkey -noout >"$work/vcek-pub.pem"
openssl dgst -sha384 -verify "$work/vcek-pub.pem" -signature "$work/sig.der" "$work/signed.bin"

# 3. REPORT_DATA (0x050, 64 bytes) = SHA-512(nonce || manifest).
report_data=$(od -An -tx1 -v -j $((0x50)) -N 64 report.bin | tr -d ' \n')
expected=$(cat nonce.bin manifest.bin | openssl dgst -sha512 -r | cut -d' ' -f1)
[ "$report_data" = "$expected" ] || { echo "REPORT_DATA mismatch" >&2; exit 1; }
echo "REPORT_DATA OK"

# 4. VMPL (0x030, u32): the SVSM asks for VMPL 0.
vmpl=$(od -An -tu4 -j $((0x30)) -N 4 report.bin | tr -d ' ')
[ "$vmpl" = 0 ] || { echo "VMPL is $vmpl, not 0" >&2; exit 1; }
echo "VMPL OK"

# 5. MEASUREMENT (0x090, 48 bytes), against the expected launch digest if given.
measurement=$(od -An -tx1 -v -j $((0x90)) -N 48 report.bin | tr -d ' \n')
echo "MEASUREMENT $measurement"
if [ -n "$want_measurement" ]; then
	[ "$measurement" = "$want_measurement" ] || { echo "MEASUREMENT mismatch" >&2; exit 1; }
	echo "MEASUREMENT OK"
fi
