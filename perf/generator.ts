// The parent side of perf/memif-generator.ts: spawns it, waits until its streams run, reads
// its counters. Also the forwarding thread's CPU time, for rates per CPU-second.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PgStream } from '../graph/pg/pg.js';
import * as memif from '../memif/memif.js';
import * as engine from '../src/engine.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchOptions, clocksPerNode, median, medianClocks, printClocks } from './bench.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const GEN_CORE = 0, DUT_CORE = 1;

export interface GeneratorSpec {
  socket: string;   // the DUT's memif servers (ids 0 and 1) listen here
  core: number;
  streams: [Omit<PgStream, 'name'> | null, Omit<PgStream, 'name'> | null];  // sent into gm0 / gm1
}

export class Generator {
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
  static async start(spec: Omit<GeneratorSpec, 'core'>): Promise<Generator> {
    const script = fileURLToPath(new URL('./memif-generator.js', import.meta.url));
    const proc = spawn(process.execPath, [script, JSON.stringify({ ...spec, core: GEN_CORE })], { stdio: ['pipe', 'pipe', 'pipe'] });
    const g = new Generator(proc);
    try {
      const ready = await g.line(30000);
      if (ready !== 'ready') throw new Error(`memif generator did not start: ${ready}\n${g.err.slice(-1500)}`);
    } catch (e) {
      proc.kill('SIGKILL');
      throw e;
    }
    return g;
  }
  private line(ms: number): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      // The exit listener goes when the line arrives: a session asks for many lines.
      const exited = (code: number | null) => reject(new Error(`memif generator exited (${code})\n${this.err.slice(-1500)}`));
      const t = setTimeout(() => {
        this.proc.off('exit', exited);
        reject(new Error(`memif generator silent for ${ms} ms\n${this.err.slice(-1500)}`));
      }, ms);
      this.waiters.push((x) => {
        clearTimeout(t);
        this.proc.off('exit', exited);
        resolve(x);
      });
      this.proc.once('exit', exited);
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

/** CPU time (ns) a thread of this process has run. */
export function threadCpuNs(tid: number): number {
  return Number(readFileSync(`/proc/${process.pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
}

export interface MemifRun {
  mpps: number;          // forwarded by Quiver (tx counters of bm0 + bm1)
  mppsPerCpu: number;    // the same per second the worker was on CPU
  cpuShare: number;
  returnedMpps: number;  // counted back at the generator
  clocks: Record<string, number>;
}

/**
 * Quiver on DUT_CORE with two memif servers bm0/bm1 on `socket`; `configure` sets up the path
 * between them and returns the generator's streams. Measures `seconds` after a warm-up.
 */
export async function measureOverMemif<T = undefined>(
  socket: string,
  seconds: number,
  configure: () => GeneratorSpec['streams'],
  inspect?: () => T,  // read the DUT's state after the measurement, before it stops
): Promise<MemifRun & { inspected?: T }> {
  let inspected: T | undefined;
  let streams: GeneratorSpec['streams'] | undefined;
  const [run] = await measurePhasesOverMemif(socket, seconds, () => (streams = configure()), [
    { apply: () => streams, inspect: () => { inspected = inspect?.(); } },
  ]);
  return { ...run!, inspected };
}

export interface MemifPhase {
  apply: () => unknown;    // reconfigures the DUT in place (the generator keeps sending)
  inspect?: () => void;    // reads the DUT's state after the phase's measurement
}

/**
 * One DUT session and one generator, measured in phases: `streams` is called once (after the
 * memif servers exist), then each phase reconfigures the DUT in place, warms up and is
 * measured for `seconds`. Phases of one session share whatever the session's memif placement
 * costs (on a shared VM a session's cross-core cost is bimodal), so their ratios hold even
 * when sessions differ.
 */
export async function measurePhasesOverMemif(
  socket: string,
  seconds: number,
  streams: () => GeneratorSpec['streams'],
  phases: MemifPhase[],
): Promise<MemifRun[]> {
  engine.start({ workers: 1, cores: [DUT_CORE], buffers: 32768, rxMode: 'polling' });
  let gen: Generator | undefined;
  try {
    for (const id of [0, 1]) {
      memif.createMemif({ name: `bm${id}`, role: 'server', socket, id });
      engine.setInterfaceState(`bm${id}`, { adminUp: true });
    }
    const spec = streams();
    const out: MemifRun[] = [];
    for (const [k, phase] of phases.entries()) {
      phase.apply();
      if (k === 0) gen = await Generator.start({ socket, streams: spec });
      await sleep(500);  // warm-up (a bridge learns every station)
      engine.clearRuntime();
      engine.clearInterfaces();
      const tx = () => ['bm0', 'bm1'].reduce((n, i) => n + engine.statsSegment().interfaceCounters(engine.findInterface(i).index).txPackets, 0n);
      const tid = engine.workers()[0]!.tid;
      const g0 = await gen!.stats();
      const c0 = threadCpuNs(tid);
      const t0 = process.hrtime.bigint();
      await sleep(seconds * 1000);
      const forwarded = Number(tx());
      const wallNs = Number(process.hrtime.bigint() - t0);
      const cpuShare = (threadCpuNs(tid) - c0) / wallNs;
      const g1 = await gen!.stats();
      const clocks = clocksPerNode(engine.statsSegment());
      phase.inspect?.();
      out.push({
        mpps: (forwarded / wallNs) * 1e3,
        mppsPerCpu: (forwarded / (wallNs * cpuShare)) * 1e3,
        cpuShare,
        returnedMpps: ((g1.returned - g0.returned) / wallNs) * 1e3,
        clocks,
      });
    }
    return out;
  } finally {
    await gen?.quit();
    engine.stop();
  }
}

const pathClocks = (c: Record<string, number>, nodes: string[]) => nodes.reduce((a, n) => a + (c[n] ?? 0), 0);

/**
 * The memif phase of the ip4 and ip6 scenarios: `once(dir, seconds, routes, run)` with routes = 0
 * (the cross-connect baseline) and each of `sizes`, interleaved run by run; medians, whole-path
 * clocks and their ratio to the baseline.
 */
export async function routedOverMemif(
  o: BenchOptions,
  fam: 'ip4' | 'ip6',
  sizes: number[],
  once: (dir: string, seconds: number, routes: number, run: number) => Promise<MemifRun>,
): Promise<Record<string, unknown>> {
  const xcPathNodes = ['memif-input', 'ethernet-input', 'l2-xconnect', 'interface-output', 'memif-tx'];
  const ipPathNodes = ['memif-input', 'ethernet-input', `${fam}-input`, `${fam}-lookup`, `${fam}-rewrite`, 'interface-output', 'memif-tx'];
  const dir = mkdtempSync(join(tmpdir(), `${fam}-bench-`));
  const runs = new Map<number, MemifRun[]>();
  try {
    for (let r = 0; r < o.runs; r++) {
      const line = [`  memif run ${r + 1}:`];
      for (const n of [0, ...sizes]) {
        const x = await once(dir, o.seconds, n, r);
        runs.set(n, [...(runs.get(n) ?? []), x]);
        line.push(`${n ? `${n} routes` : 'l2xc'} ${x.mpps.toFixed(2)} Mpps (CPU ${(x.cpuShare * 100).toFixed(0)}%)`);
      }
      o.log(line.join(' '));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const xcPath = pathClocks(medianClocks(runs.get(0)!.map((x) => x.clocks)), xcPathNodes);
  const out: Record<string, unknown> = {};
  for (const n of [0, ...sizes]) {
    const s = runs.get(n)!;
    const clocks = medianClocks(s.map((x) => x.clocks));
    const path = pathClocks(clocks, n ? ipPathNodes : xcPathNodes);
    const mpps = median(s.map((x) => x.mpps));
    const perCpu = median(s.map((x) => x.mppsPerCpu));
    const returned = median(s.map((x) => x.returnedMpps));
    o.log(`${n ? `${fam} over memif, ${n} routes` : 'l2xc over memif'}: ${mpps.toFixed(2)} Mpps (${perCpu.toFixed(2)} per CPU-second; ` +
      `generator got back ${returned.toFixed(2)}), whole path ${path.toFixed(1)} clocks/packet` + (n ? ` = ${(path / xcPath).toFixed(2)}x l2xc over memif` : ''));
    printClocks(o.log, clocks);
    out[n ? `routes${n}` : 'l2xc'] = {
      mppsMedian: mpps, mppsPerCpuMedian: perCpu, returnedMppsMedian: returned, mppsRuns: s.map((x) => x.mpps),
      pathClocks: path, clocksPerPacket: clocks, ...(n ? { pathRatio: path / xcPath } : {}),
    };
  }
  return out;
}
