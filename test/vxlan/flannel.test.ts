// A Flannel-style overlay of three nodes: each node is a namespace running its own Quiver
// daemon (`quiver start -c` under `ip netns exec`), with a pod subnet 198.18.<n>.0/24 behind a
// bridge domain whose BVI (cni0) is the pods' gateway, two pods (namespaces, af_packet on their
// veths), an underlay port on a shared Linux bridge, a full mesh of VXLAN tunnels to the other
// nodes (L3 mode, a /30 link per pair) and a route per remote pod subnet via its tunnel.
// Every pod reaches every other pod; stopping one node's Quiver isolates only that node's pods,
// and restarting it with the same config restores them.
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { packageRoot } from '../../src/addon.js';
import { ApiClient } from '../../src/client.js';
import type { TunnelRow } from '../../graph/vxlan/vxlan.feature.js';
import { Topology } from './topology.js';

const execFileP = promisify(execFile);
const QUIVER = join(packageRoot(), 'dist/src/cli/quiver.js');
const QUIVERCTL = join(packageRoot(), 'dist/src/cli/quiverctl.js');
const NODES = 3;
const PODS = 2;
const VNI = 1;

interface Pod {
  node: number;
  netns: string;
  ip: string;
}
interface Node {
  index: number;
  netns: string;
  dir: string;
  socket: string;
  configFile: string;
  daemon?: ChildProcess;
  output: string;
}

let topo: Topology;
const nodes: Node[] = [];
const pods: Pod[] = [];

const underlay = (n: number) => `198.18.100.${n + 1}`;
const podSubnet = (n: number) => `198.18.${n + 1}.0/24`;
const pairIndex = (a: number, b: number) => (Math.min(a, b) === 0 ? Math.max(a, b) : 3); // (0,1)=1 (0,2)=2 (1,2)=3
/** Node n's address on its tunnel to node m: a /30 per pair, the lower node takes .1. */
const linkAddress = (n: number, m: number) => `198.19.${pairIndex(n, m)}.${n < m ? 1 : 2}`;

/** What a node's Quiver runs: the same shape Flannel gives every node. */
function nodeConfig(n: number, socket: string): Record<string, unknown> {
  const others = [...Array(NODES).keys()].filter((m) => m !== n);
  return {
    workers: { count: 1 },
    buffers: { count: 8192 },
    api: { socket },
    logging: { level: 'warn' },
    interfaces: [
      { type: 'af_packet', name: 'eth0', hostInterface: 'eth0' },
      ...[...Array(PODS).keys()].map((p) => ({ type: 'af_packet', name: `pod${p}`, hostInterface: `pod${p}` })),
      // Fixed MACs, as Flannel keeps its VTEP MAC across restarts: the neighbors' and the pods'
      // ARP caches stay right when a node's Quiver comes back.
      { type: 'bvi', name: 'cni0', mac: `02:00:00:00:${n + 1}0:01` },
      ...others.map((m) => ({ type: 'vxlan', name: `vx${m}`, src: underlay(n), dst: underlay(m), vni: VNI, mac: `02:00:00:00:${n + 1}0:${m + 1}${n + 1}` })),
    ],
    bridgeDomains: [{ id: 1, members: [...[...Array(PODS).keys()].map((p) => ({ interface: `pod${p}` })), { interface: 'cni0', bvi: true }] }],
    addresses: [
      { interface: 'eth0', addresses: [`${underlay(n)}/24`] },
      { interface: 'cni0', addresses: [`198.18.${n + 1}.1/24`] },
      ...others.map((m) => ({ interface: `vx${m}`, addresses: [`${linkAddress(n, m)}/30`] })),
    ],
    routes: others.map((m) => ({ prefix: podSubnet(m), paths: [{ via: linkAddress(m, n), interface: `vx${m}` }] })),
  };
}

async function startDaemon(node: Node): Promise<void> {
  node.output = '';
  const d = topo.spawn(node.netns, 'node', [QUIVER, 'start', '-c', node.configFile]);
  node.daemon = d;
  d.stdout!.on('data', (x: Buffer) => (node.output += x.toString()));
  d.stderr!.on('data', (x: Buffer) => (node.output += x.toString()));
  const client = new ApiClient(node.socket);
  const until = Date.now() + 30_000;
  for (;;) {
    if (d.exitCode !== null) throw new Error(`node ${node.index}: quiver exited ${d.exitCode}: ${node.output}`);
    try {
      await client.commands();
      return;
    } catch {
      if (Date.now() > until) throw new Error(`node ${node.index}: quiver did not answer within 30 s: ${node.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function stopDaemon(node: Node): Promise<void> {
  if (node.daemon) await topo.stop(node.daemon);
  node.daemon = undefined;
}

/** True when `from` gets an answer from `to` within a few tries (ARP on both sides first). */
async function reaches(from: Pod, to: Pod, tries = 3): Promise<boolean> {
  for (let k = 0; k < tries; k++) {
    try {
      await execFileP('ip', ['netns', 'exec', from.netns, 'ping', '-4', '-c', '1', '-W', '1', to.ip]);
      return true;
    } catch {
      /* next try */
    }
  }
  return false;
}

/** Every ordered pair of pods, and whether it reached. */
async function matrix(tries = 3): Promise<Map<string, boolean>> {
  const pairs = pods.flatMap((a) => pods.filter((b) => b !== a).map((b) => [a, b] as const));
  const results = await Promise.all(pairs.map(([a, b]) => reaches(a, b, tries)));
  return new Map(pairs.map(([a, b], i) => [`${a.ip}->${b.ip}`, results[i]!]));
}

beforeAll(async () => {
  topo = new Topology();
  const ul = topo.netns('ul');
  topo.ip(ul, 'link', 'add', 'br0', 'type', 'bridge');
  topo.ip(ul, 'link', 'set', 'br0', 'up');
  for (let n = 0; n < NODES; n++) {
    const netns = topo.netns(`n${n}`);
    topo.veth(ul, `n${n}`, netns, 'eth0', 1500);
    topo.ip(ul, 'link', 'set', `n${n}`, 'master', 'br0');
    for (let p = 0; p < PODS; p++) {
      const podNs = topo.netns(`n${n}p${p}`);
      // Flannel gives pods the overlay's MTU: 1500 - 50.
      topo.veth(netns, `pod${p}`, podNs, 'eth0', 1450);
      const ip = `198.18.${n + 1}.${p + 2}`;
      topo.ip(podNs, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
      topo.ip(podNs, 'route', 'add', 'default', 'via', `198.18.${n + 1}.1`);
      pods.push({ node: n, netns: podNs, ip });
    }
    const dir = mkdtempSync(join(tmpdir(), 'qv-flannel-'));
    const socket = join(dir, 'quiver.sock');
    const configFile = join(dir, 'quiver.yaml');
    writeFileSync(configFile, stringify(nodeConfig(n, socket)));
    nodes.push({ index: n, netns, dir, socket, configFile, output: '' });
  }
  await Promise.all(nodes.map(startDaemon));
}, 90_000);

afterAll(async () => {
  for (const n of nodes) await stopDaemon(n).catch(() => undefined);
  topo?.destroy();
  for (const n of nodes) rmSync(n.dir, { recursive: true, force: true });
});

describe('Flannel-style overlay: three nodes, three Quiver daemons, a VXLAN mesh', () => {
  it('every pod reaches every other pod, on its node and across the mesh', async () => {
    const m = await matrix();
    expect([...m].filter(([, ok]) => !ok).map(([k]) => k)).toEqual([]);
    expect(m.size).toBe(NODES * PODS * (NODES * PODS - 1));
  });

  it('quiverctl show vxlan tunnel on a node lists its two tunnels with traffic both ways', async () => {
    const { stdout } = await execFileP('node', [QUIVERCTL, '--socket', nodes[0]!.socket, 'show', 'vxlan', 'tunnel', '--json']);
    const rows = JSON.parse(stdout) as TunnelRow[];
    expect(rows.map((r) => [r.name, r.src, r.dst, r.vni])).toEqual([
      ['vx1', underlay(0), underlay(1), VNI],
      ['vx2', underlay(0), underlay(2), VNI],
    ]);
    for (const r of rows) {
      expect(r.counters.txPackets, r.name).toBeGreaterThan(0);
      expect(r.counters.rxPackets, r.name).toBeGreaterThan(0);
    }
    const text = await execFileP('node', [QUIVERCTL, '--socket', nodes[0]!.socket, 'show', 'vxlan', 'tunnel']);
    expect(text.stdout).toContain(`vx1 src ${underlay(0)} dst ${underlay(1)} vni ${VNI} dst-port 4789`);
  });

  it("stopping node 1's Quiver isolates only node 1's pods; restarting it restores them", async () => {
    const down = nodes[1]!;
    await stopDaemon(down);
    const m = await matrix(2);
    for (const [key, ok] of m) {
      const [a, b] = key.split('->').map((ip) => pods.find((p) => p.ip === ip)!);
      const isolated = a!.node === 1 || b!.node === 1;
      expect(ok, `${key} with node 1 down`).toBe(!isolated);
    }
    await startDaemon(down);
    const back = await matrix(5);
    expect([...back].filter(([, ok]) => !ok).map(([k]) => k)).toEqual([]);
  });
});
