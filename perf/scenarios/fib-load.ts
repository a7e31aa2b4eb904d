// Programming a large IPv4 FIB through the TypeScript API: 1M routes with an Internet-like
// prefix-length mix, once in one call and once as ten calls of 100k, each into an empty
// table; the time each takes and the memory the FIB holds (the FIB's own accounting of what
// it touched, and the process RSS before and after). Also the time to delete them all.
import { cpus } from 'node:os';
import * as engine from '../../src/engine.js';
import * as ip from '../../graph/ip/ip.js';
import * as pg from '../../graph/pg/pg.js';
import { type BenchOptions, type Scenario, median } from '../bench.js';

// Share of each prefix length in a full IPv4 table (rounded from public DFZ statistics).
const LENGTH_MIX: [number, number][] = [
  [8, 0.0002], [12, 0.001], [13, 0.002], [14, 0.004], [15, 0.006], [16, 0.013], [17, 0.008], [18, 0.014],
  [19, 0.025], [20, 0.04], [21, 0.05], [22, 0.12], [23, 0.1], [24, 0.6], [25, 0.004], [26, 0.004],
  [27, 0.003], [28, 0.002], [29, 0.001], [30, 0.0005], [32, 0.0005],
];

export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * n distinct unicast IPv4 prefixes packed for addRoutes ([addr, len] pairs), drawn from
 * 1.0.0.0 - 223.255.255.255 outside 198.18.0.0/15 (the test subnets), lengths by LENGTH_MIX.
 */
export function internetLikeRoutes(n: number, seed = 1): Uint32Array {
  const rand = rng(seed);
  const cdf: [number, number][] = [];
  let acc = 0;
  const total = LENGTH_MIX.reduce((a, [, p]) => a + p, 0);
  for (const [len, p] of LENGTH_MIX) cdf.push([len, (acc += p / total)]);
  const out = new Uint32Array(n * 2);
  const seen = new Set<number>();
  let k = 0;
  while (k < n) {
    const u = rand();
    const len = cdf.find(([, c]) => u <= c)?.[0] ?? 24;
    const addr = (0x01000000 + Math.floor(rand() * (0xdf000000 - 0x01000000))) >>> 0;
    const prefix = (len === 0 ? 0 : addr & (~0 << (32 - len))) >>> 0;
    if (len >= 15 && ((prefix & 0xfffe0000) >>> 0) === 0xc6120000) continue; // inside 198.18.0.0/15
    const key = prefix * 33 + len;
    if (seen.has(key)) continue;
    seen.add(key);
    out[2 * k] = prefix;
    out[2 * k + 1] = len;
    k++;
  }
  return out;
}

function rssBytes(): number {
  return process.memoryUsage().rss;
}

interface LoadRun {
  oneCallMs: number;
  tenCallsMs: number;
  deleteMs: number;
  fibBytes: number;
  rssDeltaBytes: number;
  plies: number;
}

async function runOnce(n: number): Promise<LoadRun> {
  engine.start({ workers: 1, cores: [cpus().length - 1], buffers: 16384 });
  try {
    pg.createPgInterface({ name: 'pg0' });
    engine.setInterfaceState('pg0', { adminUp: true });
    ip.addAddress('pg0', '198.18.0.1/24', { announce: false });
    ip.addNeighbor({ interface: 'pg0', address: '198.18.0.2', mac: '02:00:00:00:00:02' });
    const routes = internetLikeRoutes(n, 7);
    const target = [{ paths: [{ via: '198.18.0.2', interface: 'pg0' }] }];
    ip.addTable({ id: 1 });
    ip.addTable({ id: 2 });
    global.gc?.();
    const rss0 = rssBytes();
    let t = performance.now();
    ip.addRoutes({ table: 1, family: 'ip4', prefixes: routes, routes: target });
    const oneCallMs = performance.now() - t;
    const rssDelta = rssBytes() - rss0;
    const info = ip.tables().find((x) => x.id === 1)!;
    const batch = Math.ceil(n / 10) * 2;
    t = performance.now();
    for (let i = 0; i < routes.length; i += batch) ip.addRoutes({ table: 2, family: 'ip4', prefixes: routes.subarray(i, i + batch), routes: target });
    const tenCallsMs = performance.now() - t;
    t = performance.now();
    ip.deleteRoutes({ table: 2, family: 'ip4', prefixes: routes });
    const deleteMs = performance.now() - t;
    return { oneCallMs, tenCallsMs, deleteMs, fibBytes: info.ip4Bytes, rssDeltaBytes: rssDelta, plies: info.ip4Plies };
  } finally {
    engine.stop();
  }
}

export const fibLoad: Scenario = {
  name: 'fib-load',
  description: 'program 1M IPv4 routes through the TypeScript API: time and FIB memory',
  async run(o: BenchOptions) {
    const n = o.smoke ? 100_000 : 1_000_000;
    const runs: LoadRun[] = [];
    for (let r = 0; r < o.runs; r++) {
      const x = await runOnce(n);
      runs.push(x);
      o.log(
        `  run ${r + 1}: ${n} routes in one call ${x.oneCallMs.toFixed(0)} ms, in ten calls ${x.tenCallsMs.toFixed(0)} ms, ` +
          `deleted in ${x.deleteMs.toFixed(0)} ms; FIB ${(x.fibBytes / 2 ** 20).toFixed(1)} MiB (${x.plies} plies), RSS +${(x.rssDeltaBytes / 2 ** 20).toFixed(1)} MiB`,
      );
    }
    const m = (f: (x: LoadRun) => number) => median(runs.map(f));
    o.log(
      `fib-load median: ${n} IPv4 routes programmed in ${m((x) => x.oneCallMs).toFixed(0)} ms (one call), ` +
        `${m((x) => x.tenCallsMs).toFixed(0)} ms (ten calls); FIB ${(m((x) => x.fibBytes) / 2 ** 20).toFixed(1)} MiB; ` +
        `RSS +${(m((x) => x.rssDeltaBytes) / 2 ** 20).toFixed(1)} MiB`,
    );
    return {
      routes: n,
      oneCallMsMedian: m((x) => x.oneCallMs),
      tenCallsMsMedian: m((x) => x.tenCallsMs),
      deleteMsMedian: m((x) => x.deleteMs),
      fibBytesMedian: m((x) => x.fibBytes),
      rssDeltaBytesMedian: m((x) => x.rssDeltaBytes),
      runs,
    };
  },
};
