// veth: 64-byte UDP frames from trafgen in namespace A, through Quiver (l2-xconnect between two
// veth ends, over af_xdp and over af_packet) or through a Linux bridge instead, into
// namespace B, whose eth0 counts what arrives (the frames are addressed to a MAC B does not
// own, so B's stack drops them right after counting: no replies travel back).
//
// Two cores: the generator is pinned to core 0, the forwarder gets core 1. Quiver's worker is
// pinned there (rx mode adaptive, Quiver's default, or --rx-mode; under load it polls); the kernel's share of receiving on A's veth end is steered there with RPS for the bridge,
// af_packet and generic XDP (the same softirq work for all three). Native XDP runs in the
// veth's own NAPI context on the core that transmitted: for af_xdp the redirect and the copy
// into the UMEM are paid by the generator's core, as they would be on a NIC's interrupt core.
//
// Printed per path: Mpps arriving in B, what trafgen offered (when B gets all of it, the
// generator was the limit), core 1's busy share and Mpps per busy core-1 second (the
// forwarder's capacity; meaningful only when nothing else runs on core 1).
// Paths alternate within each round so slow drift of a shared machine hits all of them.
// The bridge's own rate is bimodal on this VM (~0.44 or ~0.58 Mpps, one mode for a whole
// invocation, generator-bound in both): compare Quiver with testpmd's af_xdp PMD in the same
// run as well as with the bridge.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as engine from '../../src/engine.js';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import { createAfPacketInterface } from '../../src/interfaces/af_packet.js';
import { createAfXdpInterface } from '../../src/interfaces/af_xdp.js';
import { type Lab, createLab, destroyLab } from '../../src/lab/lab.js';
import { ip, linkCounters, linkInfo } from '../../src/lab/netns.js';
import { type Testpmd, startTestpmd } from '../../memif/testpmd.js';
import { type BenchOptions, type Scenario, clocksPerNode, median, medianClocks, printClocks } from '../bench.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// af_xdp_generic: generic (skb) XDP with RPS to core 1, so that, as for the bridge, all the
// kernel's receive work lands on the forwarding core (`--paths af_xdp,af_xdp_generic,bridge`).
// testpmd_af_xdp: DPDK's af_xdp PMD on the same two veth ends, testpmd io forwarding on core 1:
// the peer for Quiver's af_xdp driver, in the default set. The kernel paths' own rate drifts
// between 0.46 and 0.61 Mpps from one invocation to the next on this VM (the bridge alone,
// minutes apart): compare figures of the same run only.
type Path = 'af_xdp' | 'af_xdp_generic' | 'af_packet' | 'testpmd_af_xdp' | 'bridge';
const ALL_PATHS: Path[] = ['af_xdp', 'af_xdp_generic', 'af_packet', 'testpmd_af_xdp', 'bridge'];
const DST_MAC = '02:00:00:00:00:02';

// Ethernet / IPv4 198.18.0.1 -> 198.18.0.2 / UDP 1024 -> 1024, 60 bytes + FCS = 64 on the wire.
const FRAME = `{
  0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  0x08, 0x00,
  0x45, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, csumip(14, 33),
  198, 18, 0, 1,  198, 18, 0, 2,
  0x04, 0x00, 0x04, 0x00, 0x00, 0x1a, 0x00, 0x00,
  fill(0x51, 18)
}
`;

function startGenerator(lab: Lab, cfg: string): ChildProcess {
  // Its own process group, so that SIGINT reaches trafgen's forked sender as well.
  const g = spawn('ip', ['netns', 'exec', lab.hosts[0]!.netns, 'taskset', '-c', '0', 'trafgen', '-o', 'eth0', '-i', cfg, '-P', '1', '--no-sock-mem', '-C'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  g.stdout!.resume();
  g.stderr!.resume();
  return g;
}

async function stopGenerator(g: ChildProcess): Promise<void> {
  if (g.exitCode !== null || g.signalCode !== null) return;
  const ended = new Promise((r) => g.once('exit', r));
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-g.pid!, s);
    } catch {
      /* already gone */
    }
  };
  signal('SIGINT');
  const t = setTimeout(() => signal('SIGKILL'), 2000);
  await ended;
  clearTimeout(t);
}

/** Busy and total jiffies of one core (/proc/stat): busy = all but idle and iowait. */
function coreTimes(core: number): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `))!;
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3]! - v[4]!, total };
}

function setRps(dev: string, mask: string): void {
  writeFileSync(`/sys/class/net/${dev}/queues/rx-0/rps_cpus`, mask);
}

/** Where the frames stopped: each hop's counters along the path, for the error message. */
function nothingForwarded(a: Lab['hosts'][number], b: Lab['hosts'][number]): string {
  const gen = linkCounters('eth0', a.netns);
  const inA = linkCounters(a.quiverSide);
  const outB = linkCounters(b.quiverSide);
  const xdp = (linkInfo(a.quiverSide) as { xdp?: { prog?: { id?: number } } }).xdp?.prog?.id;
  return `generator sent ${gen.txPackets} (dropped ${gen.txDropped}), ${a.quiverSide} received ${inA.rxPackets} ` +
    `(dropped ${inA.rxDropped}; XDP program ${xdp ?? 'none'}), ${b.quiverSide} sent ${outB.txPackets}`;
}

/** Sets up one path, measures frames arriving in B per second, tears the path down. */
interface PathRun {
  mpps: number;
  offered: number;
  /** Share of core 1 (the forwarder's) that was busy, 0..1. */
  core1Busy: number;
  clocks: Record<string, number>;
}

interface PathOptions {
  rxMode: 'polling' | 'interrupt' | 'adaptive';
  perfCore?: number;
  perfDir: string;
}

async function runPath(path: Path, lab: Lab, cfg: string, seconds: number, opts: PathOptions): Promise<PathRun> {
  const [a, b] = [lab.hosts[0]!, lab.hosts[1]!];
  let clocks: Record<string, number> = {};
  let testpmd: Testpmd | undefined;
  if (path === 'testpmd_af_xdp') {
    // DPDK's af_xdp PMD does not set the link up (Quiver does): a veth end left down drops
    // everything its peer sends.
    for (const h of [a, b]) ip(['link', 'set', h.quiverSide, 'up']);
    testpmd = startTestpmd({
      lcores: '0@1,1@1',
      mode: 'io',
      vdevs: [a, b].map((h, i) => `net_af_xdp${i},iface=${h.quiverSide},start_queue=0,queue_count=1`),
      args: ['--nb-cores=1'],
    });
    const end = Date.now() + 20000;
    while (!testpmd.output().includes('testpmd>')) {
      if (Date.now() > end || testpmd.proc.exitCode !== null) throw new Error(`veth: testpmd af_xdp did not start:\n${testpmd.output().slice(-1500)}`);
      await sleep(50);
    }
  } else if (path === 'bridge') {
    ip(['link', 'add', 'qd-bench-br', 'type', 'bridge']);
    for (const h of [a, b]) ip(['link', 'set', h.quiverSide, 'master', 'qd-bench-br', 'up']);
    ip(['link', 'set', 'qd-bench-br', 'up']);
    execFileSync('bridge', ['fdb', 'add', DST_MAC, 'dev', b.quiverSide, 'master', 'static']);
  } else {
    engine.start({ workers: 1, cores: [1], rxMode: opts.rxMode, buffers: 32768 });
    for (const [h, name] of [[a, 'qa'], [b, 'qb']] as const) {
      if (path === 'af_xdp') createAfXdpInterface({ host: h.quiverSide, name, mode: 'native' });
      else if (path === 'af_xdp_generic') createAfXdpInterface({ host: h.quiverSide, name, mode: 'generic' });
      else createAfPacketInterface({ host: h.quiverSide, name });
    }
    engine.setInterfaceState('qa', { adminUp: true });
    engine.setInterfaceState('qb', { adminUp: true });
    xconnectPair('qa', 'qb');
  }
  if (path !== 'af_xdp' && path !== 'testpmd_af_xdp') setRps(a.quiverSide, '2');  // native XDP runs before RPS could act
  const g = startGenerator(lab, cfg);
  try {
    await sleep(400);  // warm-up
    // A forwarder that never passes a frame (testpmd once started without its ports forwarding)
    // would be measured as 0 Mpps: wait for the first frames in B, or fail saying so.
    const first = linkCounters('eth0', b.netns).rxPackets;
    for (const end = Date.now() + 5000; linkCounters('eth0', b.netns).rxPackets === first; await sleep(50))
      if (Date.now() > end) throw new Error(`veth: ${path} forwarded nothing in 5 s; ${nothingForwarded(a, b)}${testpmd ? `; testpmd's output ends with:\n${testpmd.output().slice(-1500)}` : ''}`);
    if (engine.running()) engine.clearRuntime();
    const c0 = linkCounters('eth0', b.netns).rxPackets;
    // Offered = what trafgen pushed into A's veth, including what the receiving side dropped.
    const sent = () => {
      const c = linkCounters('eth0', a.netns);
      return c.txPackets + c.txDropped;
    };
    const g0 = sent();
    const k0 = coreTimes(1);
    const t0 = process.hrtime.bigint();
    // --perf-core N: a kernel+user profile of core N over the measured window, per path.
    const prof = opts.perfCore === undefined ? undefined :
      spawn('perf', ['record', '-C', String(opts.perfCore), '-g', '-o', join(opts.perfDir, `perf-${path}.data`), '--', 'sleep', String(seconds)], { stdio: 'ignore' });
    await sleep(seconds * 1000);
    if (prof) await new Promise((r) => {
      prof.once('exit', r);
      prof.once('error', r);  // perf vanished after the check below: no profile, same figures
    });
    const c1 = linkCounters('eth0', b.netns).rxPackets;
    const g1 = sent();
    const k1 = coreTimes(1);
    const t1 = process.hrtime.bigint();
    if (g.exitCode !== null) throw new Error(`trafgen exited early (${g.exitCode})`);
    if (engine.running()) clocks = clocksPerNode(engine.statsSegment());
    const secs = Number(t1 - t0) / 1e9;
    const core1Busy = (k1.busy - k0.busy) / Math.max(1, k1.total - k0.total);
    return { mpps: (c1 - c0) / secs / 1e6, offered: (g1 - g0) / secs / 1e6, core1Busy, clocks };
  } finally {
    await stopGenerator(g);
    setRps(a.quiverSide, '0');
    if (path === 'bridge') ip(['link', 'del', 'qd-bench-br']);
    else if (testpmd) await testpmd.quit();
    else engine.stop();
  }
}

const SYSCTLS = ['net/core/wmem_max', 'net/core/wmem_default'];

export const veth: Scenario = {
  name: 'veth',
  description: '64 B UDP over veth: trafgen -> Quiver l2-xconnect (af_xdp, af_packet) vs testpmd on af_xdp vs Linux bridge -> counted in a namespace [--paths]',
  async run(o: BenchOptions) {
    if (cpus().length < 2) throw new Error('veth: needs two cores (generator on one, forwarder on the other)');
    if (!['/usr/sbin/trafgen', '/usr/bin/trafgen'].some((f) => existsSync(f)))
      throw new Error('veth: trafgen not found (Debian package netsniff-ng)');
    // trafgen's TX_RING stalls after ~4k frames in a namespace unless socket memory is raised
    // in the root namespace (LAB-NOTES); restored afterwards.
    const saved = SYSCTLS.map((p) => readFileSync(`/proc/sys/${p}`, 'utf8').trim());
    const tmp = mkdtempSync(join(tmpdir(), 'qd-veth-'));
    const cfg = join(tmp, 'frame.cfg');
    writeFileSync(cfg, FRAME);
    let lab: Lab | undefined;
    try {
      for (const p of SYSCTLS) writeFileSync(`/proc/sys/${p}`, String(Math.max(4 << 20, Number(readFileSync(`/proc/sys/${p}`, 'utf8')))));
      const at = process.argv.indexOf('--paths');
      const paths = (at >= 0 ? process.argv[at + 1]!.split(',') : ['af_xdp', 'af_packet', 'testpmd_af_xdp', 'bridge']) as Path[];
      for (const p of paths) if (!ALL_PATHS.includes(p)) throw new Error(`--paths: '${p}' is not one of ${ALL_PATHS.join(', ')}`);
      const arg = (name: string) => {
        const k = process.argv.indexOf(name);
        return k >= 0 ? process.argv[k + 1] : undefined;
      };
      const rxMode = (arg('--rx-mode') ?? 'adaptive') as PathOptions['rxMode'];
      if (!['polling', 'interrupt', 'adaptive'].includes(rxMode)) throw new Error(`--rx-mode: '${rxMode}' is not polling, interrupt or adaptive`);
      const perfCore = arg('--perf-core') === undefined ? undefined : Number(arg('--perf-core'));
      if (perfCore !== undefined && !(perfCore >= 0 && perfCore < cpus().length)) throw new Error(`--perf-core: '${arg('--perf-core')}' is not a core of this machine`);
      const pathOpts: PathOptions = { rxMode, perfCore, perfDir: process.cwd() };
      if (perfCore !== undefined) {
        try {
          execFileSync('perf', ['--version'], { stdio: 'ignore' });
        } catch {
          throw new Error('--perf-core: perf is not installed (Debian package linux-perf)');
        }
      }
      if (perfCore !== undefined) o.log(`  profiles of core ${perfCore}: ${paths.map((p) => `perf-${p}.data`).join(', ')} in ${process.cwd()}`);
      lab = createLab({ prefix: 'qd-', hosts: 2, offloads: 'off' });
      if (!paths.includes('bridge')) paths.push('bridge');
      const mpps = Object.fromEntries(paths.map((p) => [p, [] as number[]])) as Record<Path, number[]>;
      const offered = Object.fromEntries(paths.map((p) => [p, [] as number[]])) as Record<Path, number[]>;
      const clocks = Object.fromEntries(paths.map((p) => [p, [] as Record<string, number>[]])) as Record<Path, Record<string, number>[]>;
      const perCore = Object.fromEntries(paths.map((p) => [p, [] as number[]])) as Record<Path, number[]>;
      for (let r = 0; r < o.runs; r++) {
        const line: string[] = [];
        for (const p of paths) {
          const x = await runPath(p, lab, cfg, o.seconds, pathOpts);
          mpps[p].push(x.mpps);
          offered[p].push(x.offered);
          perCore[p].push(x.mpps / Math.max(0.01, x.core1Busy));
          if (Object.keys(x.clocks).length) clocks[p].push(x.clocks);
          line.push(`${p} ${x.mpps.toFixed(3)} (offered ${x.offered.toFixed(3)}, core 1 ${(x.core1Busy * 100).toFixed(0)}% busy)`);
        }
        o.log(`  run ${r + 1}: ${line.join(', ')} Mpps`);
      }
      const med = Object.fromEntries(paths.map((p) => [p, median(mpps[p])])) as Record<Path, number>;
      const ratio = Object.fromEntries(paths.filter((p) => p !== 'bridge').map((p) => [p, med[p] / med.bridge]));
      o.log(`veth (median of ${o.runs}): ` +
        paths.filter((p) => p !== 'bridge').map((p) => `${p} ${med[p].toFixed(3)} Mpps (${ratio[p]!.toFixed(2)}x bridge)`).join(', ') +
        `, Linux bridge ${med.bridge.toFixed(3)} Mpps`);
      const cx = Object.fromEntries(paths.filter((p) => clocks[p].length).map((p) => [p, medianClocks(clocks[p])]));
      for (const [p, c] of Object.entries(cx)) {
        o.log(`  ${p} clocks/packet:`);
        printClocks(o.log, c);
      }
      // Per busy forwarding core: what the forwarder would carry with core 1 to itself. The
      // figure that still means something when the generator, not the forwarder, is the limit.
      const perCoreMed = Object.fromEntries(paths.map((p) => [p, median(perCore[p])])) as Record<Path, number>;
      const perCoreRatio = Object.fromEntries(paths.filter((p) => p !== 'bridge').map((p) => [p, perCoreMed[p] / perCoreMed.bridge]));
      o.log(`  per busy core 1 (median): ${paths.map((p) => `${p} ${perCoreMed[p].toFixed(3)}`).join(', ')} Mpps; ` +
        paths.filter((p) => p !== 'bridge').map((p) => `${p}/bridge ${perCoreRatio[p]!.toFixed(2)}x`).join(', '));
      // When B receives all that A offered, the generator was the limit, not the forwarder.
      const offeredMed = Object.fromEntries(paths.map((p) => [p, median(offered[p])]));
      o.log(`  offered by the generator (median): ${paths.map((p) => `${p} ${offeredMed[p]!.toFixed(3)}`).join(', ')} Mpps; ` +
        `load average at the end ${loadavg()[0]!.toFixed(2)}`);
      return {
        mppsMedian: med, mppsRuns: mpps, offeredMedian: offeredMed, ratioToBridge: ratio,
        mppsPerBusyCore: perCoreMed, perCoreRatioToBridge: perCoreRatio, clocksPerPacket: cx, loadAverage: loadavg()[0],
      };
    } finally {
      if (engine.running()) engine.stop();
      if (lab) destroyLab(lab);
      SYSCTLS.forEach((p, i) => writeFileSync(`/proc/sys/${p}`, saved[i]!));
      rmSync(tmp, { recursive: true, force: true });
    }
  },
};
