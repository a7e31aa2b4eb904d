// Routing in and out of a bridge through its BVI (graph/l2/README.md "BVI contract"): the BVI
// is an ordinary L3 interface with an address; hosts behind bridge members reach a routed
// subnet and back, ARP runs through the bridge.
import { beforeAll, describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import * as l2 from '../../graph/l2/bridge.js';
import * as ip from '../../graph/ip/ip.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { clear, expectFrames, l3Interface, out, send } from './l3.js';
import { arp, decTtl, ethernet, udp4 } from './packets.js';
import * as pg from '../../graph/pg/pg.js';

useEngine();

const H1 = { ip: '198.18.10.5', mac: '02:00:00:00:10:05' }; // behind bridge member m1
const R = { ip: '198.18.11.7', mac: '02:00:00:00:11:07' }; // behind routed interface r0
let bviMac = '', r0Mac = '';

beforeAll(() => {
  for (const m of ['m1', 'm2']) {
    pg.createPgInterface({ name: m });
    engine.setInterfaceState(m, { adminUp: true });
    pg.capture(m, 1000);
  }
  l2.createBvi({ name: 'bvi1' });
  engine.setInterfaceState('bvi1', { adminUp: true });
  l2.createBridgeDomain({ id: 1 });
  l2.addBridgeMember(1, { interface: 'm1' });
  l2.addBridgeMember(1, { interface: 'm2' });
  l2.addBridgeMember(1, { interface: 'bvi1', bvi: true });
  ip.addAddress('bvi1', '198.18.10.1/24', { announce: false });
  bviMac = engine.findInterface('bvi1').mac;
  r0Mac = l3Interface('r0', ['198.18.11.1/24']);
  ip.addNeighbor({ interface: 'r0', address: R.ip, mac: R.mac });
});

describe('routing through a BVI', () => {
  it('routes from a bridged host to a routed subnet', async () => {
    clear('r0');
    const p = udp4({ src: H1.ip, dst: R.ip, sport: 1, dport: 2 });
    await send('m1', [ethernet({ dst: bviMac, src: H1.mac }, p)]);
    expectFrames(await out('r0', 1), [ethernet({ dst: R.mac, src: r0Mac }, decTtl(p))]);
    expectNoLeak();
  });

  it('routes into the bridge: ARP flooded to the members, the answer releases the packet to its member', async () => {
    clear('m1', 'm2');
    const p = udp4({ src: R.ip, dst: H1.ip, sport: 3, dport: 4 });
    await send('r0', [ethernet({ dst: r0Mac, src: R.mac }, p)]);
    const request = ethernet({ dst: 'ff:ff:ff:ff:ff:ff', src: bviMac, type: 0x0806 }, arp({ op: 1, senderMac: bviMac, senderIp: '198.18.10.1', targetIp: H1.ip }));
    expectFrames(await out('m1', 1), [request]);
    expectFrames(await out('m2', 1), [request]);
    clear('m1', 'm2');
    await send('m1', [ethernet({ dst: bviMac, src: H1.mac, type: 0x0806 }, arp({ op: 2, senderMac: H1.mac, senderIp: H1.ip, targetMac: bviMac, targetIp: '198.18.10.1' }))]);
    expectFrames(await out('m1', 1), [ethernet({ dst: H1.mac, src: bviMac }, decTtl(p))]);
    await waitFor(() => ip.neighbors('ip4').some((n) => n.interface === 'bvi1' && n.address === H1.ip && n.state === 'reachable'));
    expect(pg.captured('m2')).toHaveLength(0); // the bridge learned H1 behind m1 from the reply
    expectNoLeak();
  });
});
