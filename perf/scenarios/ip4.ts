// IPv4 routing over pg: 64-byte UDP frames with random destinations (1.0.0.0 -
// 223.255.255.255) through ethernet-input -> ip4-input -> ip4-lookup -> ip4-rewrite ->
// pg-output, with 1, 10k and 1M routes (an Internet-like length mix, 16 next hops, a
// default route so every packet is forwarded), one worker pinned to the last core. Each run
// also measures the l2 cross-connect chain, so the ratio compares like with like. Then the same
// over memif (the memif benchmark's topology: a generator process on core 0, Quiver routing
// between two memif servers on core 1), beside a memif cross-connect.
import { cpus } from 'node:os';
import { join } from 'node:path';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as engine from '../../src/engine.js';
import * as ip from '../../graph/ip/ip.js';
import * as pg from '../../graph/pg/pg.js';
import { type BenchOptions, type Scenario, clocksPerNode } from '../bench.js';
import { type MemifRun, measureOverMemif, routedOverMemif } from '../generator.js';
import { internetLikeRoutes } from './fib-load.js';
import { type Sample, routedOverPg } from './routing.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOPS = 16;

/** Starts the engine with pg0 -> pg1 and `routes` IPv4 routes over 16 next hops on pg1. */
async function setup(routes: number): Promise<string> {
  engine.start({ workers: 1, cores: [cpus().length - 1], buffers: 32768 });
  try {
    return configure(routes);
  } catch (e) {
    engine.stop();
    throw e;
  }
}

function configure(routes: number): string {
  pg.createPgInterface({ name: 'pg0' });
  pg.createPgInterface({ name: 'pg1' });
  engine.setInterfaceState('pg0', { adminUp: true });
  engine.setInterfaceState('pg1', { adminUp: true });
  return configureRoutes(routes, 'pg0', 'pg1');
}

/** Addresses on rx and tx, `routes` routes over 16 next hops behind tx; returns rx's MAC. */
function configureRoutes(routes: number, rx: string, tx: string): string {
  ip.addAddress(rx, '198.18.0.1/24', { announce: false });
  ip.addAddress(tx, '198.18.1.1/24', { announce: false });
  const targets = Array.from({ length: HOPS }, (_, i) => {
    const nh = `198.18.1.${10 + i}`;
    ip.addNeighbor({ interface: tx, address: nh, mac: `02:00:00:00:01:${(10 + i).toString(16).padStart(2, '0')}` });
    return { paths: [{ via: nh, interface: tx }] };
  });
  ip.addRoute({ prefix: '0.0.0.0/0', paths: [{ via: '198.18.1.10', interface: tx }] });
  if (routes > 1) {
    const prefixes = internetLikeRoutes(routes - 1, 11);
    const index = new Uint32Array(routes - 1).map((_, i) => i % HOPS);
    ip.addRoutes({ family: 'ip4', prefixes, routes: targets, routeIndex: index });
  }
  return engine.findInterface(rx).mac;
}

const randomDestinations = (dstMac: string) => ({
  size: 64,
  template: { dstMac, srcIp: '198.18.0.2' },
  fields: [{ field: 'dst-ip' as const, start: 0x01000000, count: 0xc6000000 - 0x01000000, random: true }],
});


/**
 * The memif benchmark's topology, one direction: the generator (perf/generator.ts, core 0)
 * sends random destinations into bm0; Quiver on core 1 routes them (or, with routes = 0,
 * cross-connects them) out of bm1 back to the generator.
 */
export async function memifOnce(dir: string, seconds: number, routes: number, run: number): Promise<MemifRun> {
  return measureOverMemif(join(dir, `ip4-${run}-${routes}.sock`), seconds, () => {
    if (routes === 0) {
      xconnectPair('bm0', 'bm1');
      return [randomDestinations('02:00:00:00:00:99'), null];
    }
    return [randomDestinations(configureRoutes(routes, 'bm0', 'bm1')), null];
  });
}


/** Sends random-destination 64-byte frames for `seconds`; Mpps out of pg1 and clocks per node. */
export async function measure(dstMac: string, seconds: number, name = 'bench'): Promise<Sample> {
  pg.addStream('pg0', { name, ...randomDestinations(dstMac) });
  pg.enableStream(name);
  await sleep(200); // warm-up
  engine.clearRuntime();
  engine.clearInterfaces();
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const tx = engine.statsSegment().interfaceCounters(engine.findInterface('pg1').index).txPackets;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  pg.enableStream(name, false);
  const clocks = clocksPerNode(engine.statsSegment());
  pg.deleteStream(name);
  return { mpps: Number(tx) / elapsed / 1e6, clocks };
}

export const ip4: Scenario = {
  name: 'ip4',
  description: 'ip4 routing over pg and over memif, 64 B random destinations, 1 / 10k / 1M routes, beside l2xc',
  async run(o: BenchOptions) {
    const sizes = o.smoke ? [1, 10_000] : [1, 10_000, 1_000_000];
    const out = await routedOverPg(o, 'ip4', sizes, async (n, seconds) => measure(await setup(n), seconds));
    out.memif = await routedOverMemif(o, 'ip4', sizes, memifOnce);
    return out;
  },
};
