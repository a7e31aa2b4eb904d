#!/usr/bin/env bash
# Installs what the tests need (Debian packages, when missing), makes sure the addon and the
# compiled TypeScript are current, then returns. Called by `npm test` before vitest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in iproute2 iputils-ping iperf3 tcpdump tshark python3-scapy graphviz dpdk dpdk-dev libdpdk-dev pkg-config \
         netsniff-ng containernetworking-plugins traceroute clang llvm libbpf-dev libxdp-dev xdp-tools libelf-dev; do
  have "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test/setup.sh: missing packages ${need[*]} and not root to install them" >&2
    exit 1
  fi
  echo "test/setup.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A clean clone, or a package.json/lock newer than the last install: dependencies.
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || { [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ]; }; then
  npm install --no-audit --no-fund
fi

# The addon decides at build time whether DPDK is compiled in; rebuild if it was built
# before libdpdk-dev was present, or never built.
want_dpdk=0
if [ -d native/dpdk ] && pkg-config --exists libdpdk; then want_dpdk=1; fi
if [ ! -f build/Release/quiver.node ]; then
  npm run install --silent
elif [ "$want_dpdk" = 1 ] && ! grep -q QUIVER_HAVE_DPDK build/config.gypi build/quiver.target.mk 2>/dev/null; then
  echo "test/setup.sh: rebuilding the addon with DPDK"
  npm run install --silent
else
  # Incremental: recompiles only what changed since the last build.
  npm run build --silent >/dev/null
fi
npx tsc -p tsconfig.json
