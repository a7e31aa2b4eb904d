#!/bin/bash
# Compares two builds of the addon path by path: alternating processes (A, B, A, B, ...) so
# that a drifting machine moves both alike; prints medians per path and node and every
# process's figure. Not a test; run on a quiet machine after `npm run build`.
#   perf/tools/ab.sh A.node B.node [pairs=4] [rounds=2] [seconds=1.5] [families=ip4]
# Make the builds with e.g. `npm run build && cp build/Release/quiver.node /tmp/B.node`, then
# the same from the other commit into /tmp/A.node.
set -euo pipefail
a=${1:?A.node}; b=${2:?B.node}; pairs=${3:-4}; rounds=${4:-2}; seconds=${5:-1.5}; fams=${6:-ip4}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/quiver-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/build/Release"
cp -a "$repo/package.json" "$repo/dist" "$work/"
ln -s "$repo/node_modules" "$work/node_modules"
cp "$repo/build/Release/quiver_memif.node" "$work/build/Release/"
out="$work/results"
for _ in $(seq "$pairs"); do
  for v in A B; do
    if [ "$v" = A ]; then cp "$a" "$work/build/Release/quiver.node"; else cp "$b" "$work/build/Release/quiver.node"; fi
    echo "$v $(node "$repo/perf/tools/ab-paths.mjs" "$work" "$rounds" "$seconds" "$fams" | tail -1)" >> "$out"
  done
done
node - "$out" <<'JS'
const lines = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n');
const by = { A: [], B: [] };
for (const l of lines) by[l[0]].push(JSON.parse(l.slice(2)));
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const keys = new Set();
for (const r of [...by.A, ...by.B])
  for (const [k, x] of Object.entries(r)) if (typeof x === 'object') for (const n of Object.keys(x)) keys.add(`${k} / ${n}`); else keys.add(k);
const get = (k) => (r) => { const [p, n] = k.split(' / '); return n ? r[p]?.[n] : r[p]; };
console.log('path / node'.padEnd(36), 'A'.padStart(7), 'B'.padStart(7), '  each process (A | B)');
for (const k of [...keys].sort()) {
  const a = by.A.map(get(k)).filter((x) => x !== undefined), b = by.B.map(get(k)).filter((x) => x !== undefined);
  const f = (x) => (x === undefined ? '-' : x.toFixed(1));
  console.log(k.padEnd(36), f(median(a)).padStart(7), f(median(b)).padStart(7), '  ', a.map((x) => x.toFixed(0)).join(','), '|', b.map((x) => x.toFixed(0)).join(','));
}
JS
