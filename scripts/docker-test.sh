#!/usr/bin/env bash
# Build the Dockerfile and run `tunstack up --in-container` in a container, then reach the stack
# from inside the container as a person would, over IPv4 and IPv6 (up is dual-stack: 10.0.0.2 and
# fd00::2): ping, ping -6, curl, curl -6, tcpdump, tunstack ss, docker stop.
#
# Works offline apart from the package registries: no image registry is reachable here, so the
# base image is made locally (debootstrap --variant=minbase trixie from the Debian mirror apt
# already uses; trixie's nodejs is 20) and imported, and the Dockerfile's apt and npm steps run
# with `docker build --network host --build-arg BASE=<that image>`.
#
# Its own Docker engine, sharing nothing with any other: a private dockerd with its own data root,
# exec root, pidfile, config file and socket, started with --bridge=none --iptables=false
# --ip-forward=false so that nothing is added to the root namespace (checked at the end), and the
# container runs with --network none: the TUN device, its 10.0.0.1/24 and fd00::1/64 and every
# packet live in the container's own namespace. IPv6 is switched on for the devices the container
# creates (--sysctl net.ipv6.conf.{all,default}.disable_ipv6=0; /proc/sys is read-only inside).
#
# Exit status: 0 passed; 77 skipped (no Docker engine can run on this machine: the reason is
# printed on a line starting "SKIP:"); anything else failed. Everything made is removed on any
# exit (daemon, containers, images, data root, debootstrap directory); leftovers of a run that was
# killed are removed at the start of the next. Bounded: each step has a timeout and the whole run
# stops after TUNSTACK_DOCKER_TIMEOUT seconds (default 900).
#
# Cache: the base image's tarball is kept in TUNSTACK_DOCKER_CACHE (default
# /var/cache/tunstack-docker) and reused for 30 days; with an empty cache the run starts from
# nothing.
#
# Which Node the image gets, TUNSTACK_DOCKER_NODE:
#   debian (default)  the bare trixie base: the Dockerfile's apt installs nodejs and npm (Node 20)
#                     with the build tools; about 450 packages, two minutes of dpkg.
#   host              this machine's Node copied into the base's /usr/local, laid out as in the
#                     official node images (the Dockerfile's default BASE): apt adds only the
#                     build tools, and node-gyp finds the headers under /usr/local. Faster.
# Usage: bash scripts/docker-test.sh (as root; no arguments).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${TUNSTACK_DOCKER_CACHE:-/var/cache/tunstack-docker}"
LIMIT="${TUNSTACK_DOCKER_TIMEOUT:-900}"
NODE_FROM="${TUNSTACK_DOCKER_NODE:-debian}"
SUITE=trixie
# The cached base's name carries the recipe's version: bump it when the recipe below changes.
BASE_TAR="$CACHE/debian-$SUITE-minbase-r2.tar.gz"
WORK_PREFIX=/var/tmp/tunstack-docker-
WORK="$WORK_PREFIX$$"
SOCK="$WORK/docker.sock"
NAME="tsk-docker-$$"
BASE_IMAGE="tunstack-test-base:$$"
IMAGE="tunstack-test:$$"
START=$SECONDS

log() { printf '[docker-test %4ds] %s\n' "$((SECONDS - START))" "$*"; }
skip() {
  echo "SKIP: $*"
  exit 77
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

case "$NODE_FROM" in debian | host) ;; *) fail "TUNSTACK_DOCKER_NODE must be debian or host" ;; esac

# --- can an engine run here at all? ------------------------------------------------------------
[ "$(uname -s)" = Linux ] || skip "Docker needs Linux (this is $(uname -s))"
[ "$(id -u)" = 0 ] || skip "needs root to start a private dockerd"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing (the container needs it)"

# The whole run is bounded: a watchdog sends SIGTERM, and the EXIT trap cleans up. Long steps run
# through bg() because bash acts on a trapped signal only once a foreground command has finished.
(
  sleep "$LIMIT"
  # Only while the script is still our parent: after a kill -9 its pid may belong to another.
  [ "$(ps -o ppid= -p "$BASHPID" | tr -d ' ')" = $$ ] || exit 0
  echo "FAIL: the whole run took longer than $LIMIT s" >&2
  kill -TERM $$ 2>/dev/null
) &
WATCHDOG=$!

DAEMON_PID=
DEBOOTSTRAP_DIR=
exec 3>&1 4>&2 # the script's own output, for a cleanup that starts inside a redirected step
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  exec 1>&3 2>&4
  kill $(pgrep -P "$WATCHDOG") "$WATCHDOG" 2>/dev/null
  local t0=$SECONDS
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    d rm -f "$NAME" >/dev/null 2>&1
    d rmi -f "$IMAGE" "$BASE_IMAGE" >/dev/null 2>&1
    local t1=$SECONDS
    stop_daemon "$DAEMON_PID"
    log "removed the container and images in $((t1 - t0)) s, stopped dockerd in $((SECONDS - t1)) s"
  fi
  remove_workdir "$WORK"
  [ -n "$DEBOOTSTRAP_DIR" ] && remove_workdir "$DEBOOTSTRAP_DIR"
  log "cleaned up in $((SECONDS - t0)) s (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
bg() {
  "$@" &
  wait $!
}
trap 'exit 143' TERM
trap 'exit 130' INT

# SIGTERM to one dockerd by pid, SIGKILL after 20 s. (What it may leave behind, its managed
# containerd and shims, remove_workdir finds by the directory their command lines name.)
stop_daemon() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# Processes whose command line names directory $1 or a path below it (a private dockerd, its
# containerd and shims, a debootstrap and its chroots), and no other: an argument that merely
# begins with the same characters (the directory of a concurrent run) does not count.
pids_using() {
  {
    grep -laF -- "$1/" /proc/[0-9]*/cmdline
    grep -lzxF -- "$1" /proc/[0-9]*/cmdline
  } 2>/dev/null | cut -d/ -f3 | sort -u || true
}

# Unmount whatever is still mounted below $1 (overlays, netns files), deepest first, then remove.
remove_workdir() {
  local dir=$1 p m
  [ -e "$dir" ] || return 0
  for p in $(pids_using "$dir"); do kill -KILL "$p" 2>/dev/null || true; done
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  # Never through a mount that would not go away: --one-file-system stops there.
  rm -rf --one-file-system "$dir" || echo "warning: could not remove all of $dir" >&2
}

# Leftovers of earlier runs that were killed: work directories whose creator is gone.
for old in "$WORK_PREFIX"[0-9]*; do
  [ -d "$old" ] || continue
  pid="${old#"$WORK_PREFIX"}"
  pid="${pid%%.*}"
  if ! kill -0 "$pid" 2>/dev/null; then
    log "removing leftovers of an earlier run: $old"
    if [ -f "$old/dockerd.pid" ]; then
      dpid=$(cat "$old/dockerd.pid")
      # Only the dockerd that run started: its command line names that run's directory.
      if grep -qaF -- "$old/" "/proc/$dpid/cmdline" 2>/dev/null; then
        stop_daemon "$dpid"
      fi
    fi
    remove_workdir "$old"
  fi
done

# --- tools ---------------------------------------------------------------------------------------
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing docker.io and debootstrap with apt-get (no service is started)"
  # policy-rc.d 101 keeps the package scripts from starting the system's dockerd, which would
  # add docker0 and iptables rules to the root namespace.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  ok=1
  (timeout 120 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 \
    apt-get install -y -qq --no-install-recommends docker.io debootstrap) >"/tmp/docker-test-apt.$$.log" 2>&1 || ok=
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  if [ -z "$ok" ]; then
    tail -5 "/tmp/docker-test-apt.$$.log"
    rm -f "/tmp/docker-test-apt.$$.log"
    skip "could not install docker.io and debootstrap with apt-get (output above)"
  fi
  rm -f "/tmp/docker-test-apt.$$.log"
fi
# The client that came with this dockerd (another docker on PATH may be newer and want buildx).
DOCKERD="$(command -v dockerd)"
DOCKER="$(dirname "$DOCKERD")/../bin/docker"
[ -x "$DOCKER" ] || DOCKER="$(command -v docker)" || skip "dockerd is installed but no docker client"
d() { DOCKER_BUILDKIT=0 timeout 600 "$DOCKER" -H "unix://$SOCK" "$@"; }

# --- a private daemon ----------------------------------------------------------------------------
links_before="$(ip -o link show | awk -F': ' '{ print $2 }' | sort | tr '\n' ' ')"
mkdir -p "$WORK/data" "$WORK/exec"
echo '{}' >"$WORK/daemon.json" # not /etc/docker/daemon.json
log "starting a private dockerd ($("$DOCKERD" --version))"
"$DOCKERD" --config-file "$WORK/daemon.json" --data-root "$WORK/data" --exec-root "$WORK/exec" \
  --pidfile "$WORK/dockerd.pid" -H "unix://$SOCK" --bridge=none --iptables=false \
  --ip-forward=false --ip-masq=false >"$WORK/dockerd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 60); do
  d version >/dev/null 2>&1 && break
  if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
    tail -15 "$WORK/dockerd.log"
    skip "dockerd cannot run on this machine (its log is above)"
  fi
  sleep 0.5
done
d version >/dev/null 2>&1 || {
  tail -15 "$WORK/dockerd.log"
  skip "dockerd did not answer within 30 s (its log is above)"
}
log "dockerd is up: storage driver $(d info --format '{{.Driver}}'), cgroup $(d info --format '{{.CgroupVersion}}')"

# --- the base image: Debian trixie minbase, made here ---------------------------------------------
if [ -f "$BASE_TAR" ] && [ -z "$(find "$BASE_TAR" -mtime +30)" ]; then
  log "base image from the cache: $BASE_TAR"
else
  mirror="$(awk '/^URIs:/ { print $2; exit } /^deb / { print $2; exit }' \
    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -1)"
  case "$mirror" in http*://*/debian) ;; *) mirror=http://deb.debian.org/debian ;; esac
  DEBOOTSTRAP_DIR="$WORK_PREFIX$$.rootfs"
  log "debootstrap --variant=minbase $SUITE from $mirror (no cached base image)"
  bg timeout 600 debootstrap --variant=minbase "$SUITE" "$DEBOOTSTRAP_DIR" "$mirror" \
    >"$WORK/debootstrap.log" 2>&1 || {
    tail -15 "$WORK/debootstrap.log"
    fail "debootstrap failed (log above)"
  }
  rm -rf "$DEBOOTSTRAP_DIR/var/cache/apt/archives/"*.deb "$DEBOOTSTRAP_DIR/var/lib/apt/lists/"*
  # As in Debian's official images: dpkg without an fsync per file. Installing nodejs, npm and
  # their ~450 packages in the build takes 90 s with it and 250 s without.
  echo force-unsafe-io >"$DEBOOTSTRAP_DIR/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  mkdir -p "$CACHE"
  tar -C "$DEBOOTSTRAP_DIR" --numeric-owner -c . | gzip -1 >"$BASE_TAR.tmp.$$"
  mv "$BASE_TAR.tmp.$$" "$BASE_TAR"
  find "$CACHE" -maxdepth 1 -name "debian-*.tar.gz*" ! -path "$BASE_TAR" -delete # older recipes
  remove_workdir "$DEBOOTSTRAP_DIR"
  DEBOOTSTRAP_DIR=
  log "base image cached: $BASE_TAR ($(du -h "$BASE_TAR" | cut -f1))"
fi
if [ "$NODE_FROM" = debian ]; then
  d import "$BASE_TAR" "$BASE_IMAGE" >/dev/null
  log "imported $BASE_IMAGE"
else
  # The official node images are Debian plus Node's release tarball in /usr/local: bin/node,
  # lib/node_modules/npm, include/node. The same from this machine's Node, wherever it lives.
  node_bin="$(readlink -f "$(command -v node)")" || fail "TUNSTACK_DOCKER_NODE=host: no node here"
  node_prefix="$(dirname "$(dirname "$node_bin")")"
  npm_dir="$(npm root -g)/npm"
  [ -f "$node_prefix/include/node/node_api.h" ] && [ -f "$npm_dir/bin/npm-cli.js" ] ||
    fail "TUNSTACK_DOCKER_NODE=host: no Node headers under $node_prefix/include/node or npm in $npm_dir"
  ctx="$WORK/node-base"
  mkdir -p "$ctx/usr/local/bin" "$ctx/usr/local/lib/node_modules" "$ctx/usr/local/include"
  cp "$node_bin" "$ctx/usr/local/bin/node"
  cp -r "$npm_dir" "$ctx/usr/local/lib/node_modules/npm"
  cp -r "$node_prefix/include/node" "$ctx/usr/local/include/node"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ctx/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ctx/usr/local/bin/npx"
  printf 'FROM %s\nCOPY usr /usr\nRUN node --version && npm --version\n' "$BASE_IMAGE-bare" >"$ctx/Dockerfile"
  d import "$BASE_TAR" "$BASE_IMAGE-bare" >/dev/null
  d build -q -t "$BASE_IMAGE" "$ctx" >/dev/null || fail "could not add this machine's Node to the base"
  d rmi "$BASE_IMAGE-bare" >/dev/null 2>&1 || true # still referenced by the layers: untags only
  log "imported $BASE_IMAGE with this machine's Node $("$node_bin" --version) in /usr/local"
fi

# --- the image -----------------------------------------------------------------------------------
# CA certificates this machine added locally (Debian's place for them): where HTTPS goes through
# an inspecting proxy, npm in the build must trust them too (the Dockerfile's NPM_EXTRA_CA).
extra_ca="$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)"
build_image() {
  d build --network host --build-arg "BASE=$BASE_IMAGE" --build-arg "NPM_EXTRA_CA=$extra_ca" \
    -t "$IMAGE" "$ROOT" 2>&1 | while IFS= read -r line; do
    printf '%4d %s\n' "$((SECONDS - START))" "$line"
  done
}
log "docker build --network host --build-arg BASE=$BASE_IMAGE (log: $WORK/build.log)"
bg build_image >"$WORK/build.log" || {
  tail -30 "$WORK/build.log"
  cp "$WORK/build.log" "/tmp/tunstack-docker-test.build.log"
  fail "docker build failed (log above; all of it in /tmp/tunstack-docker-test.build.log)"
}
grep -E '^ *[0-9]+ Step ' "$WORK/build.log" | cut -c1-100
log "built $IMAGE ($(d image inspect --format '{{.Size}}' "$IMAGE" | awk '{ printf "%d MB", $1 / 1e6 }'))"

# --- the safety rule: --in-container refuses a namespace that has a network of its own ----------
# `--network host` puts the container in this machine's root namespace, which has real interfaces:
# up must refuse before it opens anything. Run with no capabilities and no /dev/net/tun, so that
# even a broken check could not create a device here.
out="$(d run --rm --network host --cap-drop ALL "$IMAGE" up --in-container 2>&1)" &&
  fail "up --in-container ran in the root namespace: $out"
grep -q 'has a network of its own' <<<"$out" || fail "up --in-container failed, but not by refusing: $out"
log "up --in-container in the root namespace (--network host): refused"

# --- the container: the stack and its host side in the container's own namespace ---------------
d run -d --name "$NAME" --network none --cap-add NET_ADMIN --device /dev/net/tun \
  --sysctl net.ipv6.conf.all.disable_ipv6=0 --sysctl net.ipv6.conf.default.disable_ipv6=0 \
  "$IMAGE" >/dev/null
logs_of() { d logs "$NAME" 2>&1; }
for _ in $(seq 1 120); do
  [[ "$(logs_of)" == *'"msg":"ready'* ]] && break
  [ "$(d inspect --format '{{.State.Running}}' "$NAME")" = true ] || break
  sleep 0.5
done
[[ "$(logs_of)" == *'"msg":"ready'* ]] || {
  logs_of | tail -20
  fail "tunstack up --in-container did not print its ready line (log above)"
}
log "$(grep -o '"msg":"ready[^"]*"' <<<"$(logs_of)")"
# Dual stack: up said so, or it fell back to IPv4 with a warning (a container without IPv6).
if grep -q 'IPv6 is not available' <<<"$(logs_of)"; then
  logs_of | grep 'IPv6 is not available' | tail -1
  fail "tunstack up --in-container fell back to IPv4 only"
fi
x() { d exec "$NAME" "$@"; }

# tcpdump on the kernel's side of the device, in the container, for what follows.
x sh -c 'echo $$ >/tmp/tcpdump.pid; exec tcpdump -ni tun0 -U -w /tmp/t.pcap 2>/tmp/tcpdump.err' &
TCPDUMP_JOB=$!
for _ in $(seq 1 40); do
  x grep -q 'listening on' /tmp/tcpdump.err 2>/dev/null && break
  sleep 0.25
done
x grep -q 'listening on' /tmp/tcpdump.err || fail "tcpdump did not start: $(x cat /tmp/tcpdump.err)"

out="$(x ping -n -c 3 -W 2 10.0.0.2)" || fail "ping 10.0.0.2 failed: $out"
grep -q ' 3 received' <<<"$out" || fail "ping: not 3 replies: $out"
log "ping: $(echo "$out" | grep -E 'received|rtt')"

out="$(x curl -sS -m 10 http://10.0.0.2/)" || fail "curl http://10.0.0.2/ failed: $out"
grep -q 'you are 10.0.0.1:[0-9]*, this is 10.0.0.2:80' <<<"$out" ||
  fail "curl http://10.0.0.2/: unexpected page: $out"
log "curl /: $(echo "$out" | head -2 | tr '\n' ' ')"

out="$(x ping -6 -n -c 3 -W 2 fd00::2)" || fail "ping -6 fd00::2 failed: $out"
grep -q ' 3 received' <<<"$out" || fail "ping -6: not 3 replies: $out"
log "ping -6: $(echo "$out" | grep -E 'received|rtt')"

out="$(x curl -6 -sS -m 10 'http://[fd00::2]/')" || fail "curl -6 http://[fd00::2]/ failed: $out"
grep -q 'you are \[fd00::1\]:[0-9]*, this is \[fd00::2\]:80' <<<"$out" ||
  fail "curl -6 http://[fd00::2]/: unexpected page: $out"
log "curl -6 /: $(echo "$out" | head -2 | tr '\n' ' ')"

n="$(x sh -c 'curl -sS -m 30 http://10.0.0.2/bytes/1000000 | wc -c')"
[ "$n" = 1000000 ] || fail "curl /bytes/1000000 gave $n bytes"
log "curl /bytes/1000000: $n bytes"
n="$(x sh -c "curl -6 -sS -m 30 'http://[fd00::2]/bytes/1000000' | wc -c")"
[ "$n" = 1000000 ] || fail "curl -6 /bytes/1000000 gave $n bytes"
log "curl -6 /bytes/1000000: $n bytes"

out="$(x node bin/tunstack.js ss)" || fail "tunstack ss failed: $out"
grep -qE 'LISTEN .*:80 ' <<<"$out" || fail "tunstack ss: no listener on port 80: $out"
log "tunstack ss: listening on $(awk '$1 == "LISTEN" { printf "%s ", $4 }' <<<"$out")"

x sh -c 'kill -INT "$(cat /tmp/tcpdump.pid)"'
wait "$TCPDUMP_JOB" || true
pcap="$(x tcpdump -nr /tmp/t.pcap 2>/dev/null)"
replies="$(echo "$pcap" | grep -c '10.0.0.2 > 10.0.0.1: ICMP echo reply' || true)"
segs="$(echo "$pcap" | grep -c 'IP 10.0.0.2.80 > 10.0.0.1.[0-9]*: Flags' || true)"
replies6="$(echo "$pcap" | grep -c 'IP6 fd00::2 > fd00::1: ICMP6, echo reply' || true)"
segs6="$(echo "$pcap" | grep -c 'IP6 fd00::2.80 > fd00::1.[0-9]*: Flags' || true)"
[ "$replies" -ge 3 ] || fail "tcpdump saw $replies echo replies from the stack, expected 3"
[ "$segs" -ge 10 ] || fail "tcpdump saw $segs TCP segments from the stack's port 80"
[ "$replies6" -ge 3 ] || fail "tcpdump saw $replies6 ICMPv6 echo replies from the stack, expected 3"
[ "$segs6" -ge 10 ] || fail "tcpdump saw $segs6 TCP segments from the stack's [fd00::2]:80"
log "tcpdump -i tun0: $(echo "$pcap" | wc -l) packets; from the stack $replies echo replies and $segs segments over IPv4, $replies6 and $segs6 over IPv6"

# docker stop sends SIGTERM: the stack closes in order and exits 0.
d stop -t 10 "$NAME" >/dev/null
code="$(d inspect --format '{{.State.ExitCode}}' "$NAME")"
[ "$code" = 0 ] || {
  logs_of | tail -10
  fail "the container exited $code after docker stop"
}
[[ "$(logs_of)" == *'"msg":"stopped"'* ]] || fail "no 'stopped' line after docker stop"
log "docker stop: exit 0 after an orderly shutdown"

# Nothing was added to the root namespace.
links_after="$(ip -o link show | awk -F': ' '{ print $2 }' | sort | tr '\n' ' ')"
[ "$links_before" = "$links_after" ] ||
  fail "the root namespace's interfaces changed: before: $links_before; after: $links_after"

log "passed in $((SECONDS - START)) s"
