#!/usr/bin/env bash
# Run a command with no network, and fail if anything in it tried to reach one.
#   ci/no-network.sh CMD [ARG...]    run CMD in a new network namespace (only a loopback
#                                    interface, brought up: the vTPM tests talk to svsm-emu
#                                    tpm-server on 127.0.0.1), every process traced for connect/
#                                    sendto/sendmsg; exit non-zero if CMD fails or if any process
#                                    of it tried to reach an IPv4 or IPv6 address other than
#                                    loopback (even one that is refused or unreachable)
#   ci/no-network.sh --self-test     prove the check works: a connect to a non-loopback address
#                                    must be reported (nothing can leave the namespace), one to
#                                    127.0.0.1 must not
# Root uses `unshare -n`; anyone else `unshare -rn` (a user namespace, where the kernel allows
# them). strace's seccomp filter keeps the tracing cheap: only those three calls stop.
set -uo pipefail

if [ "${1:-}" = "--self-test" ]; then
	if "$0" python3 -c 'import socket; s = socket.socket(); s.settimeout(1); s.connect_ex(("192.0.2.1", 9))' \
		2>/dev/null; then
		echo "no-network: self-test FAILED: a connect() to 192.0.2.1 went unnoticed" >&2
		exit 1
	fi
	if ! "$0" python3 -c '
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.create_connection(srv.getsockname(), timeout=5); c.sendall(b"x")
assert srv.accept()[0].recv(1) == b"x"'; then
		echo "no-network: self-test FAILED: loopback does not work inside the namespace" >&2
		exit 1
	fi
	echo "no-network: self-test OK: a connect() to another address is reported, loopback works"
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
# Bring the namespace's loopback interface up (SIOCSIFFLAGS; python3 is a build dependency,
# iproute2 is not), outside the trace, then run the command traced.
loup='import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH14s", fcntl.ioctl(s, 0x8913, struct.pack("16sH14s", b"lo", 0, b"")))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))'
"${ns[@]}" bash -c 'python3 -c "$1" || { echo "no-network: cannot bring lo up" >&2; exit 2; }
	shift; exec strace -f -qq --seccomp-bpf -e trace=connect,sendto,sendmsg -e signal=none -o "$0" "$@"' \
	"$log" "$loup" "$@"
rc=$?
# Any IPv4/IPv6 address but loopback (127.0.0.0/8, ::1, and IPv4-mapped loopback).
attempts=$(grep -E 'sa_family=AF_INET6?[,}]' "$log" |
	grep -vE 'inet_addr\("127\.[0-9.]+"\)|inet_pton\(AF_INET6, "(::1|::ffff:127\.[0-9.]+)"' || true)
if [ -n "$attempts" ]; then
	echo "no-network: FAILED: the command tried to reach the network:" >&2
	head -n 20 <<<"$attempts" >&2
	exit 1
fi
if [ $rc -ne 0 ]; then
	echo "no-network: the command failed (exit $rc), without trying to reach the network" >&2
fi
exit $rc
