// pg -> ethernet-input -> l2-input -> l2-fwd -> l2-output -> interface-output -> pg-output:
// a learning bridge holding 2, 1k, 100k and 200k learned MACs, half of them sources behind
// pg0, half destinations behind pg1 (64 B, every destination known, every source seen before:
// two MAC table lookups per packet), one worker pinned to the last core. The l2xc chain is
// measured in the same run for the ratio the issue asks about (bridge <= 1.5x xconnect).
import { cpus } from 'node:os';
import * as engine from '../../src/engine.js';
import * as l2 from '../../graph/l2/bridge.js';
import * as pg from '../../graph/pg/pg.js';
import { type BenchOptions, type Scenario, clocksPerNode, median, medianClocks, printClocks } from '../bench.js';
import { runOnce as l2xcOnce } from './l2xc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const BRIDGE_CHAIN = ['ethernet-input', 'l2-input', 'l2-fwd', 'l2-output', 'interface-output'];
export const XC_CHAIN = ['ethernet-input', 'l2-xconnect', 'interface-output'];
const chainClocks = (clocks: Record<string, number>, chain: string[]) => chain.reduce((a, n) => a + (clocks[n] ?? 0), 0);

// Stations 02:00:<side>:00:<k>: a 4-byte field at offset 2 (destination) or 8 (source).
const station = (side: number) => side * 0x1000000;

export async function runOnce(seconds: number, perSide: number, size = 64): Promise<{ mpps: number; clocks: Record<string, number>; learned: number }> {
  const core = cpus().length - 1;
  engine.start({ workers: 1, cores: [core], buffers: 32768 });
  try {
    pg.createPgInterface({ name: 'pg0' });
    pg.createPgInterface({ name: 'pg1' });
    engine.setInterfaceState('pg0', { adminUp: true });
    engine.setInterfaceState('pg1', { adminUp: true });
    l2.createBridgeDomain({ id: 1 });
    l2.addBridgeMember(1, { interface: 'pg0' });
    l2.addBridgeMember(1, { interface: 'pg1' });
    // The destinations introduce themselves on pg1 first.
    pg.addStream('pg1', {
      name: 'learn',
      size,
      count: perSide,
      template: { srcMac: '02:00:0b:00:00:00', dstMac: 'ff:ff:ff:ff:ff:ff' },
      fields: [{ field: 'offset', offset: 8, width: 4, start: station(0x0b), count: perSide }],
      enabled: true,
    });
    await pg.waitStream('learn');
    pg.addStream('pg0', {
      name: 'bench',
      size,
      template: { srcMac: '02:00:0a:00:00:00', dstMac: '02:00:0b:00:00:00' },
      fields: [
        { field: 'offset', offset: 2, width: 4, start: station(0x0b), count: perSide },
        { field: 'offset', offset: 8, width: 4, start: station(0x0a), count: perSide },
      ],
    });
    pg.enableStream('bench');
    await sleep(200); // warm-up: the sources on pg0 get learned
    engine.clearRuntime();
    engine.clearInterfaces();
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const tx = engine.statsSegment().interfaceCounters(engine.findInterface('pg1').index).txPackets;
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    pg.enableStream('bench', false);
    const clocks = clocksPerNode(engine.statsSegment());
    const learned = l2.showBridgeDomain(1)[0]!.learned;
    return { mpps: Number(tx) / elapsed / 1e6, clocks, learned };
  } finally {
    engine.stop();
  }
}

export const l2bd: Scenario = {
  name: 'l2bd',
  description: 'learning bridge over pg, 64 B, 2/1k/100k/200k learned MACs, vs the l2xc chain, one pinned worker',
  async run(o: BenchOptions) {
    const xcClocks: Record<string, number>[] = [];
    const xcMpps: number[] = [];
    const sizes = [1, 500, 50000, 100000]; // stations per side
    const per = new Map<number, { mpps: number[]; clocks: Record<string, number>[]; learned: number }>();
    for (let r = 0; r < o.runs; r++) {
      const xc = await l2xcOnce(o.seconds);
      xcClocks.push(xc.clocks);
      xcMpps.push(xc.mpps);
      const line = [`  run ${r + 1}: l2xc ${xc.mpps.toFixed(2)} Mpps`];
      for (const macs of sizes) {
        const x = await runOnce(o.seconds, macs);
        const p = per.get(macs) ?? { mpps: [], clocks: [], learned: 0 };
        p.mpps.push(x.mpps);
        p.clocks.push(x.clocks);
        p.learned = x.learned;
        per.set(macs, p);
        line.push(`l2bd/${2 * macs} ${x.mpps.toFixed(2)} Mpps`);
      }
      o.log(line.join(', '));
    }
    const xcMed = medianClocks(xcClocks);
    const xcChain = chainClocks(xcMed, XC_CHAIN);
    o.log(`l2xc median ${median(xcMpps).toFixed(2)} Mpps; chain excluding pg: ${xcChain.toFixed(2)} clocks/packet`);
    const results: Record<string, unknown> = {};
    for (const macs of sizes) {
      const p = per.get(macs)!;
      const med = medianClocks(p.clocks);
      const chain = chainClocks(med, BRIDGE_CHAIN);
      o.log(
        `l2bd ${p.learned} learned MACs (${macs} per side): median ${median(p.mpps).toFixed(2)} Mpps; chain excluding pg: ` +
          `${chain.toFixed(2)} clocks/packet = ${(chain / xcChain).toFixed(2)}x l2xc`,
      );
      printClocks(o.log, med);
      results[String(2 * macs)] = { mppsMedian: median(p.mpps), mppsRuns: p.mpps, learned: p.learned, clocksPerPacket: med, chainClocksExcludingPg: chain, ratioToL2xc: chain / xcChain };
    }
    return {
      mppsMedian: median(per.get(50000)!.mpps),
      clocksPerPacket: medianClocks(per.get(50000)!.clocks),
      l2xc: { mppsMedian: median(xcMpps), clocksPerPacket: xcMed, chainClocksExcludingPg: xcChain },
      macs: results,
    };
  },
};
