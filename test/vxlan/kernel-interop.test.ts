// Interop with the Linux kernel's vxlan device. Quiver (this process, af_packet on veths in the
// root namespace) is one VTEP; namespace kv holds the kernel VTEP: vxlan devices bridged to
// hosts behind it, or routed. Hosts behind each VTEP ping over IPv4 and IPv6 and run iperf3
// TCP across the overlay; tshark on the underlay veth decodes the packets as VXLAN with the
// right VNI.
//
//   qa --[BD 1: t4 vni 4242, IPv4 underlay]-- Quiver ==ul== kv: vx4 + br4 -- ka
//   qb --[BD 2: t6 vni 6262, IPv6 underlay]-- Quiver ==ul== kv: vx6 + br6 -- kb
//   qc --(routed)-- Quiver: t3 vni 7777, port 8472, L3, 198.18.210.1 ==ul== kv: vx3 198.18.210.2 --(routed)-- kc
//
// The underlay is jumbo (MTU 9000): t3 carries 8950-byte inner packets (buffer chains).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { createAfPacketInterface } from '../../src/interfaces/af_packet.js';
import * as ip from '../../graph/ip/ip.js';
import * as l2 from '../../graph/l2/bridge.js';
import * as vxlan from '../../graph/vxlan/vxlan.js';
import { type LabHost, iperf3, ping } from '../helpers/netns.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { Topology } from './topology.js';

const execFileP = promisify(execFile);
useEngine();

let topo: Topology;
let kv: string;
const hosts: Record<string, LabHost> = {};
const host = (netns: string, ip4: string, ip6: string): LabHost =>
  ({ index: 0, netns, ifname: 'eth0', quiverSide: '', ip4, ip4Prefix: '', ip6, ip6Prefix: '' }) as LabHost;

/** A host namespace with eth0 (addresses, MTU, optional default routes) linked to `peerNs`. */
function addHost(name: string, peerNs: string | null, peerName: string, a4: string, a6: string, mtu: number, gw?: [string, string]): string {
  const ns = topo.netns(name);
  const { a } = topo.veth(peerNs, peerName, ns, 'eth0', mtu);
  topo.ip(ns, 'addr', 'add', a4, 'dev', 'eth0');
  topo.ip(ns, 'addr', 'add', a6, 'dev', 'eth0', 'nodad');
  if (gw) {
    topo.ip(ns, 'route', 'add', 'default', 'via', gw[0]);
    topo.ip(ns, '-6', 'route', 'add', 'default', 'via', gw[1]);
  }
  hosts[name] = host(ns, a4.split('/')[0]!, a6.split('/')[0]!);
  return a;
}

function quiverPort(hostSide: string, name: string): void {
  createAfPacketInterface({ host: hostSide, name });
  engine.setInterfaceState(name, { adminUp: true });
}

beforeAll(() => {
  topo = new Topology();
  kv = topo.netns('kv');
  // Underlay: Quiver's end in the root namespace, jumbo.
  const ul = topo.veth(null, 'u', kv, 'ul', 9000).a;
  topo.ip(kv, 'addr', 'add', '198.18.100.2/24', 'dev', 'ul');
  topo.ip(kv, 'addr', 'add', '2001:db8:100::2/64', 'dev', 'ul', 'nodad');
  topo.run(kv, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  // Kernel VTEP, L2 overlays: vxlan devices bridged to a host each.
  for (const [dev, id, local, remote, br, hostName, a4, a6, mtu] of [
    ['vx4', '4242', '198.18.100.2', '198.18.100.1', 'br4', 'ka', '198.18.200.2/24', '2001:db8:200::2/64', 1450],
    ['vx6', '6262', '2001:db8:100::2', '2001:db8:100::1', 'br6', 'kb', '198.18.201.2/24', '2001:db8:201::2/64', 1430],
  ] as const) {
    topo.ip(kv, 'link', 'add', dev, 'type', 'vxlan', 'id', id, 'local', local, 'remote', remote, 'dstport', '4789', 'dev', 'ul');
    topo.ip(kv, 'link', 'set', dev, 'mtu', String(mtu));
    topo.ip(kv, 'link', 'add', br, 'type', 'bridge');
    topo.ip(kv, 'link', 'set', dev, 'master', br);
    addHost(hostName, kv, `${hostName}p`, a4, a6, mtu);
    topo.ip(kv, 'link', 'set', `${hostName}p`, 'master', br);
    for (const l of [dev, br]) topo.ip(kv, 'link', 'set', l, 'up');
  }
  // Kernel VTEP, L3 overlay on Linux's port 8472 with a jumbo inner MTU, routing to kc.
  topo.ip(kv, 'link', 'add', 'vx3', 'type', 'vxlan', 'id', '7777', 'local', '198.18.100.2', 'remote', '198.18.100.1', 'dstport', '8472', 'dev', 'ul');
  topo.ip(kv, 'link', 'set', 'vx3', 'mtu', '8950', 'address', '02:00:00:00:77:02', 'up');
  topo.ip(kv, 'addr', 'add', '198.18.210.2/24', 'dev', 'vx3');
  topo.ip(kv, 'route', 'add', '198.18.212.0/24', 'via', '198.18.210.1');
  addHost('kc', kv, 'kcp', '198.18.211.2/24', '2001:db8:211::2/64', 8950, ['198.18.211.1', '2001:db8:211::1']);
  topo.ip(kv, 'addr', 'add', '198.18.211.1/24', 'dev', 'kcp');
  topo.ip(kv, 'addr', 'add', '2001:db8:211::1/64', 'dev', 'kcp', 'nodad');

  // Quiver: the underlay port, the tunnels, the hosts behind it.
  quiverPort(ul, 'ul');
  engine.setInterfaceState('ul', { mtu: 9000 });
  ip.addAddress('ul', '198.18.100.1/24', { announce: false });
  ip.addAddress('ul', '2001:db8:100::1/64', { announce: false });
  vxlan.createTunnel({ name: 't4', src: '198.18.100.1', dst: '198.18.100.2', vni: 4242 });
  vxlan.createTunnel({ name: 't6', src: '2001:db8:100::1', dst: '2001:db8:100::2', vni: 6262 });
  vxlan.createTunnel({ name: 't3', src: '198.18.100.1', dst: '198.18.100.2', vni: 7777, dstPort: 8472, mtu: 8950 });
  for (const t of ['t4', 't6', 't3']) engine.setInterfaceState(t, { adminUp: true });
  quiverPort(addHost('qa', null, 'a', '198.18.200.1/24', '2001:db8:200::1/64', 1450), 'qa');
  quiverPort(addHost('qb', null, 'b', '198.18.201.1/24', '2001:db8:201::1/64', 1430), 'qb');
  // qc's link is larger than the tunnel: the tunnel MTU is Quiver's to enforce.
  quiverPort(addHost('qc', null, 'c', '198.18.212.2/24', '2001:db8:212::2/64', 9000, ['198.18.212.1', '2001:db8:212::1']), 'qc');
  l2.createBridgeDomain({ id: 1 });
  l2.addBridgeMember(1, { interface: 'qa' });
  l2.addBridgeMember(1, { interface: 't4' });
  l2.createBridgeDomain({ id: 2 });
  l2.addBridgeMember(2, { interface: 'qb' });
  l2.addBridgeMember(2, { interface: 't6' });
  ip.addAddress('qc', '198.18.212.1/24', { announce: false });
  ip.addAddress('qc', '2001:db8:212::1/64', { announce: false });
  engine.setInterfaceState('qc', { mtu: 9000 });
  ip.addAddress('t3', '198.18.210.1/24', { announce: false });
  ip.addRoute({ prefix: '198.18.211.0/24', paths: [{ via: '198.18.210.2', interface: 't3' }] });
}, 60_000);

afterAll(() => topo?.destroy());

/** tshark on kv's underlay while `traffic` runs: one line per VXLAN packet, "vni src". */
async function sniff(traffic: () => Promise<unknown>, seconds = 4): Promise<string[]> {
  // Outer addresses are the first occurrence of each field (the inner packet has its own).
  const t = topo.spawn(kv, 'tshark', ['-i', 'ul', '-n', '-l', '-a', `duration:${seconds}`, '-d', 'udp.port==8472,vxlan', '-Y', 'vxlan',
    '-T', 'fields', '-E', 'separator=/s', '-E', 'occurrence=f', '-e', 'vxlan.vni', '-e', 'ip.src', '-e', 'ipv6.src']);
  let out = '';
  let err = '';
  t.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  t.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(() => err.includes('Capturing on'), 15_000, `tshark to start (${err})`);
  await traffic();
  await new Promise((r) => t.once('exit', r));
  return out.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter(Boolean);
}
/** A packet of this VNI from this outer source was decoded. */
const decoded = (seen: string[], vni: number, src: string) => seen.some((l) => l.split(' ')[0] === String(vni) && l.split(' ').includes(src));

describe('Quiver VTEP <-> Linux kernel VTEP', () => {
  it('L2 overlay, IPv4 underlay: ping (IPv4, IPv6) and iperf3 TCP; tshark sees VNI 4242 both ways', async () => {
    const seen = await sniff(async () => {
      await ping(hosts.qa!, hosts.ka!, 4, 3);
      await ping(hosts.ka!, hosts.qa!, 6, 3);
    });
    expect(decoded(seen, 4242, '198.18.100.1'), seen.join('\n')).toBe(true);
    expect(decoded(seen, 4242, '198.18.100.2'), seen.join('\n')).toBe(true);
    const t = await iperf3(hosts.qa!, hosts.ka!, 2);
    expect(t.receivedBytes).toBeGreaterThan(2_000_000);
    // Quiver learned the kernel side's host on the tunnel.
    const fib = l2.showL2fib(1).map((e) => `${e.interface}`);
    expect(fib).toContain('t4');
  });

  it('L2 overlay, IPv6 underlay: ping (IPv4, IPv6); tshark sees VNI 6262 over IPv6 both ways', async () => {
    const seen = await sniff(async () => {
      await ping(hosts.qb!, hosts.kb!, 4, 3);
      await ping(hosts.kb!, hosts.qb!, 6, 3);
    });
    expect(decoded(seen, 6262, '2001:db8:100::1'), seen.join('\n')).toBe(true);
    expect(decoded(seen, 6262, '2001:db8:100::2'), seen.join('\n')).toBe(true);
  });

  it('L3 overlay on port 8472: routed ping via the tunnel, jumbo inner packets (chains) included', async () => {
    const seen = await sniff(async () => {
      await ping(hosts.qc!, hosts.kc!, 4, 3);
      // 8922 bytes of ICMP + 28 = 8950, the tunnel MTU, DF set: no fragmentation anywhere.
      await execFileP('ip', ['netns', 'exec', hosts.qc!.netns, 'ping', '-4', '-c', '2', '-i', '0.2', '-W', '2', '-M', 'do', '-s', '8922', hosts.kc!.ip4]);
    });
    expect(decoded(seen, 7777, '198.18.100.1'), seen.join('\n')).toBe(true);
    expect(decoded(seen, 7777, '198.18.100.2'), seen.join('\n')).toBe(true);
    // One byte more does not fit the tunnel: Quiver answers "fragmentation needed, mtu 8950".
    const r = await execFileP('ip', ['netns', 'exec', hosts.qc!.netns, 'ping', '-4', '-c', '1', '-W', '2', '-M', 'do', '-s', '8923', hosts.kc!.ip4])
      .catch((e: { stdout: string; stderr: string }) => e);
    expect(`${r.stdout}${r.stderr}`).toMatch(/From 198\.18\.212\.1 .*Frag needed and DF set \(mtu = 8950\)/);
  });

  it('counts per tunnel and leaks nothing', async () => {
    const rows = vxlan.tunnels().map((t) => ({ name: t.name, c: engine.statsSegment().interfaceCounters(t.index) }));
    for (const r of rows) {
      expect(r.c.rxPackets, r.name).toBeGreaterThan(0n);
      expect(r.c.txPackets, r.name).toBeGreaterThan(0n);
    }
    await waitFor(() => engine.buffers(true).inFlight === 0, 3000, 'the last frames to drain').catch(() => undefined);
    expectNoLeak();
  });
});
