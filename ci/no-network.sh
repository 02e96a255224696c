#!/usr/bin/env bash
# Run a command with no network, and fail if anything in it tried to reach one.
#   ci/no-network.sh CMD [ARG...]    run CMD in a new network namespace (only a loopback
#                                    interface, down), every process traced for connect/sendto/
#                                    sendmsg; exit non-zero if CMD fails or if any process of it
#                                    tried to talk IPv4 or IPv6 (to any address, even refused)
#   ci/no-network.sh --self-test     prove the check works: a command that tries to connect
#                                    must be reported (nothing can leave the namespace)
# Root uses `unshare -n`; anyone else `unshare -rn` (a user namespace, where the kernel allows
# them). strace's seccomp filter keeps the tracing cheap: only those three calls stop.
set -uo pipefail

if [ "${1:-}" = "--self-test" ]; then
	if "$0" python3 -c 'import socket; s = socket.socket(); s.settimeout(1); s.connect_ex(("127.0.0.1", 9))' \
		2>/dev/null; then
		echo "no-network: self-test FAILED: a connect() went unnoticed" >&2
		exit 1
	fi
	echo "no-network: self-test OK: a connect() attempt is reported"
	exit 0
fi
[ $# -gt 0 ] || { echo "usage: ci/no-network.sh CMD [ARG...] | --self-test" >&2; exit 2; }

for tool in unshare strace; do
	command -v "$tool" >/dev/null || { echo "no-network: '$tool' is missing (ci/install-deps.sh)" >&2; exit 2; }
done
if [ "$(id -u)" -eq 0 ]; then
	ns=(unshare --net)
else
	ns=(unshare --net --map-root-user)
fi
if ! "${ns[@]}" true 2>/dev/null; then
	echo "no-network: cannot create a network namespace here (${ns[*]}): run as root" >&2
	exit 2
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
"${ns[@]}" strace -f -qq --seccomp-bpf -e trace=connect,sendto,sendmsg -e signal=none -o "$log" "$@"
rc=$?
attempts=$(grep -E 'sa_family=AF_INET6?[,}]' "$log" || true)
if [ -n "$attempts" ]; then
	echo "no-network: FAILED: the command tried to reach the network:" >&2
	head -n 20 <<<"$attempts" >&2
	exit 1
fi
if [ $rc -ne 0 ]; then
	echo "no-network: the command failed (exit $rc), without trying to reach the network" >&2
fi
exit $rc
