// L3 overlay over pg: a tunnel in L3 mode with an address, a route via the tunnel. The next hop
// behind the tunnel is resolved by ARP through the tunnel itself (the request leaves
// encapsulated, the reply arrives encapsulated), routed packets leave encapsulated with the
// inner Ethernet header of the tunnel, an inner packet larger than the tunnel MTU gets L3's
// ICMP treatment, and routed traffic from the tunnel reaches the local host.
import { beforeAll, describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import * as ip from '../../graph/ip/ip.js';
import * as pg from '../../graph/pg/pg.js';
import * as vxlan from '../../graph/vxlan/vxlan.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { arp, decTtl, ethernet, icmp4Error, udp4 } from '../ip/packets.js';
import { vxlanFrame } from './packets.js';

useEngine();

const U_MAC = '02:00:00:00:01:01'; // pgU, the underlay
const VTEP_MAC = '02:00:00:00:01:02'; // the remote VTEP on the underlay
const HOST_IF_MAC = '02:00:00:00:07:01'; // pgHost
const HOST_MAC = '02:00:00:00:07:09';
const TUN_MAC = '02:00:00:00:0a:01'; // our tunnel interface
const PEER_MAC = '02:00:00:00:0a:02'; // the remote end of the tunnel (its inner interface)
const VNI = 300;
let streams = 0;

/** Sends and waits until every buffer left the graph (unless one is held for ARP). */
async function send(intf: string, packets: Buffer[], settle = true): Promise<void> {
  const name = `s${streams++}`;
  pg.addStream(intf, { name, packets, count: packets.length, enabled: true });
  await pg.waitStream(name);
  if (settle) await waitFor(() => engine.buffers(true).inFlight === 0, 5000, 'all buffers back in the pool');
  pg.deleteStream(name);
}
const fromRemote = (inner: Buffer) => vxlanFrame({ dstMac: U_MAC, srcMac: VTEP_MAC, src: '198.18.0.2', dst: '198.18.0.1', sport: 51000, vni: VNI }, inner);
const toRemote = (f: Buffer, inner: Buffer) =>
  vxlanFrame({ dstMac: VTEP_MAC, srcMac: U_MAC, src: '198.18.0.1', dst: '198.18.0.2', sport: f.readUInt16BE(34), id: f.readUInt16BE(18), vni: VNI }, inner);
const fromHost = (packet: Buffer) => ethernet({ dst: HOST_IF_MAC, src: HOST_MAC }, packet);

beforeAll(() => {
  pg.createPgInterface({ name: 'pgU', mac: U_MAC });
  pg.createPgInterface({ name: 'pgHost', mac: HOST_IF_MAC });
  for (const n of ['pgU', 'pgHost']) engine.setInterfaceState(n, { adminUp: true });
  ip.addAddress('pgU', '198.18.0.1/24', { announce: false });
  ip.addNeighbor({ interface: 'pgU', address: '198.18.0.2', mac: VTEP_MAC });
  ip.addAddress('pgHost', '198.18.70.1/24', { announce: false });
  ip.addNeighbor({ interface: 'pgHost', address: '198.18.70.9', mac: HOST_MAC });
  vxlan.createTunnel({ name: 'vxr', src: '198.18.0.1', dst: '198.18.0.2', vni: VNI, mac: TUN_MAC });
  engine.setInterfaceState('vxr', { adminUp: true });
  ip.addAddress('vxr', '198.18.50.1/24', { announce: false });
  ip.addRoute({ prefix: '198.18.60.0/24', paths: [{ via: '198.18.50.2', interface: 'vxr' }] });
});

describe('L3 overlay: a route via the tunnel', () => {
  it('resolves the next hop by ARP through the tunnel, then sends the held packet encapsulated', async () => {
    const packet = udp4({ src: '198.18.70.9', dst: '198.18.60.5', sport: 7000, dport: 7001 });
    pg.capture('pgU', 10);
    await send('pgHost', [fromHost(packet)], false); // held until the next hop resolves
    await waitFor(() => pg.captured('pgU').length >= 1, 3000, 'the ARP request');
    const request = pg.captured('pgU');
    expect(request).toHaveLength(1);
    const arpRequest = ethernet({ dst: 'ff:ff:ff:ff:ff:ff', src: TUN_MAC, type: 0x0806 }, arp({ op: 1, senderMac: TUN_MAC, senderIp: '198.18.50.1', targetIp: '198.18.50.2' }));
    // The inner ARP request, possibly padded to the Ethernet minimum.
    const inner = request[0]!.subarray(50);
    expect(inner.subarray(0, arpRequest.length).toString('hex')).toBe(arpRequest.toString('hex'));
    expect(request[0]!.toString('hex')).toBe(toRemote(request[0]!, inner).toString('hex'));

    pg.capture('pgU', 10);
    const reply = ethernet({ dst: TUN_MAC, src: PEER_MAC, type: 0x0806 }, arp({ op: 2, senderMac: PEER_MAC, senderIp: '198.18.50.2', targetMac: TUN_MAC, targetIp: '198.18.50.1' }));
    await send('pgU', [fromRemote(reply)]);
    await waitFor(() => pg.captured('pgU').length >= 1, 3000, 'the held packet to leave');
    const out = pg.captured('pgU');
    const routed = ethernet({ dst: PEER_MAC, src: TUN_MAC }, decTtl(packet));
    expect(out.map((f) => f.toString('hex'))).toEqual([toRemote(out[0]!, routed).toString('hex')]);
    expect(ip.neighbors('ip4').find((n) => n.address === '198.18.50.2')).toMatchObject({ interface: 'vxr', mac: PEER_MAC });
    expectNoLeak();
  });

  it('an inner packet larger than the tunnel MTU (1450) with DF gets ICMP fragmentation needed', async () => {
    const big = udp4({ src: '198.18.70.9', dst: '198.18.60.5', sport: 7000, dport: 7001, payload: Buffer.alloc(1451 - 28, 1), df: true });
    pg.capture('pgU', 10);
    pg.capture('pgHost', 10);
    await send('pgHost', [fromHost(big)]);
    expect(pg.captured('pgU')).toHaveLength(0);
    const back = pg.captured('pgHost');
    expect(back).toHaveLength(1);
    const icmp = back[0]!.subarray(14);
    expect(icmp[9]).toBe(1);
    expect([icmp[20], icmp[21], icmp.readUInt16BE(26)]).toEqual([3, 4, 1450]);
    const expected = ethernet({ dst: HOST_MAC, src: HOST_IF_MAC }, icmp4Error({ src: '198.18.70.1', dst: '198.18.70.9', type: 3, code: 4, mtu: 1450, orig: big }));
    expect(back[0]!.toString('hex')).toBe(expected.toString('hex'));
    expectNoLeak();
  });

  it('routes decapsulated traffic from the tunnel to the local host', async () => {
    const packet = udp4({ src: '198.18.60.5', dst: '198.18.70.9', sport: 7001, dport: 7000 });
    pg.capture('pgHost', 10);
    await send('pgU', [fromRemote(ethernet({ dst: TUN_MAC, src: PEER_MAC }, packet))]);
    expect(pg.captured('pgHost').map((f) => f.toString('hex'))).toEqual([ethernet({ dst: HOST_MAC, src: HOST_IF_MAC }, decTtl(packet)).toString('hex')]);
    const c = engine.statsSegment().interfaceCounters(engine.findInterface('vxr').index);
    expect(c.rxPackets).toBe(2n); // the ARP reply and this packet
    expectNoLeak();
  });

  it('a tunnel bound to a VRF routes what it decapsulates in that table', async () => {
    // Same VTEPs, another VNI; its inner traffic lives in table 20, where 198.18.80.0/24 is
    // routed to the host (table 0 has no route there).
    vxlan.createTunnel({ name: 'vxv', src: '198.18.0.1', dst: '198.18.0.2', vni: VNI + 1, mac: '02:00:00:00:0a:11' });
    engine.setInterfaceState('vxv', { adminUp: true });
    ip.addTable({ id: 20 });
    try {
      ip.setInterfaceTable('vxv', 20);
      ip.addAddress('vxv', '198.18.51.1/24', { announce: false });
      ip.addRoute({ table: 20, prefix: '198.18.80.0/24', paths: [{ via: '198.18.70.9', interface: 'pgHost' }] });
      const packet = udp4({ src: '198.18.61.5', dst: '198.18.80.3', sport: 7001, dport: 7000 });
      pg.capture('pgHost', 10);
      const inner = ethernet({ dst: '02:00:00:00:0a:11', src: PEER_MAC }, packet);
      await send('pgU', [vxlanFrame({ dstMac: U_MAC, srcMac: VTEP_MAC, src: '198.18.0.2', dst: '198.18.0.1', sport: 51001, vni: VNI + 1 }, inner)]);
      expect(pg.captured('pgHost').map((f) => f.toString('hex'))).toEqual([ethernet({ dst: HOST_MAC, src: HOST_IF_MAC }, decTtl(packet)).toString('hex')]);
      expectNoLeak();
    } finally {
      vxlan.deleteTunnel('vxv');
      ip.deleteRoute({ table: 20, prefix: '198.18.80.0/24' });
      ip.deleteTable(20);
    }
  });
});
