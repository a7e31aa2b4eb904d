// ARP over pg, byte for byte: replies for our addresses, learning, packets held while a next
// hop resolves and released after, hold timeout, gratuitous ARP, aging, the neighbor limit.
import { beforeAll, describe, expect, it } from 'vitest';
import * as ip from '../../graph/ip/ip.js';
import * as pg from '../../graph/pg/pg.js';
import { expectNoLeak, sleep, useEngine, waitFor } from '../helpers/dataplane.js';
import { clear, deltas, expectFrames, l3Interface, out, send } from './l3.js';
import { arp, decTtl, ethernet, udp4 } from './packets.js';

useEngine();

const BCAST = 'ff:ff:ff:ff:ff:ff';
let mac0 = '', mac1 = '';

beforeAll(() => {
  mac0 = l3Interface('pg0', ['198.18.0.1/24']);
  mac1 = l3Interface('pg1', ['198.18.1.1/24', '198.18.9.1/24']);
});

const neighbor = (address: string) => ip.neighbors('ip4').find((n) => n.address === address);
const arpFrame = (dst: string, src: string, a: Buffer) => ethernet({ dst, src, type: 0x0806 }, a);

describe('arp-input', () => {
  it('answers a request for each interface address in place and learns the requester', async () => {
    clear('pg1');
    const host = '02:00:00:00:11:05';
    const req = arp({ op: 1, senderMac: host, senderIp: '198.18.9.5', targetIp: '198.18.9.1' });
    const padded = Buffer.concat([arpFrame(BCAST, host, req), Buffer.alloc(18, 0)]);
    const { delta } = await deltas([['arp-input', 'replies-sent']], () => send('pg1', [padded]));
    const reply = arpFrame(host, mac1, arp({ op: 2, senderMac: mac1, senderIp: '198.18.9.1', targetMac: host, targetIp: '198.18.9.5' }));
    expectFrames(await out('pg1', 1), [reply]);
    expect(delta).toEqual([1n]);
    await waitFor(() => neighbor('198.18.9.5')?.state === 'reachable');
    expect(neighbor('198.18.9.5')).toMatchObject({ interface: 'pg1', mac: host });
    expectNoLeak();
  });

  it('ignores requests for addresses that are not ours and senders off the subnet', async () => {
    clear('pg1');
    const reqOther = arp({ op: 1, senderMac: '02:00:00:00:11:06', senderIp: '198.18.1.6', targetIp: '198.18.1.77' });
    const offLink = arp({ op: 2, senderMac: '02:00:00:00:11:07', senderIp: '203.0.113.7', targetIp: '198.18.1.1' });
    const claimsOurs = arp({ op: 1, senderMac: '02:00:00:00:11:08', senderIp: '198.18.1.1', targetIp: '198.18.1.1' });
    const { delta } = await deltas(
      [['arp-input', 'not-for-us'], ['arp-input', 'not-on-link'], ['arp-input', 'address-conflict']],
      () => send('pg1', [reqOther, offLink, claimsOurs].map((a) => arpFrame(BCAST, '02:00:00:00:11:06', a))),
    );
    expect(delta).toEqual([1n, 1n, 1n]);
    await sleep(50);
    expect(pg.captured('pg1')).toHaveLength(0);
    expect(neighbor('203.0.113.7')).toBeUndefined();
    expectNoLeak();
  });

  it('holds packets for an unknown host, asks, and releases them when the reply comes', async () => {
    clear('pg0', 'pg1');
    const host = { ip: '198.18.1.20', mac: '02:00:00:00:11:20' };
    const pkts = [1, 2, 3, 4, 5].map((i) => udp4({ src: '198.18.0.2', dst: host.ip, sport: i, dport: 9, id: i }));
    ip.addNeighbor({ interface: 'pg0', address: '198.18.0.2', mac: '02:00:00:00:00:02' });
    const { delta } = await deltas([['ip4-arp', 'held'], ['ip4-arp', 'hold-full'], ['ip4-arp', 'requests-sent']], () =>
      send('pg0', pkts.map((p) => ethernet({ dst: mac0, src: '02:00:00:00:00:02' }, p))),
    );
    expect(delta).toEqual([4n, 1n, 1n]); // four per neighbor held, the fifth dropped, one request
    expectFrames(await out('pg1', 1), [arpFrame(BCAST, mac1, arp({ op: 1, senderMac: mac1, senderIp: '198.18.1.1', targetIp: host.ip }))]);
    clear('pg1');
    const released = await deltas([['ip-neighbor-hold', 'released']], async () => {
      await send('pg1', [arpFrame(mac1, host.mac, arp({ op: 2, senderMac: host.mac, senderIp: host.ip, targetMac: mac1, targetIp: '198.18.1.1' }))]);
      return out('pg1', 4);
    });
    expectFrames(released.result, pkts.slice(0, 4).map((p) => ethernet({ dst: host.mac, src: mac1 }, decTtl(p))));
    expect(released.delta).toEqual([4n]);
    expect(neighbor(host.ip)).toMatchObject({ state: 'reachable', mac: host.mac });
    // Resolved: the next packet goes straight through.
    clear('pg1');
    await send('pg0', [ethernet({ dst: mac0, src: '02:00:00:00:00:02' }, pkts[4]!)]);
    expectFrames(await out('pg1', 1), [ethernet({ dst: host.mac, src: mac1 }, decTtl(pkts[4]!))]);
    expectNoLeak();
  });

  it('drops held packets after the hold time when nobody answers', async () => {
    clear('pg1');
    ip.configure({ holdMs: 150 });
    ip.addRoute({ prefix: '198.19.0.0/16', paths: [{ via: '198.18.1.99', interface: 'pg1' }] });
    try {
      const p = udp4({ src: '198.18.0.2', dst: '198.19.3.3', sport: 1, dport: 2 });
      const { delta } = await deltas([['ip-neighbor-hold', 'hold-timeout']], async () => {
        await send('pg0', [ethernet({ dst: mac0, src: '02:00:00:00:00:02' }, p)]);
        expectFrames(await out('pg1', 1), [arpFrame(BCAST, mac1, arp({ op: 1, senderMac: mac1, senderIp: '198.18.1.1', targetIp: '198.18.1.99' }))]);
        await sleep(500);
      });
      expect(delta).toEqual([1n]);
      expect(neighbor('198.18.1.99')).toMatchObject({ state: 'incomplete', routes: 1 });
    } finally {
      ip.deleteRoute({ prefix: '198.19.0.0/16' });
      ip.configure({ holdMs: 1000 });
    }
    expect(neighbor('198.18.1.99')).toBeUndefined(); // nothing uses it any more
    expectNoLeak();
  });

  it('lets gratuitous ARP update a known neighbor and not create unknown ones', async () => {
    const host = { ip: '198.18.1.30', mac: '02:00:00:00:11:30' };
    ip.addNeighbor({ interface: 'pg1', address: '198.18.1.31', mac: '02:00:00:00:11:31' });
    await send('pg1', [arpFrame(mac1, host.mac, arp({ op: 1, senderMac: host.mac, senderIp: host.ip, targetIp: '198.18.1.1' }))]);
    await waitFor(() => neighbor(host.ip)?.mac === host.mac);
    const moved = '02:00:00:00:11:3f';
    const garp = (m: string, a: string) => arpFrame(BCAST, m, arp({ op: 1, senderMac: m, senderIp: a, targetIp: a }));
    const { delta } = await deltas([['arp-input', 'gratuitous']], () =>
      send('pg1', [garp(moved, host.ip), garp('02:00:00:00:11:40', '198.18.1.40'), garp('02:00:00:00:11:41', '198.18.1.31')]),
    );
    expect(delta).toEqual([3n]);
    await waitFor(() => neighbor(host.ip)?.mac === moved);
    await sleep(50);
    expect(neighbor('198.18.1.40')).toBeUndefined();
    expect(neighbor('198.18.1.31')).toMatchObject({ state: 'static', mac: '02:00:00:00:11:31' }); // static wins
    ip.deleteNeighbor({ interface: 'pg1', address: '198.18.1.31' });
    expectNoLeak();
  });

  it('ages learned neighbors and honours the limit', async () => {
    ip.configure({ neighborAgeSeconds: 0.3 });
    const learn = (i: number) =>
      arpFrame(mac1, `02:00:00:00:12:${i.toString(16).padStart(2, '0')}`, arp({ op: 1, senderMac: `02:00:00:00:12:${i.toString(16).padStart(2, '0')}`, senderIp: `198.18.1.${100 + i}`, targetIp: '198.18.1.1' }));
    await send('pg1', [learn(1)]);
    await waitFor(() => neighbor('198.18.1.101') !== undefined);
    await waitFor(() => neighbor('198.18.1.101') === undefined, 3000, 'the neighbor to age out');
    ip.configure({ neighborAgeSeconds: 300 });
    const dynamic = () => ip.neighbors('ip4').filter((n) => n.state === 'reachable').length;
    const limit = dynamic() + 2;
    const before = ip.configure({ neighborLimit: limit }).neighborLearnDroppedLimit;
    await send('pg1', [learn(2), learn(3), learn(4), learn(5)]);
    await waitFor(() => ip.configure().neighborLearnDroppedLimit - before === 2);
    expect(dynamic()).toBe(limit);
    ip.configure({ neighborLimit: 50000 });
    expectNoLeak();
  });

  it('announces a new address with a gratuitous ARP', async () => {
    clear('pg1');
    ip.addAddress('pg1', '198.18.20.1/24');
    expectFrames(await out('pg1', 1), [arpFrame(BCAST, mac1, arp({ op: 1, senderMac: mac1, senderIp: '198.18.20.1', targetIp: '198.18.20.1' }))]);
    ip.deleteAddress('pg1', '198.18.20.1/24');
    expectNoLeak();
  });
});
