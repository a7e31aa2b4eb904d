// VXLAN over pg, 64 B inner frames, one worker pinned to the last core, IPv4 and IPv6 underlay:
//   bridge: pg0 -> bridge domain -> pg1 (the l2bd chain with 2 MACs), the baseline;
//   encap:  pgIn -> bridge domain -> tunnel: vxlan-encap -> pgU (encap hands it to pg-output);
//   decap:  pgU -> ip-input -> ip-vxlan-bypass (decap inline) -> bridge domain -> pgIn;
// each also with the underlay shortcuts off (vxlan.underlayShortcuts(false)): encap through
// ip-lookup and ip-rewrite, decap through ip-lookup, ip-local and vxlan-input. Rounds
// interleave all paths.
// Mpps and clocks per delivered packet per node (a node visited twice counts twice); what
// encap and decap add to the bridge path: the VXLAN nodes alone, and everything the tunnel path runs beyond the bridge chain (the underlay's
// IP nodes and the second ethernet-input included). The issue's goal: <= 60 clocks/packet.
// `--parts pg` or `--parts veth` runs one half.
//
// Then over veth, a VTEP under test (Quiver with af_packet, or the Linux kernel's vxlan device
// in a namespace) beside the other in the same run:
//   decap: trafgen sends what a kernel VTEP sends (VXLAN, 64 B inner frames) to the VTEP,
//          which decapsulates and bridges the inner frames to a sink namespace;
//   encap: trafgen sends 64 B frames into the VTEP's bridge port, the VTEP encapsulates to
//          the remote VTEP's address, a sink namespace on the underlay counts.
// Mpps arriving in the sink, the Quiver/kernel ratio. The generator is pinned to core 0, the
// VTEP's work to core 1 (Quiver's worker; RPS for the kernel VTEP, whose work is all softirq).
// Two cores cannot separate everything: the receive softirq feeding Quiver's packet socket
// shares core 0 with the generator (which slows the generator, not the VTEP).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAfPacketInterface } from '../../src/interfaces/af_packet.js';
import { linkCounters } from '../../src/lab/netns.js';
import { Topology } from '../../test/vxlan/topology.js';
import * as engine from '../../src/engine.js';
import * as ip from '../../graph/ip/ip.js';
import * as l2 from '../../graph/l2/bridge.js';
import * as pg from '../../graph/pg/pg.js';
import * as vxlan from '../../graph/vxlan/vxlan.js';
import { innerFrame, vxlanFrame } from '../../test/vxlan/packets.js';
import { type BenchOptions, type Scenario, clocksPerDelivered, median, medianClocks, printClocks } from '../bench.js';
import { BRIDGE_CHAIN, runOnce as bridgeOnce } from './l2bd.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOCAL_MAC = '02:00:00:00:01:01';
const REMOTE_MAC = '02:00:00:00:01:02';
const HOST = '02:aa:00:00:00:01'; // behind pgIn
const REMOTE_HOST = '02:aa:00:00:00:02'; // behind the tunnel

type Direction = 'encap' | 'decap';
type Family = 'ip4' | 'ip6';
const ADDR = { ip4: { local: '198.18.0.1', remote: '198.18.0.2', len: 24 }, ip6: { local: '2001:db8::1', remote: '2001:db8::2', len: 64 } };
const EDGE = new Set(['pg-input', 'pg-output']);

/** 256 inner flows of 64 B (the source port hash sees real entropy). */
const flows = (src: string, dst: string) => Array.from({ length: 256 }, (_, k) => innerFrame({ size: 64, sport: 1024 + k, srcMac: src, dstMac: dst }));

export async function runOnce(dir: Direction, family: Family, seconds: number, shortcuts: boolean): Promise<{ mpps: number; clocks: Record<string, number> }> {
  engine.start({ workers: 1, cores: [cpus().length - 1], buffers: 32768 });
  try {
    vxlan.underlayShortcuts(shortcuts);
    pg.createPgInterface({ name: 'pgIn' });
    pg.createPgInterface({ name: 'pgU', mac: LOCAL_MAC });
    for (const n of ['pgIn', 'pgU']) engine.setInterfaceState(n, { adminUp: true });
    const a = ADDR[family];
    ip.addAddress('pgU', `${a.local}/${a.len}`, { announce: false });
    ip.addNeighbor({ interface: 'pgU', address: a.remote, mac: REMOTE_MAC });
    // A host route to the remote VTEP (as when it is reached through a gateway): its
    // adjacency rewrites directly; an attached-subnet destination would visit ip-arp for
    // every packet.
    ip.addRoute({ prefix: `${a.remote}/${family === 'ip4' ? 32 : 128}`, paths: [{ via: a.remote, interface: 'pgU' }] });
    vxlan.createTunnel({ name: 'vx', src: a.local, dst: a.remote, vni: 1000 });
    engine.setInterfaceState('vx', { adminUp: true });
    l2.createBridgeDomain({ id: 1 });
    l2.addBridgeMember(1, { interface: 'pgIn' });
    l2.addBridgeMember(1, { interface: 'vx' });
    l2.addStaticMac(1, { mac: HOST, interface: 'pgIn' });
    l2.addStaticMac(1, { mac: REMOTE_HOST, interface: 'vx' });
    let out: string;
    if (dir === 'encap') {
      pg.addStream('pgIn', { name: 'bench', packets: flows(HOST, REMOTE_HOST) });
      out = 'pgU';
    } else {
      const outer = flows(REMOTE_HOST, HOST).map((f, k) =>
        vxlanFrame({ dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: a.remote, dst: a.local, sport: 49152 + k, vni: 1000 }, f),
      );
      pg.addStream('pgU', { name: 'bench', packets: outer });
      out = 'pgIn';
    }
    pg.enableStream('bench');
    await sleep(200); // warm-up
    engine.clearRuntime();
    engine.clearInterfaces();
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    pg.enableStream('bench', false);
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    // Node clocks and deliveries from one quiet moment: the last vectors have left.
    await sleep(50);
    const tx = engine.statsSegment().interfaceCounters(engine.findInterface(out).index).txPackets;
    return { mpps: Number(tx) / elapsed / 1e6, clocks: clocksPerDelivered(engine.statsSegment(), tx) };
  } finally {
    engine.stop();
  }
}

const sum = (clocks: Record<string, number>, pick: (node: string) => boolean) =>
  Object.entries(clocks).reduce((a, [n, c]) => a + (pick(n) ? c : 0), 0);

// ---- veth: Quiver VTEP beside the kernel VTEP ----------------------------------------------

type Vtep = 'quiver' | 'kernel';
const RX_MAC = '02:00:00:00:0b:02'; // the VTEP under test on the underlay
const PEER_MAC = '02:00:00:00:0b:01'; // the other VTEP (generator or sink) on the underlay
const INNER_SRC = '02:00:00:00:0c:01';
const INNER_DST = '02:00:00:00:0c:02'; // behind the bridge port / the tunnel, statically
const VETH_VNI = 2000;

/** trafgen's config for one frame (its bytes as a C-like list). */
function trafgenConfig(frame: Buffer): string {
  return `{\n  ${[...frame].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')}\n}\n`;
}

function startTrafgen(netns: string, cfg: string): ChildProcess {
  // Its own process group, so that SIGINT reaches trafgen's forked sender as well.
  const g = spawn('ip', ['netns', 'exec', netns, 'taskset', '-c', '0', 'trafgen', '-o', 'eth0', '-i', cfg, '-P', '1', '--no-sock-mem', '-C'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  g.stdout!.resume();
  g.stderr!.resume();
  return g;
}
async function stopTrafgen(g: ChildProcess): Promise<void> {
  if (g.exitCode !== null || g.signalCode !== null) return;
  const ended = new Promise((r) => g.once('exit', r));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-g.pid!, sig);
    } catch {
      /* already gone */
    }
  };
  signal('SIGINT');
  const t = setTimeout(() => signal('SIGKILL'), 2000);
  await ended;
  clearTimeout(t);
}

/** RPS: the receive softirq of this interface on core 1. */
function rpsToCore1(topo: Topology, netns: string | null, dev: string): void {
  topo.run(netns, 'sh', ['-c', `echo 2 > /sys/class/net/${dev}/queues/rx-0/rps_cpus`]);
}

/**
 * One VTEP, one direction: builds the namespaces, runs trafgen for `seconds`, returns the Mpps
 * the sink received, and removes everything.
 */
async function vethRun(vtep: Vtep, dir: Direction, dirCfg: string, seconds: number): Promise<number> {
  const topo = new Topology();
  try {
    const gen = topo.netns('g');
    const sink = topo.netns('s');
    if (vtep === 'kernel') {
      const k = topo.netns('k');
      topo.ip(k, 'link', 'add', 'br0', 'type', 'bridge');
      if (dir === 'decap') {
        topo.veth(k, 'ul', gen, 'eth0');
        topo.veth(k, 'sp', sink, 'eth0');
        topo.ip(k, 'link', 'set', 'ul', 'address', RX_MAC);
        topo.ip(k, 'addr', 'add', '198.18.100.2/24', 'dev', 'ul');
        topo.ip(k, 'link', 'set', 'sp', 'master', 'br0');
        rpsToCore1(topo, k, 'ul');
      } else {
        topo.veth(k, 'gp', gen, 'eth0');
        topo.veth(k, 'ul', sink, 'eth0');
        topo.ip(sink, 'link', 'set', 'eth0', 'address', PEER_MAC);
        topo.ip(k, 'addr', 'add', '198.18.100.2/24', 'dev', 'ul');
        topo.ip(k, 'neigh', 'add', '198.18.100.1', 'lladdr', PEER_MAC, 'dev', 'ul', 'nud', 'permanent');
        topo.ip(k, 'link', 'set', 'gp', 'master', 'br0');
        rpsToCore1(topo, k, 'gp');
      }
      topo.ip(k, 'link', 'add', 'vx', 'type', 'vxlan', 'id', String(VETH_VNI), 'local', '198.18.100.2', 'remote', '198.18.100.1', 'dstport', '4789', 'dev', 'ul');
      topo.ip(k, 'link', 'set', 'vx', 'master', 'br0', 'up');
      topo.ip(k, 'link', 'set', 'br0', 'up');
      topo.run(k, 'bridge', ['fdb', 'add', INNER_DST, 'dev', dir === 'decap' ? 'sp' : 'vx', 'master', 'static']);
    } else {
      engine.start({ workers: 1, cores: [1], rxMode: 'interrupt', buffers: 32768 });
      const into = topo.veth(null, 'i', gen, 'eth0').a;
      const out = topo.veth(null, 'o', sink, 'eth0').a;
      // No RPS here: the kernel's half of af_packet (veth rx softirq, the copy into the ring)
      // stays on the generator's core. Steered onto core 1 it preempts Quiver's worker there
      // and the ring overflows: 0.007 Mpps, the worker starved by softirq, not a VTEP figure.
      createAfPacketInterface({ host: into, name: 'in' });
      createAfPacketInterface({ host: out, name: 'out' });
      const ul = dir === 'decap' ? 'in' : 'out';
      engine.setInterfaceState(ul, { mac: RX_MAC });
      if (dir === 'encap') topo.ip(sink, 'link', 'set', 'eth0', 'address', PEER_MAC);
      for (const n of ['in', 'out']) engine.setInterfaceState(n, { adminUp: true });
      ip.addAddress(ul, '198.18.100.2/24', { announce: false });
      ip.addNeighbor({ interface: ul, address: '198.18.100.1', mac: PEER_MAC });
      ip.addRoute({ prefix: '198.18.100.1/32', paths: [{ via: '198.18.100.1', interface: ul }] });
      vxlan.createTunnel({ name: 'vx', src: '198.18.100.2', dst: '198.18.100.1', vni: VETH_VNI });
      engine.setInterfaceState('vx', { adminUp: true });
      const port = dir === 'decap' ? 'out' : 'in';
      l2.createBridgeDomain({ id: 1 });
      l2.addBridgeMember(1, { interface: port });
      l2.addBridgeMember(1, { interface: 'vx' });
      l2.addStaticMac(1, { mac: INNER_DST, interface: dir === 'decap' ? port : 'vx' });
    }
    const g = startTrafgen(gen, dirCfg);
    try {
      await sleep(400); // warm-up
      const c0 = linkCounters('eth0', sink).rxPackets;
      const t0 = process.hrtime.bigint();
      await sleep(seconds * 1000);
      const c1 = linkCounters('eth0', sink).rxPackets;
      const t1 = process.hrtime.bigint();
      if (g.exitCode !== null) throw new Error(`trafgen exited early (${g.exitCode})`);
      return (c1 - c0) / (Number(t1 - t0) / 1e9) / 1e6;
    } finally {
      await stopTrafgen(g);
    }
  } finally {
    if (engine.running()) engine.stop();
    topo.destroy();
  }
}

const SYSCTLS = ['net/core/wmem_max', 'net/core/wmem_default'];

async function vethComparison(o: BenchOptions): Promise<Record<string, unknown>> {
  if (cpus().length < 2) throw new Error('vxlan veth: needs two cores (generator on one, VTEP on the other)');
  if (!['/usr/sbin/trafgen', '/usr/bin/trafgen'].some((f) => existsSync(f)))
    throw new Error('vxlan veth: trafgen not found (Debian package netsniff-ng)');
  const inner = innerFrame({ size: 60, srcMac: INNER_SRC, dstMac: INNER_DST });
  const frames = {
    decap: vxlanFrame({ dstMac: RX_MAC, srcMac: PEER_MAC, src: '198.18.100.1', dst: '198.18.100.2', sport: 50000, vni: VETH_VNI }, inner),
    encap: inner,
  };
  // trafgen's TX_RING stalls after ~4k frames in a namespace unless socket memory is raised in
  // the root namespace (LAB-NOTES); restored afterwards.
  const saved = SYSCTLS.map((p) => readFileSync(`/proc/sys/${p}`, 'utf8').trim());
  const tmp = mkdtempSync(join(tmpdir(), 'qv-vxlan-'));
  const result: Record<string, unknown> = {};
  try {
    for (const p of SYSCTLS) writeFileSync(`/proc/sys/${p}`, String(Math.max(4 << 20, Number(readFileSync(`/proc/sys/${p}`, 'utf8')))));
    for (const dir of ['decap', 'encap'] as const) {
      const cfg = join(tmp, `${dir}.cfg`);
      writeFileSync(cfg, trafgenConfig(frames[dir]));
      const mpps: Record<Vtep, number[]> = { quiver: [], kernel: [] };
      for (let r = 0; r < o.runs; r++) {
        // Alternate within each round: slow drift of a shared machine hits both.
        for (const v of ['quiver', 'kernel'] as const) mpps[v].push(await vethRun(v, dir, cfg, o.seconds));
        o.log(`  veth ${dir} run ${r + 1}: Quiver ${mpps.quiver.at(-1)!.toFixed(3)}, kernel ${mpps.kernel.at(-1)!.toFixed(3)} Mpps`);
      }
      const q = median(mpps.quiver);
      const k = median(mpps.kernel);
      o.log(`veth ${dir}: Quiver VTEP ${q.toFixed(3)} Mpps, kernel VTEP ${k.toFixed(3)} Mpps (${(q / k).toFixed(2)}x)`);
      result[`veth ${dir}`] = { quiverMpps: q, kernelMpps: k, ratio: q / k, quiverRuns: mpps.quiver, kernelRuns: mpps.kernel };
    }
    result.loadAverage = loadavg()[0];
    return result;
  } finally {
    SYSCTLS.forEach((p, i) => writeFileSync(`/proc/sys/${p}`, saved[i]!));
    rmSync(tmp, { recursive: true, force: true });
  }
}

export const vxlanScenario: Scenario = {
  name: 'vxlan',
  description: 'VXLAN encap/decap over pg beside the bridge path (IPv4/IPv6 underlay), and over veth beside the kernel VTEP; 64 B inner frames [--parts pg,veth]',
  async run(o: BenchOptions) {
    const at = process.argv.indexOf('--parts');
    const parts = at >= 0 ? (process.argv[at + 1] ?? '').split(',') : ['pg', 'veth'];
    for (const p of parts) if (p !== 'pg' && p !== 'veth') throw new Error(`--parts: '${p}' is not one of pg, veth`);
    const result: Record<string, unknown> = {};
    if (parts.includes('pg')) Object.assign(result, await overPg(o));
    if (parts.includes('veth')) Object.assign(result, await vethComparison(o));
    return result;
  },
};

async function overPg(o: BenchOptions): Promise<Record<string, unknown>> {
  const modes = ['shortcuts', 'lookup'] as const;
  type Mode = (typeof modes)[number];
  const key = (family: Family, dir: Direction, mode: Mode) => `${family} ${dir} ${mode}`;
  const runs = new Map<string, { mpps: number[]; clocks: Record<string, number>[] }>();
  const record = (k: string, x: { mpps: number; clocks: Record<string, number> }) => {
    const r = runs.get(k) ?? { mpps: [], clocks: [] };
    r.mpps.push(x.mpps);
    r.clocks.push(x.clocks);
    runs.set(k, r);
  };
  // Rounds interleave every path, so a machine that drifts (a shared VM does) moves them all.
  for (let r = 0; r < o.runs; r++) {
    record('bridge', await bridgeOnce(o.seconds, 1));
    for (const family of ['ip4', 'ip6'] as const)
      for (const dir of ['encap', 'decap'] as const)
        for (const mode of modes) record(key(family, dir, mode), await runOnce(dir, family, o.seconds, mode === 'shortcuts'));
    o.log(`  round ${r + 1} of ${o.runs} done`);
  }
  const bridgeRuns = runs.get('bridge')!;
  const bridge = medianClocks(bridgeRuns.clocks);
  const bridgeChain = BRIDGE_CHAIN.reduce((a, n) => a + (bridge[n] ?? 0), 0);
  o.log(`bridge: median ${median(bridgeRuns.mpps).toFixed(2)} Mpps; chain ${bridgeChain.toFixed(2)} clocks/packet`);
  const result: Record<string, unknown> = { bridge: { mppsMedian: median(bridgeRuns.mpps), chainClocks: bridgeChain, clocksPerPacket: bridge } };
  for (const family of ['ip4', 'ip6'] as const) {
    const v = family[2];
    const vxlanNode = (n: string) => n === `vxlan${v}-encap` || n === `vxlan${v}-input` || n === `ip${v}-vxlan-bypass`;
    for (const mode of modes) {
      const med: Record<Direction, Record<string, number>> = { encap: {}, decap: {} };
      for (const dir of ['encap', 'decap'] as const) {
        const r = runs.get(key(family, dir, mode))!;
        med[dir] = medianClocks(r.clocks);
        const chain = sum(med[dir], (n) => !EDGE.has(n));
        o.log(`${family} ${dir} (${mode}): median ${median(r.mpps).toFixed(2)} Mpps; chain ${chain.toFixed(2)} clocks/packet`);
        printClocks(o.log, med[dir]);
        result[key(family, dir, mode)] = { mppsMedian: median(r.mpps), mppsRuns: r.mpps, clocksPerPacket: med[dir], chainClocks: chain };
      }
      const vxlanNodes = sum(med.encap, vxlanNode) + sum(med.decap, vxlanNode);
      // Each direction runs the bridge chain once plus the tunnel's share; both directions
      // together add what is beyond two bridge chains.
      const whole = sum(med.encap, (n) => !EDGE.has(n)) + sum(med.decap, (n) => !EDGE.has(n)) - 2 * bridgeChain;
      o.log(`${family} (${mode}): encap+decap add ${vxlanNodes.toFixed(2)} clocks/packet in the VXLAN nodes, ${whole.toFixed(2)} in all beyond two bridge chains (goal <= 60)`);
      result[`${family} added (${mode})`] = { vxlanNodesClocks: vxlanNodes, withUnderlayClocks: whole };
    }
  }
  return result;
}
