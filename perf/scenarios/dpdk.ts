// The DPDK driver beside testpmd's own io forwarder, the same chain both ways, forwarder pinned
// to the last core:
//   null:  net_null rx -> l2-xconnect -> net_null tx, both directions (pure engine + driver cost)
//   memif: a testpmd generator (flowgen, two memif ports, core 0) <-> forwarder <-> back
// Quiver's forwarder is one polling worker; testpmd's is one forwarding lcore. Figures: Mpps
// (median of runs) and the forwarder's clocks per packet counted the same way on both sides,
// over the polls that brought packets: Quiver's per-node clocks summed along the chain,
// testpmd's --record-core-cycles. Quiver's whole-core figure (TSC rate / packet rate, idle
// polls included) is reported beside it.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as dpdk from '../../native/dpdk/dpdk.js';
import { Testpmd } from '../../native/dpdk/testpmd.js';
import * as engine from '../../src/engine.js';
import { type BenchOptions, type Scenario, clocksPerNode, median, medianClocks, printClocks } from '../bench.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CHAIN = ['dpdk-input', 'ethernet-input', 'l2-xconnect', 'interface-output', 'dpdk-tx'];

interface Run {
  mpps: number;
  clocksPerPacket: number;  // forwarder cycles per forwarded packet, polls that brought packets
  coreClocksPerPacket?: number;  // Quiver: TSC rate / packet rate (the core does nothing else)
  nodes?: Record<string, number>;
}

function memifArgs(sock: string, role: 'server' | 'client'): string {
  return `role=${role},id=0,socket=${sock},socket-abstract=no`;
}

/** A peer started once the forwarder is up: `stop` its traffic, then `quit`. */
type Peer = () => Promise<{ stop(): Promise<void>; quit(): Promise<void> }>;

/** Quiver forwarding between two DPDK ports, `seconds` of measurement after a warm-up. */
async function quiverForward(ports: [string, string], args: [string, string], seconds: number, core: number, peer?: Peer): Promise<Run> {
  engine.start({ workers: 1, cores: [core], buffers: 32768, rxMode: 'polling' });
  let p: Awaited<ReturnType<Peer>> | undefined;
  try {
    dpdk.createDpdkInterface({ name: 'p0', port: ports[0], args: args[0] });
    dpdk.createDpdkInterface({ name: 'p1', port: ports[1], args: args[1] });
    xconnectPair('p0', 'p1');
    engine.setInterfaceState('p0', { adminUp: true });
    engine.setInterfaceState('p1', { adminUp: true });
    if (peer) p = await peer();
    await sleep(300);
    engine.clearRuntime();
    engine.clearInterfaces();
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const s = engine.statsSegment();
    const tx = s.interfaceCounters(engine.findInterface('p0').index).txPackets + s.interfaceCounters(engine.findInterface('p1').index).txPackets;
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    const nodes = clocksPerNode(s);
    const pps = Number(tx) / elapsed;
    const chain = CHAIN.reduce((a, n) => a + (nodes[n] ?? 0), 0);
    return { mpps: pps / 1e6, clocksPerPacket: chain, coreClocksPerPacket: s.tscHz / pps, nodes };
  } finally {
    // The peer's traffic stops, then Quiver's ports, and only then may the peer disconnect:
    // DPDK 22.11's net_memif unmaps its regions under a worker still inside rx_burst.
    await p?.stop();
    engine.stop();
    await p?.quit();
  }
}

/** testpmd io forwarding between two ports on one forwarding lcore pinned to `core`. */
async function testpmdForward(vdevs: string[], seconds: number, core: number, peer?: Peer): Promise<Run> {
  const tp = await Testpmd.start(vdevs, { lcores: `0@0,1@${core}`, app: ['--nb-cores=1', '--record-core-cycles', '--forward-mode=io'] });
  let p: Awaited<ReturnType<Peer>> | undefined;
  try {
    await tp.command('start');
    if (peer) p = await peer();
    await sleep(300);
    await tp.portRates();
    await sleep(seconds * 1000);
    const rates = await tp.portRates();
    const st = await tp.stop();
    const pps = rates.tx.reduce((a, b) => a + b, 0);
    return { mpps: pps / 1e6, clocksPerPacket: Testpmd.cyclesPerPacket(st.text) ?? NaN };
  } finally {
    await p?.stop();
    await tp.command('stop').catch(() => undefined); // not forwarding when the peer goes
    await p?.quit();
    await tp.quit();
  }
}

/** The memif generator: one testpmd, two client ports, flowgen, on core 0 with its main lcore. */
function memifGenerator(socks: [string, string]): Peer {
  return async () => {
    const gen = await Testpmd.start([`net_memif0,${memifArgs(socks[0], 'client')}`, `net_memif1,${memifArgs(socks[1], 'client')}`], {
      lcores: '0@0,1@0',
      app: ['--nb-cores=1'],
    });
    await sleep(1000); // memif connects
    await gen.command('set fwd flowgen');
    await gen.command('start');
    return {
      stop: async () => {
        await gen.stop().catch(() => undefined);
      },
      quit: () => gen.quit(),
    };
  };
}

interface Pair {
  quiver: Run[];
  testpmd: Run[];
}

function summarize(name: string, p: Pair, log: (l: string) => void): Record<string, unknown> {
  const q = median(p.quiver.map((r) => r.mpps));
  const t = median(p.testpmd.map((r) => r.mpps));
  const qc = median(p.quiver.map((r) => r.clocksPerPacket));
  const tc = median(p.testpmd.map((r) => r.clocksPerPacket));
  const core = median(p.quiver.map((r) => r.coreClocksPerPacket ?? NaN));
  const nodes = medianClocks(p.quiver.map((r) => r.nodes ?? {}));
  log(`${name}:`);
  log(`  Quiver      ${q.toFixed(2).padStart(6)} Mpps  ${qc.toFixed(1).padStart(7)} clocks/packet (whole core ${core.toFixed(1)})`);
  log(`  testpmd io  ${t.toFixed(2).padStart(6)} Mpps  ${tc.toFixed(1).padStart(7)} cycles/packet`);
  log(`  Quiver / testpmd: ${(q / t).toFixed(2)}x Mpps`);
  printClocks(log, nodes);
  return {
    quiver: { mppsMedian: q, mppsRuns: p.quiver.map((r) => r.mpps), clocksPerPacket: qc, coreClocksPerPacket: core, nodeClocks: nodes },
    testpmd: { mppsMedian: t, mppsRuns: p.testpmd.map((r) => r.mpps), cyclesPerPacket: tc },
    ratio: q / t,
  };
}

export const dpdkScenario: Scenario = {
  name: 'dpdk',
  description: 'DPDK net_null rx -> l2-xconnect -> tx, and net_memif to a testpmd generator, beside testpmd io',
  async run(o: BenchOptions) {
    const core = cpus().length - 1;
    dpdk.initDpdk({ logLevel: 'error' });
    const nul: Pair = { quiver: [], testpmd: [] };
    const mem: Pair = { quiver: [], testpmd: [] };
    const socks: [string, string] = [0, 1].map((i) => join(tmpdir(), `qk-bench-${randomBytes(3).toString('hex')}-${i}.sock`)) as [string, string];
    const nullArgs: [string, string] = ['size=64', 'size=64'];
    const memifServer: [string, string] = [memifArgs(socks[0], 'server'), memifArgs(socks[1], 'server')];
    try {
      const fresh = () => socks.forEach((s) => rmSync(s, { force: true })); // each forwarder makes its server sockets
      for (let r = 0; r < o.runs; r++) {
        nul.quiver.push(await quiverForward(['net_null0', 'net_null1'], nullArgs, o.seconds, core));
        nul.testpmd.push(await testpmdForward(['net_null0,size=64', 'net_null1,size=64'], o.seconds, core));
        o.log(`  run ${r + 1} null:  Quiver ${nul.quiver[r]!.mpps.toFixed(2)} Mpps, testpmd ${nul.testpmd[r]!.mpps.toFixed(2)} Mpps`);
        fresh();
        mem.quiver.push(await quiverForward(['net_memif0', 'net_memif1'], memifServer, o.seconds, core, memifGenerator(socks)));
        fresh();
        mem.testpmd.push(await testpmdForward([`net_memif0,${memifServer[0]}`, `net_memif1,${memifServer[1]}`], o.seconds, core, memifGenerator(socks)));
        o.log(`  run ${r + 1} memif: Quiver ${mem.quiver[r]!.mpps.toFixed(2)} Mpps, testpmd ${mem.testpmd[r]!.mpps.toFixed(2)} Mpps`);
      }
    } finally {
      for (const s of socks) rmSync(s, { force: true });
    }
    return {
      forwarderCore: core,
      null: summarize('net_null rx -> l2-xconnect -> net_null tx', nul, o.log),
      memif: summarize('memif generator <-> forwarder (flowgen on core 0)', mem, o.log),
    };
  },
};
