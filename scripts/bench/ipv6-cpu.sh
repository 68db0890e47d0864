#!/bin/bash
# The stack's CPU per GB moved over IPv4 and over IPv6 (issue 12: IPv6 within 10 % of IPv4).
#
# Throughput on this shared 2-core machine moves with everyone's load; the CPU time the stack
# process spends per byte moves far less. One `tunstack up` (dual-stack, offloads on, in a
# namespace it creates and removes), the bench's tcpbulk from the namespace: ROUNDS rounds of MB
# megabytes each way (kernel -> stack to discard, stack -> kernel as GET /bytes/N), IPv4 and IPv6
# alternating with the order swapped every round, after one untimed transfer of each. Prints, per
# transfer, the stack's user + system time (/proc/PID/stat) per GB and the throughput.
#
#   bash scripts/bench/ipv6-cpu.sh [ROUNDS=6] [MB=2000]      # as root
#
# Every transfer is bounded (tcpbulk --seconds 60); the namespace goes with `up` on exit.
set -u
ROUNDS=${1:-6}
MB=${2:-2000}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d /tmp/tunstack-ipv6-cpu-XXXXXX)
NS=tsk-cpu6-$$
"${CC:-cc}" -O2 -Wall -pthread -o "$TMP/tcpbulk" "$REPO/scripts/bench-tools/tcpbulk.c" || exit 1
node --import tsx "$REPO/src/cli/main.ts" up --netns "$NS" --apps discard,http \
  --log-level warn >"$TMP/up.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 1 100); do
  ip netns exec "$NS" ping -c1 -W1 10.0.0.2 >/dev/null 2>&1 && break
  kill -0 $PID 2>/dev/null || { cat "$TMP/up.log"; exit 1; }
  sleep 0.2
done
ip netns exec "$NS" ping -6 -c1 -W2 fd00::2 >/dev/null || { echo 'no IPv6 at fd00::2'; exit 1; }
HZ=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; } # utime + stime, clock ticks

# run up|down ADDR: "<ms of stack CPU per GB> ms/GB <Gbit/s> Gbit/s"
run() {
  local c0 c1 out bytes bps
  c0=$(cpu)
  if [ "$1" = up ]; then
    out=$(ip netns exec "$NS" "$TMP/tcpbulk" --addr "$2" --port 9 --mode send \
      --bytes $((MB * 1000000)) --seconds 60 --drain-seconds 20 --cc cubic)
  else
    out=$(ip netns exec "$NS" "$TMP/tcpbulk" --addr "$2" --port 80 --mode recv --http \
      --bytes $((MB * 1000000)) --seconds 60 --cc cubic)
  fi
  c1=$(cpu)
  bytes=$(sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' <<<"$out")
  bps=$(sed -n 's/.*"bitsPerSecond":\([0-9]*\).*/\1/p' <<<"$out")
  awk -v c=$((c1 - c0)) -v hz="$HZ" -v b="${bytes:-0}" -v bps="${bps:-0}" \
    'BEGIN { if (b == 0) { print "n/a"; exit } printf "%.0f ms/GB %.2f Gbit/s", c / hz * 1000 / (b / 1e9), bps / 1e9 }'
}

for d in up down; do
  run $d 10.0.0.2 >/dev/null
  run $d fd00::2 >/dev/null
done
for i in $(seq 1 "$ROUNDS"); do
  for d in up down; do
    if [ $((i % 2)) = 1 ]; then
      a=$(run $d 10.0.0.2)
      b=$(run $d fd00::2)
    else
      b=$(run $d fd00::2)
      a=$(run $d 10.0.0.2)
    fi
    echo "round $i $d  IPv4: $a  IPv6: $b"
  done
done
