// One process of an A/B comparison (perf/tools/ab.sh): runs the bridge path and the VXLAN
// encap and decap paths over pg (underlay shortcuts on) `rounds` times and prints one JSON
// line: per path the median chain clocks/packet (pg excluded) and per node, and per family
// what encap + decap add beyond two bridge chains.
//   node perf/tools/ab-paths.mjs <package root> [rounds=2] [seconds=1.5] [families=ip4]
const [root, rounds = '2', seconds = '1.5', families = 'ip4'] = process.argv.slice(2);
if (!root) throw new Error('usage: ab-paths.mjs <package root> [rounds] [seconds] [families]');
const vxlan = await import(`${root}/dist/perf/scenarios/vxlan.js`);
const l2bd = await import(`${root}/dist/perf/scenarios/l2bd.js`);
const EDGE = new Set(['pg-input', 'pg-output']);
const chain = (c) => Object.entries(c).reduce((a, [n, v]) => a + (EDGE.has(n) ? 0 : v), 0);
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const runs = {};
const record = (k, c) => (runs[k] ??= []).push(c);
for (let r = 0; r < Number(rounds); r++) {
  record('bridge', (await l2bd.runOnce(Number(seconds), 1)).clocks);
  for (const f of families.split(','))
    for (const d of ['encap', 'decap']) record(`${f} ${d}`, (await vxlan.runOnce(d, f, Number(seconds), true)).clocks);
}
const out = {};
for (const [k, cs] of Object.entries(runs)) {
  out[k] = { chain: median(cs.map(chain)) };
  for (const n of new Set(cs.flatMap((c) => Object.keys(c)))) if (!EDGE.has(n)) out[k][n] = median(cs.map((c) => c[n] ?? 0));
}
for (const f of families.split(',')) out[`${f} add`] = out[`${f} encap`].chain + out[`${f} decap`].chain - 2 * out.bridge.chain;
console.log(JSON.stringify(out));
