#!/usr/bin/env node
// npm run bench -- <scenario> [--runs N] [--seconds S] [--smoke]
// Benchmarks are not tests: they print medians of repeated runs and write perf/results/<name>.json.
import { readFileSync, writeFileSync } from 'node:fs';
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

const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';
const FREE_HUGEPAGES = '/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages';
const BENCH_HUGEPAGES = 512; // 1 GiB: every scenario's buffer pools fit

/**
 * Engines in a benchmark take their buffers from 2 MiB hugepages when enough are free (as a
 * VPP or DPDK lab runs), else from 4 KiB pages, which cost TLB misses and change the figures.
 * A fresh machine has none reserved: reserve them for the run, give them back after.
 */
function reserveHugepages(log: (l: string) => void): () => void {
  try {
    const free = Number(readFileSync(FREE_HUGEPAGES, 'utf8'));
    if (free >= BENCH_HUGEPAGES) return () => {};
    const before = readFileSync(NR_HUGEPAGES, 'utf8').trim();
    writeFileSync(NR_HUGEPAGES, String(Number(before) + BENCH_HUGEPAGES - free));
    log(`hugepages: ${readFileSync(FREE_HUGEPAGES, 'utf8').trim()} free 2 MiB pages for the run (nr_hugepages ${before} restored after)`);
    return () => writeFileSync(NR_HUGEPAGES, before);
  } catch (e) {
    log(`hugepages: could not reserve (${(e as Error).message}); buffers use 4 KiB pages`);
    return () => {};
  }
}

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
  // Not for smokes: they run beside tests that change the reservation themselves.
  const release = smoke ? () => {} : reserveHugepages(opts.log);
  let result: Record<string, unknown>;
  try {
    result = await s.run(opts);
  } finally {
    release();
  }
  const file = writeResult(smoke ? `${s.name}.smoke` : s.name, { runs: opts.runs, seconds: opts.seconds, ...result });
  console.log(`result: ${file}`);
}
await main();
