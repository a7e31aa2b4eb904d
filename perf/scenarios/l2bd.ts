// Two topologies, 64 B, every destination known and every source seen before (two MAC table
// lookups per packet), one worker pinned to the last core; the xconnect path is measured in the
// same run for the ratio the issue asks about (bridge <= 1.5x xconnect):
// * over pg: pg -> ethernet-input -> l2-input -> l2-fwd -> l2-output -> interface-output ->
//   pg-output, a learning bridge holding 2, 1k, 100k and 200k learned MACs, half of them
//   sources behind pg0, half destinations behind pg1;
// * over memif, the memif benchmark's topology: a generator on core 0 (perf/memif-generator,
//   pg streams through its own memif pair: testpmd flowgen cannot vary MACs) and Quiver on
//   core 1 bridging (or cross-connecting) its two memif servers, both directions, with 2, 1k
//   and 100k stations.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as memif from '../../memif/memif.js';
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

const GEN_CORE = 0, DUT_CORE = 1;
const MEMIF_XC_PATH = ['memif-input', 'ethernet-input', 'l2-xconnect', 'interface-output', 'memif-tx'];
const MEMIF_BD_PATH = ['memif-input', 'ethernet-input', 'l2-input', 'l2-fwd', 'l2-output', 'interface-output', 'memif-tx'];

class Generator {
  private lines: string[] = [];
  private waiters: ((l: string) => void)[] = [];
  private err = '';
  private constructor(readonly proc: ChildProcess) {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    proc.stderr!.on('data', (d: Buffer) => { this.err += d.toString(); });
  }
  static async start(socket: string, perSide: number): Promise<Generator> {
    const script = fileURLToPath(new URL('../memif-generator.js', import.meta.url));
    const proc = spawn(process.execPath, [script, JSON.stringify({ socket, core: GEN_CORE, perSide, size: 64 })], { stdio: ['pipe', 'pipe', 'pipe'] });
    const g = new Generator(proc);
    const ready = await g.line(30000);
    if (ready !== 'ready') throw new Error(`l2bd bench: generator did not start: ${ready}\n${g.err.slice(-1500)}`);
    return g;
  }
  private line(ms: number): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`l2bd bench: generator silent for ${ms} ms\n${this.err.slice(-1500)}`)), ms);
      this.waiters.push((x) => { clearTimeout(t); resolve(x); });
      this.proc.once('exit', (code) => reject(new Error(`l2bd bench: generator exited (${code})\n${this.err.slice(-1500)}`)));
    });
  }
  async stats(): Promise<{ returned: number; sent: number }> {
    this.proc.stdin!.write('stats\n');
    return JSON.parse(await this.line(5000));
  }
  async quit(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin!.write('quit\n');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(t);
  }
}

function workerCpuNs(tid: number): number {
  return Number(readFileSync(`/proc/${process.pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
}

interface MemifRun { mpps: number; mppsPerCpu: number; cpuShare: number; returnedMpps: number; clocks: Record<string, number>; learned: number }

/** Quiver on DUT_CORE between two memif servers: a bridge with 2 x perSide stations, or (0) an xconnect. */
export async function memifRunOnce(dir: string, seconds: number, perSide: number, run: number): Promise<MemifRun> {
  const socket = join(dir, `l2bd-${run}-${perSide}.sock`);
  engine.start({ workers: 1, cores: [DUT_CORE], buffers: 32768, rxMode: 'polling' });
  let gen: Generator | undefined;
  try {
    for (const id of [0, 1]) {
      memif.createMemif({ name: `bm${id}`, role: 'server', socket, id });
      engine.setInterfaceState(`bm${id}`, { adminUp: true });
    }
    if (perSide === 0) xconnectPair('bm0', 'bm1');
    else {
      l2.createBridgeDomain({ id: 1 });
      l2.addBridgeMember(1, { interface: 'bm0' });
      l2.addBridgeMember(1, { interface: 'bm1' });
    }
    gen = await Generator.start(socket, Math.max(perSide, 1));
    await sleep(500);  // warm-up: every station learned
    engine.clearRuntime();
    engine.clearInterfaces();
    const tx = () => ['bm0', 'bm1'].reduce((n, i) => n + engine.statsSegment().interfaceCounters(engine.findInterface(i).index).txPackets, 0n);
    const tid = engine.workers()[0]!.tid;
    const g0 = await gen.stats();
    const c0 = workerCpuNs(tid);
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const forwarded = Number(tx());
    const wallNs = Number(process.hrtime.bigint() - t0);
    const cpuShare = (workerCpuNs(tid) - c0) / wallNs;
    const g1 = await gen.stats();
    const clocks = clocksPerNode(engine.statsSegment());
    const learned = perSide === 0 ? 0 : l2.showBridgeDomain(1)[0]!.learned;
    return {
      mpps: (forwarded / wallNs) * 1e3,
      mppsPerCpu: (forwarded / (wallNs * cpuShare)) * 1e3,
      cpuShare,
      returnedMpps: ((g1.returned - g0.returned) / wallNs) * 1e3,
      clocks,
      learned,
    };
  } finally {
    await gen?.quit();
    engine.stop();
  }
}

export async function memifPhase(o: BenchOptions): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'l2bd-bench-'));
  const sizes = [0, 1, 500, 50000];  // stations per side; 0: the xconnect path
  const per = new Map<number, MemifRun[]>();
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
    return {
      mppsMedian: median(per.get(50000)!.mpps),
      memif: overMemif,
      clocksPerPacket: medianClocks(per.get(50000)!.clocks),
      l2xc: { mppsMedian: median(xcMpps), clocksPerPacket: xcMed, chainClocksExcludingPg: xcChain },
      macs: results,
    };
  },
};
