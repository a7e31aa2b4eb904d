// Bridging real hosts: network namespaces (a lab, prefix ql2-) attached to Quiver with
// af_packet, their kernels' ARP, ND, ICMP and ICMPv6 crossing the bridge domain.
// * three hosts in one bridge domain ping each other over IPv4 and IPv6 (ARP broadcast, ND
//   multicast, then unicast to learned MACs);
// * a host on VLAN 100 (a dot1q sub-interface with pop-1) reaches an untagged host, its tag
//   popped on the way in and pushed back on the way out (the tagged host is scapy: this
//   kernel has no VLAN devices).
// Needs the af_packet driver and the netns lab (src/interfaces/af_packet.ts, src/lab/*,
// test/helpers/netns.ts from the drivers branch).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { createAfPacketInterface } from '../../src/interfaces/af_packet.js';
import { linkInfo, nsRun } from '../../src/lab/netns.js';
import * as l2 from '../../graph/l2/bridge.js';
import * as vlan from '../../graph/l2/vlan.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { type LabHost, ping, useLab } from '../helpers/netns.js';
import { arcPackets, ifCounters } from './helpers.js';

useEngine();
const lab = useLab({ prefix: 'ql2-', hosts: 5 });

function attach(h: LabHost, name: string): string {
  createAfPacketInterface({ host: h.quiverSide, name });
  engine.setInterfaceState(name, { adminUp: true });
  return name;
}
const hostMac = (h: LabHost, ifname = 'eth0') => linkInfo(ifname, h.netns).address;

describe('bridge domain with real hosts (af_packet)', () => {
  it('three hosts in one bridge domain ping each other over IPv4 and IPv6', async () => {
    const hosts = lab().hosts.slice(0, 3);
    l2.createBridgeDomain({ id: 1 });
    hosts.forEach((h, i) => l2.addBridgeMember(1, { interface: attach(h, `ql2-h${i}`) }));
    const floodedBefore = arcPackets('l2-fwd', 'l2-flood');
    for (const [a, b] of [[0, 1], [0, 2], [1, 2]] as const) {
      await ping(hosts[a]!, hosts[b]!, 4, 2);
      await ping(hosts[b]!, hosts[a]!, 6, 2);
    }
    // ARP requests and neighbour solicitations were flooded; the stations were learned where
    // they are.
    expect(arcPackets('l2-fwd', 'l2-flood') - floodedBefore).toBeGreaterThanOrEqual(3n);
    const fib = Object.fromEntries(l2.showL2fib(1).map((e) => [e.mac, e.interface]));
    hosts.forEach((h, i) => expect(fib[hostMac(h)], `host ${i}`).toBe(`ql2-h${i}`));
    expect(ifCounters('ql2-h0').txPackets).toBeGreaterThan(0n);
    expectNoLeak();
  });

  it('a host on a dot1q sub-interface reaches an untagged host through tag pop and push', async () => {
    const [tagged, untagged] = lab().hosts.slice(3, 5) as [LabHost, LabHost];
    // The test kernel has no 8021q: the tagged host is a scapy script on eth0 (no address)
    // answering nothing itself, resolving and pinging the untagged host with VLAN 100 tags.
    nsRun(tagged.netns, 'ip', ['addr', 'flush', 'dev', 'eth0']);
    nsRun(tagged.netns, 'ethtool', ['-K', 'eth0', 'rxvlan', 'off', 'txvlan', 'off']);
    const trunk = attach(tagged, 'ql2-trunk');
    vlan.createSubInterface({ parent: trunk, outerVlan: 100 });
    engine.setInterfaceState('ql2-trunk.100', { adminUp: true });
    vlan.setTagRewrite('ql2-trunk.100', { op: 'pop-1' });
    l2.createBridgeDomain({ id: 2 });
    l2.addBridgeMember(2, { interface: 'ql2-trunk.100' });
    l2.addBridgeMember(2, { interface: attach(untagged, 'ql2-access') });
    const script = join(dirname(fileURLToPath(import.meta.url)), 'tagged_host.py');
    const out = nsRun(tagged.netns, '/usr/bin/python3', [script, 'eth0', '100', tagged.ip4, untagged.ip4, tagged.ip6, untagged.ip6]);
    const r = JSON.parse(out.trim().split('\n').pop()!) as { ok: boolean; mac: string; peerMac: string };
    expect(r).toMatchObject({ ok: true, peerMac: hostMac(untagged) });
    // The untagged host resolved the tagged one: it saw its frames without the tag.
    expect(nsRun(untagged.netns, 'ip', ['neigh', 'show', tagged.ip4])).toContain(r.mac);
    const fib = Object.fromEntries(l2.showL2fib(2).map((e) => [e.mac, e.interface]));
    expect(fib[r.mac]).toBe('ql2-trunk.100');
    expect(fib[hostMac(untagged)]).toBe('ql2-access');
    const sub = ifCounters('ql2-trunk.100');
    expect(sub.rxPackets).toBeGreaterThanOrEqual(4n);
    expect(sub.txPackets).toBeGreaterThanOrEqual(4n);
    expect(ifCounters('ql2-trunk').rxPackets).toBeGreaterThanOrEqual(4n);
    expectNoLeak();
  });
});
