// VXLAN over pg, 64 B inner frames, one worker pinned to the last core, IPv4 and IPv6 underlay:
//   bridge: pg0 -> bridge domain -> pg1 (the l2bd chain with 2 MACs), the baseline;
//   encap:  pgIn -> bridge domain -> tunnel: vxlan-encap -> ip-lookup -> ip-rewrite -> pgU;
//   decap:  pgU -> ip-input -> ip-lookup -> ip-local -> vxlan-input -> ethernet-input ->
//           bridge domain -> pgIn.
// Mpps and clocks/packet per node; what encap and decap add to the bridge path: the VXLAN
// nodes alone, and everything the tunnel path runs beyond the bridge chain (the underlay's
// IP nodes and the second ethernet-input included). The goal: <= 60 clocks/packet.
import { cpus } from 'node:os';
import * as engine from '../../src/engine.js';
import * as ip from '../../graph/ip/ip.js';
import * as l2 from '../../graph/l2/bridge.js';
import * as pg from '../../graph/pg/pg.js';
import * as vxlan from '../../graph/vxlan/vxlan.js';
import { innerFrame, vxlanFrame } from '../../test/vxlan/packets.js';
import { type BenchOptions, type Scenario, clocksPerNode, median, medianClocks, printClocks } from '../bench.js';
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

async function runOnce(dir: Direction, family: Family, seconds: number): Promise<{ mpps: number; clocks: Record<string, number> }> {
  engine.start({ workers: 1, cores: [cpus().length - 1], buffers: 32768 });
  try {
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
    const tx = engine.statsSegment().interfaceCounters(engine.findInterface(out).index).txPackets;
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    pg.enableStream('bench', false);
    return { mpps: Number(tx) / elapsed / 1e6, clocks: clocksPerNode(engine.statsSegment()) };
  } finally {
    engine.stop();
  }
}

const sum = (clocks: Record<string, number>, pick: (node: string) => boolean) =>
  Object.entries(clocks).reduce((a, [n, c]) => a + (pick(n) ? c : 0), 0);

export const vxlanScenario: Scenario = {
  name: 'vxlan',
  description: 'VXLAN encap and decap over pg beside the bridge path (IPv4 and IPv6 underlay), 64 B inner frames, one pinned worker',
  async run(o: BenchOptions) {
    const bridgeMpps: number[] = [];
    const bridgeClocks: Record<string, number>[] = [];
    for (let r = 0; r < o.runs; r++) {
      const x = await bridgeOnce(o.seconds, 1);
      bridgeMpps.push(x.mpps);
      bridgeClocks.push(x.clocks);
    }
    const bridge = medianClocks(bridgeClocks);
    const bridgeChain = BRIDGE_CHAIN.reduce((a, n) => a + (bridge[n] ?? 0), 0);
    o.log(`bridge: median ${median(bridgeMpps).toFixed(2)} Mpps; chain ${bridgeChain.toFixed(2)} clocks/packet`);
    const result: Record<string, unknown> = { bridge: { mppsMedian: median(bridgeMpps), chainClocks: bridgeChain, clocksPerPacket: bridge } };
    for (const family of ['ip4', 'ip6'] as const) {
      const v = family[2];
      const per: Record<Direction, { mpps: number; clocks: Record<string, number> }> = {} as never;
      for (const dir of ['encap', 'decap'] as const) {
        const mpps: number[] = [];
        const clocks: Record<string, number>[] = [];
        for (let r = 0; r < o.runs; r++) {
          const x = await runOnce(dir, family, o.seconds);
          mpps.push(x.mpps);
          clocks.push(x.clocks);
        }
        const med = medianClocks(clocks);
        per[dir] = { mpps: median(mpps), clocks: med };
        const chain = sum(med, (n) => !EDGE.has(n));
        o.log(`${family} ${dir}: median ${median(mpps).toFixed(2)} Mpps; chain ${chain.toFixed(2)} clocks/packet`);
        printClocks(o.log, med);
        result[`${family} ${dir}`] = { mppsMedian: median(mpps), mppsRuns: mpps, clocksPerPacket: med, chainClocks: chain, nodeClocks: med[dir === 'encap' ? `vxlan${v}-encap` : `vxlan${v}-input`] ?? 0 };
      }
      const vxlanNodes = (per.encap.clocks[`vxlan${v}-encap`] ?? 0) + (per.decap.clocks[`vxlan${v}-input`] ?? 0);
      // Each direction runs the bridge chain once plus the tunnel's share; both directions
      // together add what is beyond two bridge chains.
      const whole = sum(per.encap.clocks, (n) => !EDGE.has(n)) + sum(per.decap.clocks, (n) => !EDGE.has(n)) - 2 * bridgeChain;
      o.log(`${family}: encap+decap add ${vxlanNodes.toFixed(2)} clocks/packet in the VXLAN nodes, ${whole.toFixed(2)} with the underlay's IP nodes (goal <= 60)`);
      result[`${family} added`] = { vxlanNodesClocks: vxlanNodes, withUnderlayClocks: whole };
    }
    return result;
  },
};
