// Two topologies, 64 B, every destination known and every source seen before (two MAC table
// lookups per packet), one worker pinned to the last core; the xconnect path is measured in the
// same run for the ratio the issue asks about (bridge <= 1.5x xconnect):
// * over pg: pg -> ethernet-input -> l2-fwd -> pg-output (plain members
//   take the short path past l2-input and l2-output), a learning bridge holding 2, 1k, 100k and 200k learned MACs, half of them
//   sources behind pg0, half destinations behind pg1;
// * over memif, the memif benchmark's topology: a generator on core 0 (perf/memif-generator,
//   pg streams through its own memif pair: testpmd flowgen cannot vary MACs) and Quiver on
//   core 1 bridging (or cross-connecting) its two memif servers, both directions, with 2, 1k
//   and 100k stations (perf/generator.ts); then the 100k ratio once more, paired: in one
//   session the DUT is cross-connected, bridging, cross-connected again (a session's memif
//   cost is bimodal on a shared VM, and phases of one session share it).
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as engine from '../../src/engine.js';
import * as l2 from '../../graph/l2/bridge.js';
import * as pg from '../../graph/pg/pg.js';
import { type BenchOptions, type Scenario, clocksPerNode, median, medianClocks, printClocks } from '../bench.js';
import { type MemifRun, measureOverMemif, measurePhasesOverMemif } from '../generator.js';
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

const MEMIF_XC_PATH = ['memif-input', 'ethernet-input', 'l2-xconnect', 'interface-output', 'memif-tx'];
const MEMIF_BD_PATH = ['memif-input', 'ethernet-input', 'l2-input', 'l2-fwd', 'l2-output', 'interface-output', 'memif-tx'];

type L2MemifRun = MemifRun & { learned: number };

/** Quiver between two memif servers: a bridge with 2 x perSide stations, or (0) an xconnect, both directions. */
export async function memifRunOnce(dir: string, seconds: number, perSide: number, run: number): Promise<L2MemifRun> {
  const socket = join(dir, `l2bd-${run}-${perSide}.sock`);
  // Stream i: 02:00:<side>:00:<k> -> 02:00:<peer>:00:<k>, k stepping together on both sides.
  const stream = (side: number, peer: number) => ({
    size: 64,
    template: { srcMac: '02:00:00:00:00:00', dstMac: '02:00:00:00:00:00' },
    fields: [
      { field: 'offset' as const, offset: 2, width: 4 as const, start: station(peer), count: Math.max(perSide, 1) },
      { field: 'offset' as const, offset: 8, width: 4 as const, start: station(side), count: Math.max(perSide, 1) },
    ],
  });
  const r = await measureOverMemif(
    socket,
    seconds,
    () => {
      if (perSide === 0) xconnectPair('bm0', 'bm1');
      else {
        l2.createBridgeDomain({ id: 1 });
        l2.addBridgeMember(1, { interface: 'bm0' });
        l2.addBridgeMember(1, { interface: 'bm1' });
      }
      return [stream(0x0a, 0x0b), stream(0x0b, 0x0a)];
    },
    () => (perSide === 0 ? 0 : l2.showBridgeDomain(1)[0]!.learned),
  );
  return { ...r, learned: r.inspected ?? 0 };
}

/**
 * The 100k-station ratio measured in place: one session, one generator sending the 100k-station
 * streams, the DUT cross-connected, then bridging (learning every station during the warm-up),
 * then cross-connected again; the bridge path against the mean of the two xconnect paths.
 */
async function pairedSession(dir: string, seconds: number, perSide: number, run: number) {
  const socket = join(dir, `l2bd-paired-${run}.sock`);
  const stream = (side: number, peer: number) => ({
    size: 64,
    template: { srcMac: '02:00:00:00:00:00', dstMac: '02:00:00:00:00:00' },
    fields: [
      { field: 'offset' as const, offset: 2, width: 4 as const, start: station(peer), count: perSide },
      { field: 'offset' as const, offset: 8, width: 4 as const, start: station(side), count: perSide },
    ],
  });
  let learned = 0;
  const [xc1, bd, xc2] = await measurePhasesOverMemif(socket, seconds, () => [stream(0x0a, 0x0b), stream(0x0b, 0x0a)], [
    { apply: () => xconnectPair('bm0', 'bm1') },
    {
      apply: () => {
        l2.createBridgeDomain({ id: 1 });
        l2.addBridgeMember(1, { interface: 'bm0' });
        l2.addBridgeMember(1, { interface: 'bm1' });
      },
      inspect: () => { learned = l2.showBridgeDomain(1)[0]!.learned; },
    },
    { apply: () => xconnectPair('bm0', 'bm1') },
  ]);
  const xcPath = (chainClocks(xc1!.clocks, MEMIF_XC_PATH) + chainClocks(xc2!.clocks, MEMIF_XC_PATH)) / 2;
  const bdPath = chainClocks(bd!.clocks, MEMIF_BD_PATH);
  return { xc1: xc1!, bd: bd!, xc2: xc2!, learned, xcPath, bdPath, ratio: bdPath / xcPath };
}

export async function pairedPhase(o: BenchOptions, perSide = 50000): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'l2bd-paired-'));
  const sessions: Awaited<ReturnType<typeof pairedSession>>[] = [];
  try {
    for (let r = 0; r < o.runs; r++) {
      const x = await pairedSession(dir, o.seconds, perSide, r);
      sessions.push(x);
      o.log(`  paired session ${r + 1}: l2xc ${x.xc1.mpps.toFixed(2)} / l2bd ${x.bd.mpps.toFixed(2)} (${x.learned} MACs) / l2xc ${x.xc2.mpps.toFixed(2)} Mpps; ` +
        `whole path ${x.xcPath.toFixed(1)} vs ${x.bdPath.toFixed(1)} clocks = ${x.ratio.toFixed(2)}x`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ratio = median(sessions.map((x) => x.ratio));
  o.log(`l2bd over memif, ${2 * perSide} MACs, paired in one session with l2xc: median ratio ${ratio.toFixed(2)}x the xconnect path (goal <= 1.5)`);
  return {
    ratioMedian: ratio,
    sessions: sessions.map((x) => ({
      ratio: x.ratio, xcPathClocks: x.xcPath, bdPathClocks: x.bdPath, learned: x.learned,
      mpps: { xconnectBefore: x.xc1.mpps, bridge: x.bd.mpps, xconnectAfter: x.xc2.mpps },
      bridgeClocks: x.bd.clocks, xconnectClocks: x.xc1.clocks,
    })),
  };
}

export async function memifPhase(o: BenchOptions): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'l2bd-bench-'));
  const sizes = [0, 1, 500, 50000];  // stations per side; 0: the xconnect path
  const per = new Map<number, L2MemifRun[]>();
  try {
    for (let r = 0; r < o.runs; r++) {
      const line = [`  memif run ${r + 1}:`];
      for (const s of sizes) {
        const x = await memifRunOnce(dir, o.seconds, s, r);
        per.set(s, [...(per.get(s) ?? []), x]);
        line.push(`${s ? `l2bd/${2 * s}` : 'l2xc'} ${x.mpps.toFixed(2)} Mpps (CPU ${(x.cpuShare * 100).toFixed(0)}%)`);
      }
      o.log(line.join(' '));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const out: Record<string, unknown> = {};
  const xcClocks = medianClocks(per.get(0)!.map((x) => x.clocks));
  const xcPath = chainClocks(xcClocks, MEMIF_XC_PATH);
  for (const s of sizes) {
    const runs = per.get(s)!;
    const clocks = medianClocks(runs.map((x) => x.clocks));
    const path = chainClocks(clocks, s ? MEMIF_BD_PATH : MEMIF_XC_PATH);
    const mpps = median(runs.map((x) => x.mpps));
    const perCpu = median(runs.map((x) => x.mppsPerCpu));
    const label = s ? `l2bd over memif, ${runs[0]!.learned} learned MACs` : 'l2xc over memif';
    o.log(`${label}: median ${mpps.toFixed(2)} Mpps (${perCpu.toFixed(2)} per CPU-second of the worker; generator got back ` +
      `${median(runs.map((x) => x.returnedMpps)).toFixed(2)}); whole path ${path.toFixed(1)} clocks/packet` +
      (s ? ` = ${(path / xcPath).toFixed(2)}x l2xc over memif (VPP's bridge: ~10.9 Mpps, ~246 clocks)` : ''));
    printClocks(o.log, clocks);
    out[s ? String(2 * s) : 'xconnect'] = {
      mppsMedian: mpps, mppsPerCpuMedian: perCpu, mppsRuns: runs.map((x) => x.mpps), learned: runs[0]!.learned,
      returnedMppsMedian: median(runs.map((x) => x.returnedMpps)), clocksPerPacket: clocks, pathClocks: path,
      ...(s ? { ratioToXconnect: path / xcPath } : {}),
    };
  }
  return out;
}

export const l2bd: Scenario = {
  name: 'l2bd',
  description: 'learning bridge over pg (2/1k/100k/200k MACs) and over memif (2/1k/100k MACs), 64 B, vs the xconnect path, one pinned worker',
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
    const overMemif = await memifPhase(o);
    const paired = await pairedPhase(o);
    return {
      mppsMedian: median(per.get(50000)!.mpps),
      memif: overMemif,
      memifPaired: paired,
      clocksPerPacket: medianClocks(per.get(50000)!.clocks),
      l2xc: { mppsMedian: median(xcMpps), clocksPerPacket: xcMed, chainClocksExcludingPg: xcChain },
      macs: results,
    };
  },
};
