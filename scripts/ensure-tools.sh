#!/usr/bin/env bash
# Installs the system tools that the kernel-side tests use, when they are missing and we may.
# Called by `npm test` (pretest) and by .ci/run. Without root or apt-get it only says what is
# missing: the kernel tests then skip outside CI and fail loudly in CI.
set -euo pipefail
declare -A tools=(
  [ip]=iproute2 [ping]=iputils-ping [tcpdump]=tcpdump [socat]=socat [nft]=nftables
  [curl]=curl [cc]=gcc [make]=make [python3]=python3 [chromium]=chromium
)
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
