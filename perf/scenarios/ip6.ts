// IPv6 routing over pg: 64-byte UDP frames through ethernet-input -> ip6-input -> ip6-lookup
// -> ip6-rewrite -> pg-output with 1, 10k and 1M routes (an IPv6 DFZ-like length mix
// under 2000::/4, 16 next hops, a default route), one worker pinned to the last core, beside
// the l2 cross-connect chain. Destinations: each frame's /64 is taken from a random route of
// the table (64k of them, round robin) and its low 64 bits are random per packet, so lookups
// land on real routes of every length, not on the default. Then the same over memif (the memif
// benchmark's topology: a generator process on core 0 replaying the frames from a pcap, Quiver
// routing between two memif servers on core 1), beside a memif cross-connect.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as engine from '../../src/engine.js';
import * as ip from '../../graph/ip/ip.js';
import * as pg from '../../graph/pg/pg.js';
import { type BenchOptions, type Scenario, clocksPerNode } from '../bench.js';
import { type MemifRun, measureOverMemif, routedOverMemif } from '../generator.js';
import { rng } from './fib-load.js';
import { routedOverPg } from './routing.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOPS = 16;

const LENGTH_MIX: [number, number][] = [
  [19, 0.001], [20, 0.002], [24, 0.002], [28, 0.01], [29, 0.03], [30, 0.01], [32, 0.1], [33, 0.01], [34, 0.01],
  [36, 0.02], [40, 0.05], [42, 0.01], [44, 0.1], [45, 0.01], [46, 0.02], [47, 0.03], [48, 0.5], [56, 0.03], [64, 0.01],
];

/** n distinct IPv6 prefixes under 2000::/4 packed [w0, w1, w2, w3, len]. */
export function ip6Routes(n: number, seed = 3): Uint32Array {
  const rand = rng(seed);
  const total = LENGTH_MIX.reduce((a, [, p]) => a + p, 0);
  let acc = 0;
  const cdf = LENGTH_MIX.map(([len, p]) => [len, (acc += p / total)] as const);
  const out = new Uint32Array(n * 5);
  const seen = new Set<string>();
  let k = 0;
  while (k < n) {
    const u = rand();
    const len = cdf.find(([, c]) => u <= c)?.[0] ?? 48;
    const w = [0x20000000 | ((rand() * 0x10000000) >>> 0), (rand() * 2 ** 32) >>> 0, 0, 0];
    const masked = w.map((x, i) => {
      const keep = len - 32 * i;
      return keep >= 32 ? x : keep <= 0 ? 0 : (x & (~0 << (32 - keep))) >>> 0;
    });
    if (masked[0] === 0x20010db8) continue; // the test prefix
    const key = `${masked[0]}:${masked[1]}/${len}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.set([...masked, len], k * 5);
    k++;
  }
  return out;
}

function frame(dstMac: string, dstHi: [number, number]): Buffer {
  const f = Buffer.alloc(64);
  Buffer.from(dstMac.replace(/:/g, ''), 'hex').copy(f, 0);
  Buffer.from('020000000002', 'hex').copy(f, 6);
  f.writeUInt16BE(0x86dd, 12);
  f.writeUInt32BE(0x60000000, 14);
  f.writeUInt16BE(64 - 54, 18);
  f[20] = 17;
  f[21] = 64;
  Buffer.from('20010db8000000000000000000000002', 'hex').copy(f, 22);
  f.writeUInt32BE(dstHi[0], 38);
  f.writeUInt32BE(dstHi[1], 42);
  f.writeUInt16BE(1024, 54);
  f.writeUInt16BE(1024, 56);
  f.writeUInt16BE(10, 58);
  return f;
}

export async function setup(routes: number): Promise<Buffer[]> {
  engine.start({ workers: 1, cores: [cpus().length - 1], buffers: 32768 });
  try {
    pg.createPgInterface({ name: 'pg0' });
    pg.createPgInterface({ name: 'pg1' });
    engine.setInterfaceState('pg0', { adminUp: true });
    engine.setInterfaceState('pg1', { adminUp: true });
    return configureRoutes(routes, 'pg0', 'pg1');
  } catch (e) {
    engine.stop();
    throw e;
  }
}

/** Addresses on rx and tx, `routes` routes over 16 next hops behind tx; frames to send into rx. */
function configureRoutes(routes: number, rx: string, tx: string): Buffer[] {
  ip.addAddress(rx, '2001:db8::1/64', { announce: false });
  ip.addAddress(tx, '2001:db8:1::1/64', { announce: false });
  const targets = Array.from({ length: HOPS }, (_, i) => {
    const nh = `2001:db8:1::${(16 + i).toString(16)}`;
    ip.addNeighbor({ interface: tx, address: nh, mac: `02:00:00:00:06:${(16 + i).toString(16)}` });
    return { paths: [{ via: nh, interface: tx }] };
  });
  ip.addRoute({ prefix: '::/0', paths: [{ via: '2001:db8:1::10', interface: tx }] });
  const mac = engine.findInterface(rx).mac;
  if (routes <= 1) return [frame(mac, [0x20000000, 0])];
  const prefixes = ip6Routes(routes - 1);
  ip.addRoutes({ family: 'ip6', prefixes, routes: targets, routeIndex: new Uint32Array(routes - 1).map((_, i) => i % HOPS) });
  const rand = rng(5);
  const frames: Buffer[] = [];
  for (let i = 0; i < Math.min(routes - 1, 65536); i++) {
    const r = Math.floor(rand() * (routes - 1));
    const len = prefixes[r * 5 + 4]!;
    const host = [(rand() * 2 ** 32) >>> 0, (rand() * 2 ** 32) >>> 0];
    const hi = [0, 1].map((k) => {
      const keep = len - 32 * k;
      const m = keep >= 32 ? ~0 : keep <= 0 ? 0 : ~0 << (32 - keep);
      return ((prefixes[r * 5 + k]! & m) | (host[k]! & ~m)) >>> 0;
    }) as [number, number];
    frames.push(frame(mac, hi));
  }
  return frames;
}

// The interface identifier of every destination randomised per packet (the prefix part stays
// inside a route).
const RANDOM_IID = [
  { field: 'offset' as const, offset: 46, width: 4 as const, start: 0, count: 0xffffffff, random: true },
  { field: 'offset' as const, offset: 50, width: 4 as const, start: 0, count: 0xffffffff, random: true },
];

function writePcap(file: string, frames: Buffer[]): void {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);  // Ethernet
  const recs = frames.flatMap((f) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return [r, f];
  });
  writeFileSync(file, Buffer.concat([head, ...recs]));
}


/** Over memif (perf/generator.ts), one direction: routed by Quiver, or (routes = 0) cross-connected. */
export async function memifOnce(dir: string, seconds: number, routes: number, run: number): Promise<MemifRun> {
  return measureOverMemif(join(dir, `ip6-${run}-${routes}.sock`), seconds, () => {
    let frames: Buffer[];
    if (routes === 0) {
      xconnectPair('bm0', 'bm1');
      frames = [frame('02:00:00:00:00:99', [0x20000000, 0])];
    } else frames = configureRoutes(routes, 'bm0', 'bm1');
    const pcap = join(dir, `ip6-${run}-${routes}.pcap`);
    writePcap(pcap, frames);
    return [{ pcap, fields: RANDOM_IID }, null];
  });
}


export async function measure(frames: Buffer[], seconds: number): Promise<{ mpps: number; clocks: Record<string, number> }> {
  pg.addStream('pg0', {
    name: 'bench6',
    packets: frames,
    fields: RANDOM_IID,
  });
  pg.enableStream('bench6');
  await sleep(200);
  engine.clearRuntime();
  engine.clearInterfaces();
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const tx = engine.statsSegment().interfaceCounters(engine.findInterface('pg1').index).txPackets;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  pg.enableStream('bench6', false);
  return { mpps: Number(tx) / elapsed / 1e6, clocks: clocksPerNode(engine.statsSegment()) };
}

export const ip6: Scenario = {
  name: 'ip6',
  description: 'ip6 routing over pg and over memif, 64 B, destinations inside 1 / 10k / 1M routes, beside l2xc',
  async run(o: BenchOptions) {
    const sizes = o.smoke ? [1, 10_000] : [1, 10_000, 1_000_000];
    const out = await routedOverPg(o, 'ip6', sizes, async (n, seconds) => measure(await setup(n), seconds));
    out.memif = await routedOverMemif(o, 'ip6', sizes, memifOnce);
    return out;
  },
};
