# tunstack in a container: the container's own network namespace is the stack's namespace.
#
#   docker build -t tunstack .
#   docker run -d --name tunstack --network none --cap-add NET_ADMIN --device /dev/net/tun \
#       --sysctl net.ipv6.conf.all.disable_ipv6=0 --sysctl net.ipv6.conf.default.disable_ipv6=0 \
#       tunstack
#   docker exec tunstack ping -c 3 10.0.0.2
#   docker exec tunstack ping -6 -c 3 fd00::2
#   docker exec tunstack curl http://10.0.0.2/
#   docker exec tunstack curl -6 'http://[fd00::2]/'
#
# `up --in-container` opens tun0 (10.0.0.1/24 and fd00::1/64, the kernel's side) in the
# container's namespace and runs the stack at 10.0.0.2 and fd00::2 (dual stack; the two sysctls
# let the container's new devices have IPv6, which Docker turns off by default: without them up
# runs IPv4 only and says so). It refuses a container that has a network of its own, hence
# --network none. docs/docker.md has the details, and the test that builds this file offline
# from a local Debian base (scripts/docker-test.sh).
#
# BASE: any Debian-like image; with Node 20+ already in it (the official node images) or without
# (plain Debian trixie, whose nodejs is 20: then apt installs nodejs and npm too).
ARG BASE=node:20-bookworm-slim
FROM ${BASE}
# NPM_EXTRA_CA: PEM text of CA certificates npm must trust for `npm ci`, for a network whose
# HTTPS goes through an inspecting proxy; empty (the usual case) adds nothing. Used only there.
ARG NPM_EXTRA_CA=""

# The addon's build tools, and what a person uses to look at the stack from the kernel's side.
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    pkgs="g++ make python3 iproute2 iputils-ping curl tcpdump ca-certificates"; \
    command -v node >/dev/null || pkgs="$pkgs nodejs npm"; \
    apt-get install -y --no-install-recommends $pkgs; \
    rm -rf /var/lib/apt/lists/*; \
    node --version; npm --version

WORKDIR /opt/tunstack

# Dependencies and the addon first, so that editing the TypeScript does not rebuild them.
# node-gyp builds against the headers that come with this node (no download): nodedir is the
# prefix whose include/node holds node_api.h (/usr/local in the node images, /usr in Debian's).
COPY package.json package-lock.json binding.gyp ./
COPY src/link/native ./src/link/native
RUN set -eux; \
    prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"; \
    if [ -f "$prefix/include/node/node_api.h" ]; then export npm_config_nodedir="$prefix"; fi; \
    if [ -n "$NPM_EXTRA_CA" ]; then \
      printf '%s\n' "$NPM_EXTRA_CA" >/tmp/npm-extra-ca.pem; \
      export NODE_EXTRA_CA_CERTS=/tmp/npm-extra-ca.pem; \
    fi; \
    npm ci --omit=dev --no-audit --no-fund; \
    rm -f /tmp/npm-extra-ca.pem; \
    test -f build/Release/tun.node; \
    npm cache clean --force

COPY . .

ENTRYPOINT ["node", "bin/tunstack.js"]
CMD ["up", "--in-container"]
