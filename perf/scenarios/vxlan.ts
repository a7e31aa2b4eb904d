// VXLAN encap and decap over pg, 64 B inner frames, one worker pinned to the last core:
// Mpps and clocks/packet per node for each direction and underlay family.
import { cpus } from 'node:os';
import * as engine from '../../src/engine.js';
import { xconnect } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import * as vxlan from '../../graph/vxlan/vxlan.js';
import { innerFrame, vxlanFrame } from '../../test/vxlan/packets.js';
import { type BenchOptions, type Scenario, clocksPerNode, median, medianClocks, printClocks } from '../bench.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOCAL_MAC = '02:00:00:00:01:01';
const REMOTE_MAC = '02:00:00:00:01:02';

type Direction = 'encap' | 'decap';
type Family = 'ip4' | 'ip6';

const ADDR = { ip4: ['198.18.0.1', '198.18.0.2'], ip6: ['2001:db8::1', '2001:db8::2'] } as const;

/** 256 inner flows of 64 B: the source port hash sees real entropy. */
const flows = () => Array.from({ length: 256 }, (_, k) => innerFrame({ size: 64, sport: 1024 + k }));

async function runOnce(dir: Direction, family: Family, seconds: number): Promise<{ mpps: number; clocks: Record<string, number> }> {
  engine.start({ workers: 1, cores: [cpus().length - 1], buffers: 32768 });
  try {
    for (const n of ['pgIn', 'pgU']) {
      pg.createPgInterface({ name: n });
      engine.setInterfaceState(n, { adminUp: true });
    }
    vxlan.testUnderlay({ interface: 'pgU', localMac: LOCAL_MAC, remoteMac: REMOTE_MAC });
    const [local, remote] = ADDR[family];
    vxlan.createTunnel({ name: 'vx', src: local, dst: remote, vni: 1000 });
    engine.setInterfaceState('vx', { adminUp: true });
    let out: string;
    if (dir === 'encap') {
      xconnect('pgIn', 'vx');
      pg.addStream('pgIn', { name: 'bench', packets: flows() });
      out = 'pgU';
    } else {
      xconnect('vx', 'pgIn');
      const outer = flows().map((f, k) => vxlanFrame({ dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: remote, dst: local, sport: 49152 + k, vni: 1000 }, f));
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

export const vxlanScenario: Scenario = {
  name: 'vxlan',
  description: 'VXLAN encap and decap over pg (IPv4 and IPv6 underlay), 64 B inner frames, one pinned worker',
  async run(o: BenchOptions) {
    const result: Record<string, unknown> = {};
    for (const family of ['ip4', 'ip6'] as const)
      for (const dir of ['encap', 'decap'] as const) {
        const mpps: number[] = [];
        const clocks: Record<string, number>[] = [];
        for (let r = 0; r < o.runs; r++) {
          const x = await runOnce(dir, family, o.seconds);
          mpps.push(x.mpps);
          clocks.push(x.clocks);
        }
        const med = medianClocks(clocks);
        const node = dir === 'encap' ? `vxlan${family[2]}-encap` : `vxlan${family[2]}-input`;
        o.log(`${family} ${dir}: median ${median(mpps).toFixed(2)} Mpps; ${node} ${(med[node] ?? 0).toFixed(2)} clocks/packet`);
        printClocks(o.log, med);
        result[`${family} ${dir}`] = { mppsMedian: median(mpps), mppsRuns: mpps, clocksPerPacket: med, nodeClocks: med[node] ?? 0 };
      }
    return result;
  },
};
