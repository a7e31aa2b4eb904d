// memif forwarding against a real generator, as VPP's CSIT measures it: one dpdk-testpmd with two
// memif ports in flowgen mode (generating on both, counting what comes back) pinned to core 0;
// on core 1 either Quiver cross-connecting its two memif interfaces (l2-xconnect both ways, one
// polling worker) or a second testpmd in io mode. 64-byte frames, copy mode, rings of 1024.
// Then the packet rate of the quiver/memif library (no engine) against testpmd txonly/rxonly.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import { Memif } from '../../memif/lib/index.js';
import * as memif from '../../memif/memif.js';
import { type Testpmd, cleanupTestpmdRuntime, startTestpmd } from '../../memif/testpmd.js';
import * as engine from '../../src/engine.js';
import { type BenchOptions, type Scenario, clocksPerNode, median, medianClocks, printClocks } from '../bench.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const GEN_CORE = 0, DUT_CORE = 1;

function generator(socket: string, role: 'client' | 'server'): Testpmd {
  return startTestpmd({
    lcores: `0@${GEN_CORE},1@${GEN_CORE}`,
    mode: 'flowgen',
    vdevs: [0, 1].map((id) => `net_memif${id},role=${role},id=${id},socket=${socket},socket-abstract=no`),
    args: ['--nb-cores=1', '--txpkts=64'],
  });
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`memif bench: timed out waiting for ${what}`);
    await sleep(20);
  }
}

// The machine is shared: other processes preempt the forwarding threads. Besides wall-clock
// Mpps, each run reads the forwarding thread's time on CPU (schedstat) over the same window:
// packets per CPU-second is what the forwarder does with a core it has to itself. Quiver's
// per-node clocks (rdtsc) also count time spent preempted; the path total is shown scaled by
// the worker's CPU share too (an estimate: a call that straddles a preemption tends to find a
// full ring, so memif-input absorbs more than its share).
function cpuNs(pid: number, tid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
}
function threadNamed(pid: number, name: string): number {
  for (const t of readdirSync(`/proc/${pid}/task`))
    if (readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === name) return Number(t);
  throw new Error(`memif bench: no thread '${name}' in process ${pid}`);
}

/** Rate of a testpmd's counters over `seconds`: sum over ports of `pick`. */
async function rate(t: Testpmd, seconds: number, pick: 'rx' | 'tx'): Promise<number> {
  const a = await t.portStats();
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const b = await t.portStats();
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  return b.reduce((n, p, i) => n + p[pick] - a[i]![pick], 0) / elapsed / 1e6;
}

interface QuiverRun {
  mpps: number;          // forwarded by Quiver (its tx counters)
  returnedMpps: number;  // counted back at the generator
  mppsPerCpu: number;    // forwarded per second the worker was on CPU
  cpuShare: number;
  clocks: Record<string, number>;  // per node, as `show runtime` reports them (rdtsc)
}
interface TestpmdRun {
  mpps: number;
  returnedMpps: number;
  mppsPerCpu: number;
  cpuShare: number;
}

async function quiverRun(dir: string, seconds: number): Promise<QuiverRun> {
  const socket = join(dir, 'quiver.sock');
  engine.start({ workers: 1, cores: [DUT_CORE], buffers: 32768, rxMode: 'polling' });
  let gen: Testpmd | undefined;
  try {
    for (const id of [0, 1]) {
      memif.createMemif({ name: `bm${id}`, role: 'server', socket, id });
      engine.setInterfaceState(`bm${id}`, { adminUp: true });
    }
    xconnectPair('bm0', 'bm1');
    gen = generator(socket, 'client');
    await memif.waitMemifReady('bm0', 20000);
    await memif.waitMemifReady('bm1', 20000);
    await sleep(500);  // warm-up
    engine.clearRuntime();
    engine.clearInterfaces();
    const tx = () => ['bm0', 'bm1'].reduce((n, i) => n + engine.statsSegment().interfaceCounters(engine.findInterface(i).index).txPackets, 0n);
    const tid = engine.workers()[0]!.tid;
    const c0 = cpuNs(process.pid, tid);
    const t0 = process.hrtime.bigint();
    const returnedMpps = await rate(gen, seconds, 'rx');
    const forwarded = Number(tx());
    const wallNs = Number(process.hrtime.bigint() - t0);
    const cpuShare = (cpuNs(process.pid, tid) - c0) / wallNs;
    const clocks = clocksPerNode(engine.statsSegment());
    return { mpps: forwarded / wallNs * 1e3, returnedMpps, mppsPerCpu: forwarded / (wallNs * cpuShare) * 1e3, cpuShare, clocks };
  } finally {
    await gen?.quit();
    engine.stop();
  }
}

let testpmdSockets = 0;
async function testpmdRun(dir: string, seconds: number): Promise<TestpmdRun> {
  // A fresh path each run: a testpmd that crashed on exit leaves its socket file, and a DPDK
  // server cannot bind over it (its ports would not even probe).
  const socket = join(dir, `testpmd-${testpmdSockets++}.sock`);
  const dut = startTestpmd({
    lcores: `0@${DUT_CORE},1@${DUT_CORE}`,
    mode: 'io',
    vdevs: [0, 1].map((id) => `net_memif${id},role=server,id=${id},socket=${socket},socket-abstract=no`),
    args: ['--nb-cores=1'],
  });
  let gen: Testpmd | undefined;
  try {
    await until(() => dut.output().includes('testpmd>'), 20000, 'testpmd io to start');
    if (/ports=0\b/.test(dut.output())) throw new Error(`memif bench: testpmd io has no port:\n${dut.output().slice(-1500)}`);
    gen = generator(socket, 'client');
    await until(async () => (await dut.portStats()).every((p) => p.tx > 0), 20000, 'traffic through testpmd io');
    await sleep(500);
    const lcore = threadNamed(dut.proc.pid!, 'rte-worker-1');
    const c0 = cpuNs(dut.proc.pid!, lcore);
    const t0 = process.hrtime.bigint();
    const [returned, forwarded] = await Promise.all([rate(gen, seconds, 'rx'), rate(dut, seconds, 'tx')]);
    const cpuShare = (cpuNs(dut.proc.pid!, lcore) - c0) / Number(process.hrtime.bigint() - t0);
    return { mpps: forwarded, returnedMpps: returned, mppsPerCpu: forwarded / cpuShare, cpuShare };
  } finally {
    await gen?.quit();
    await dut.quit();
  }
}

/** The library alone: testpmd txonly -> Memif.receiveBatch(), Memif.sendBatch() -> testpmd rxonly. */
async function libraryRun(dir: string, seconds: number): Promise<{ rxMpps: number; rxBufferMpps: number; txMpps: number }> {
  // The whole process (JavaScript thread and V8's GC helpers: receive() makes garbage) on the
  // other core, as a CNF would be; helpers left on the generator's core would slow it down.
  execFileSync('taskset', ['-a', '-p', '-c', String(DUT_CORE), String(process.pid)], { stdio: 'ignore' });
  const measure = async (mode: 'txonly' | 'rxonly', body: (m: Memif) => number): Promise<number> => {
    const socket = join(dir, `lib-${mode}-${testpmdSockets++}.sock`);  // fresh path: see testpmdRun
    const t = startTestpmd({ lcores: `0@${GEN_CORE},1@${GEN_CORE}`, role: 'server', socket, mode, args: ['--txpkts=64'] });
    const m = Memif.open({ role: 'client', socket, id: 0 });
    try {
      await m.waitConnected(20000);
      let n = 0;
      const end = Date.now() + 300;
      while (Date.now() < end) n += body(m);  // warm-up
      n = 0;
      const t0 = process.hrtime.bigint();
      const stop = t0 + BigInt(Math.round(seconds * 1e9));
      for (let k = 0; ; k++) {
        n += body(m);
        if ((k & 255) === 0 && process.hrtime.bigint() >= stop) break;
      }
      return n / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e6;
    } finally {
      m.close();
      await t.quit();
    }
  };
  const frame = Buffer.alloc(64, 0x5a);
  frame.writeUInt16BE(0x0800, 12);
  const batch = Buffer.concat(Array.from({ length: 64 }, () => frame));
  const lengths = new Uint32Array(64).fill(64);
  try {
    const rxMpps = await measure('txonly', (m) => m.receiveBatch(256).count);
    const rxBufferMpps = await measure('txonly', (m) => m.receive(256).length);
    const txMpps = await measure('rxonly', (m) => m.sendBatch(batch, lengths));
    return { rxMpps, rxBufferMpps, txMpps };
  } finally {
    execFileSync('taskset', ['-a', '-p', '-c', '0-1', String(process.pid)], { stdio: 'ignore' });
  }
}

export const memifScenario: Scenario = {
  name: 'memif',
  description: 'testpmd flowgen (2 memif ports, core 0) <-> Quiver l2-xconnect (core 1) vs testpmd io; quiver/memif rate',
  async run(o: BenchOptions) {
    const dir = mkdtempSync(join(tmpdir(), 'qm-bench-'));
    try {
      const q: QuiverRun[] = [];
      const t: TestpmdRun[] = [];
      for (let r = 0; r < o.runs; r++) {
        const a = await quiverRun(dir, o.seconds);
        const b = await testpmdRun(dir, o.seconds);
        q.push(a);
        t.push(b);
        o.log(`  run ${r + 1}: Quiver ${a.mpps.toFixed(2)} Mpps (on CPU ${(a.cpuShare * 100).toFixed(0)}%: ${a.mppsPerCpu.toFixed(2)} per CPU-s; generator got back ${a.returnedMpps.toFixed(2)}), ` +
          `testpmd io ${b.mpps.toFixed(2)} Mpps (on CPU ${(b.cpuShare * 100).toFixed(0)}%: ${b.mppsPerCpu.toFixed(2)} per CPU-s; got back ${b.returnedMpps.toFixed(2)})`);
      }
      const quiverMpps = median(q.map((x) => x.mpps));
      const testpmdMpps = median(t.map((x) => x.mpps));
      const quiverPerCpu = median(q.map((x) => x.mppsPerCpu));
      const testpmdPerCpu = median(t.map((x) => x.mppsPerCpu));
      const clocks = medianClocks(q.map((x) => x.clocks));
      const path = ['memif-input', 'ethernet-input', 'l2-xconnect', 'interface-output', 'memif-tx'];
      const pathClocks = path.reduce((n, k) => n + (clocks[k] ?? 0), 0);
      const share = median(q.map((x) => x.cpuShare));
      o.log(`memif median of ${o.runs}: Quiver ${quiverMpps.toFixed(2)} Mpps, testpmd io ${testpmdMpps.toFixed(2)} Mpps, ratio ${(quiverMpps / testpmdMpps).toFixed(2)}`);
      o.log(`  per CPU-second of the forwarding thread: Quiver ${quiverPerCpu.toFixed(2)} Mpps, testpmd io ${testpmdPerCpu.toFixed(2)} Mpps, ratio ${(quiverPerCpu / testpmdPerCpu).toFixed(2)}`);
      o.log(`  Quiver clocks/packet over the whole path: ${pathClocks.toFixed(1)}; x CPU share ${(share * 100).toFixed(0)}% = ${(pathClocks * share).toFixed(1)} (VPP: ~165)`);
      printClocks(o.log, clocks);
      const lib = await libraryRun(dir, o.smoke ? 0.3 : Math.min(o.seconds, 2));
      o.log(`quiver/memif (JavaScript thread, no engine): receiveBatch ${lib.rxMpps.toFixed(2)} Mpps, receive() Buffer[] ${lib.rxBufferMpps.toFixed(2)} Mpps, sendBatch ${lib.txMpps.toFixed(2)} Mpps`);
      return {
        quiverMpps, testpmdIoMpps: testpmdMpps, ratio: quiverMpps / testpmdMpps,
        quiverMppsPerCpu: quiverPerCpu, testpmdIoMppsPerCpu: testpmdPerCpu, ratioPerCpu: quiverPerCpu / testpmdPerCpu,
        quiverRuns: q, testpmdRuns: t,
        returnedQuiverMpps: median(q.map((x) => x.returnedMpps)), returnedTestpmdMpps: median(t.map((x) => x.returnedMpps)),
        clocksPerPacket: clocks, pathClocksPerPacket: pathClocks, workerCpuShare: share, library: lib,
      };
    } finally {
      cleanupTestpmdRuntime();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
