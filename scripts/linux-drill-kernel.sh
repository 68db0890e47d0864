#!/bin/bash
# Run Linux's packetdrill scripts against this machine's own kernel, for comparison with
# scripts/linux-drill.ts (which runs them against tunstack): is a script tunstack fails one that
# today's Linux passes? Needs root, a packetdrill binary built from the same checkout as the
# scripts (google/packetdrill: gtests/net/packetdrill, ./configure && make; it needs bison and
# flex), and the checkout's gtests/net/common beside gtests/net/tcp (defaults.sh).
#
#   scripts/linux-drill-kernel.sh PACKETDRILL TCP_DIR [SCRIPT...]   (SCRIPT relative to TCP_DIR;
#                                                                      default: every .pkt)
#
# Each script runs in a network namespace of its own (packetdrill's tun device, addresses and
# routes live there), removed when the script ends, also on failure or interrupt; nothing
# touches the root namespace. One line per script: path|exit status|packetdrill's first error.
# Timing errors are common on a loaded machine (packetdrill's tolerance is 4 ms), and `%{ }%`
# blocks need packetdrill's Python helpers: read those lines with that in mind.
set -u
if [ $# -lt 2 ] || [ "$(id -u)" != 0 ]; then
	echo "usage (as root): $0 PACKETDRILL TCP_DIR [SCRIPT...]" >&2
	exit 2
fi
pd=$(realpath "$1")
dir=$(realpath "$2")
shift 2
ns=""
cleanup() { [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null; ns=""; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
if [ $# -eq 0 ]; then
	mapfile -t scripts < <(cd "$dir" && find . -name '*.pkt' | sed 's#^\./##' | sort)
else
	scripts=("$@")
fi
for s in "${scripts[@]}"; do
	ns="tunstack-pd-$$-$RANDOM"
	ip netns add "$ns" || exit 1
	ip -netns "$ns" link set lo up
	out=$(cd "$dir/$(dirname "$s")" && timeout 60 ip netns exec "$ns" "$pd" "$(basename "$s")" 2>&1)
	rc=$?
	cleanup
	err=$(printf '%s\n' "$out" | grep -m1 -E 'error|Error' | tr '|' '/' | cut -c1-200)
	echo "$s|$rc|$err"
done
