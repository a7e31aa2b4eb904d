#!/usr/bin/env node
// npm run bench -- <scenario> [--runs N] [--seconds S] [--smoke]
// Benchmarks are not tests: they print medians of repeated runs and write perf/results/<name>.json.
import { type BenchOptions, type Scenario, writeResult } from './bench.js';
import { aclScenario } from './scenarios/acl.js';
import { api } from './scenarios/api.js';
import { cni } from './scenarios/cni.js';
import { dpdkScenario } from './scenarios/dpdk.js';
import { fibLoad } from './scenarios/fib-load.js';
import { ip4 } from './scenarios/ip4.js';
import { ip6 } from './scenarios/ip6.js';
import { l2bd } from './scenarios/l2bd.js';
import { l2xc } from './scenarios/l2xc.js';
import { memifScenario } from './scenarios/memif.js';
import { veth } from './scenarios/veth.js';
import { vxlanScenario } from './scenarios/vxlan.js';

const scenarios: Scenario[] = [l2xc, api, l2bd, veth, ip4, ip6, fibLoad, memifScenario, dpdkScenario, aclScenario, vxlanScenario, cni];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const name = args.find((a) => !a.startsWith('--'));
  const flag = (f: string, d: number) => {
    const i = args.indexOf(f);
    return i >= 0 ? Number(args[i + 1]) : d;
  };
  const smoke = args.includes('--smoke');
  const s = scenarios.find((x) => x.name === name);
  if (!s) {
    console.log('usage: npm run bench -- <scenario> [--runs N] [--seconds S] [--smoke]\n\nscenarios:');
    for (const x of scenarios) console.log(`  ${x.name.padEnd(10)} ${x.description}`);
    process.exitCode = name ? 2 : 0;
    return;
  }
  const opts: BenchOptions = {
    runs: smoke ? 1 : flag('--runs', 5),
    seconds: smoke ? 0.3 : flag('--seconds', 2),
    smoke,
    log: (l) => console.log(l),
  };
  const result = await s.run(opts);
  const file = writeResult(smoke ? `${s.name}.smoke` : s.name, { runs: opts.runs, seconds: opts.seconds, ...result });
  console.log(`result: ${file}`);
}
await main();
