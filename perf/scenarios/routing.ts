// The pg phase shared by the ip4 and ip6 scenarios: the l2 cross-connect chain and each route
// count, interleaved run by run; medians, the L3 chain's clocks and both ratios to l2xc.
import * as engine from '../../src/engine.js';
import { type BenchOptions, median, medianClocks, printClocks } from '../bench.js';
import { runOnce as l2xcOnce } from './l2xc.js';

export interface Sample {
  mpps: number;
  clocks: Record<string, number>;
}

const L2XC_CHAIN = ['ethernet-input', 'l2-xconnect', 'interface-output'];
const chain = (c: Record<string, number>, nodes: string[]) => nodes.reduce((a, n) => a + (c[n] ?? 0), 0);

/** `once(routes, seconds)` measures one route count; the engine is stopped after it either way. */
export async function routedOverPg(
  o: BenchOptions,
  fam: 'ip4' | 'ip6',
  sizes: number[],
  once: (routes: number, seconds: number) => Promise<Sample>,
): Promise<Record<string, unknown>> {
  const l3Chain = ['ethernet-input', `${fam}-input`, `${fam}-lookup`, `${fam}-rewrite`, 'interface-output'];
  const xc: Sample[] = [];
  const results = new Map<number, Sample[]>(sizes.map((s) => [s, []]));
  for (let r = 0; r < o.runs; r++) {
    const x = await l2xcOnce(o.seconds);
    xc.push(x);
    let line = `  run ${r + 1}: l2xc ${x.mpps.toFixed(2)} Mpps`;
    for (const n of sizes) {
      try {
        const s = await once(n, o.seconds);
        results.get(n)!.push(s);
        line += `, ${n} routes ${s.mpps.toFixed(2)} Mpps`;
      } finally {
        if (engine.running()) engine.stop();
      }
    }
    o.log(line);
  }
  const xcClocks = medianClocks(xc.map((x) => x.clocks));
  const xcChain = chain(xcClocks, L2XC_CHAIN);
  const xcMpps = median(xc.map((x) => x.mpps));
  o.log(`l2xc: ${xcMpps.toFixed(2)} Mpps, chain ${xcChain.toFixed(1)} clocks/packet`);
  const out: Record<string, unknown> = { l2xc: { mppsMedian: xcMpps, chainClocks: xcChain, clocksPerPacket: xcClocks } };
  for (const n of sizes) {
    const s = results.get(n)!;
    const clocks = medianClocks(s.map((x) => x.clocks));
    const mpps = median(s.map((x) => x.mpps));
    const c = chain(clocks, l3Chain);
    o.log(`${fam} ${n} routes: ${mpps.toFixed(2)} Mpps (${(xcMpps / mpps).toFixed(2)}x l2xc time/packet), chain ${c.toFixed(1)} clocks/packet (${(c / xcChain).toFixed(2)}x l2xc chain)`);
    printClocks(o.log, clocks);
    out[`routes${n}`] = { mppsMedian: mpps, mppsRuns: s.map((x) => x.mpps), chainClocks: c, chainRatio: c / xcChain, mppsRatio: xcMpps / mpps, clocksPerPacket: clocks };
  }
  return out;
}
