#!/usr/bin/env bash
# Installs the system tools that tunstack uses, when they are missing and we may.
#   ensure-tools.sh start   what `npm start` and its ready line need: ip, ping, curl (prestart)
#   ensure-tools.sh         what the kernel-side tests need too (pretest, .ci/run)
# Without root or apt-get it only says what is missing: the kernel tests then skip outside CI and
# fail loudly in CI.
set -euo pipefail
declare -A tools=([ip]=iproute2 [ping]=iputils-ping [curl]=curl)
if [ "${1:-test}" != start ]; then
  tools+=(
    [tcpdump]=tcpdump [socat]=socat [nft]=nftables [cc]=gcc [make]=make [python3]=python3
    [chromium]=chromium [hping3]=hping3 [nmap]=nmap [wrk]=wrk
  )
fi
missing=()
for cmd in "${!tools[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${tools[$cmd]}")
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tools: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "ensure-tools: missing ${missing[*]} (install them as root; kernel tests need them)" >&2
fi
