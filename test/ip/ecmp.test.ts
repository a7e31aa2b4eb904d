// ECMP: every member carries traffic, a flow stays on one member, and with the symmetric hash
// both directions of a flow take the same member. IPv4 and IPv6.
import { beforeAll, describe, expect, it } from 'vitest';
import * as ip from '../../graph/ip/ip.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { clear, l3Interface, out, send } from './l3.js';
import { ethernet, udp4, udp6 } from './packets.js';

useEngine();

const hops4 = [1, 2, 3, 4].map((i) => ({ ip: `198.18.1.${10 + i}`, mac: `02:00:00:00:ec:0${i}` }));
const hops6 = [1, 2, 3, 4].map((i) => ({ ip: `2001:db8:1::${10 + i}`, mac: `02:00:00:00:ed:0${i}` }));
let macIn = '', macIn9 = '';

beforeAll(() => {
  macIn = l3Interface('pgIn', ['198.18.0.1/24', '2001:db8::1/64']);
  l3Interface('pgOut', ['198.18.1.1/24', '2001:db8:1::1/64']);
  ip.addTable({ id: 9, ecmpHash: 'symmetric' });
  macIn9 = l3Interface('pgIn9', ['198.18.2.1/24', '2001:db8:2::1/64'], 9);
  l3Interface('pgOut9', ['198.18.1.1/24', '2001:db8:1::1/64'], 9); // same subnets as table 0: apart
  for (const [intf, hops] of [['pgOut', hops4], ['pgOut9', hops4], ['pgOut', hops6], ['pgOut9', hops6]] as const)
    for (const h of hops) ip.addNeighbor({ interface: intf, address: h.ip, mac: h.mac });
  for (const table of [0, 9]) {
    const intf = table === 0 ? 'pgOut' : 'pgOut9';
    for (const prefix of ['10.1.0.0/16', '10.2.0.0/16']) ip.addRoute({ table, prefix, paths: hops4.map((h) => ({ via: h.ip, interface: intf })) });
    for (const prefix of ['2001:db8:a1::/48', '2001:db8:a2::/48']) ip.addRoute({ table, prefix, paths: hops6.map((h) => ({ via: h.ip, interface: intf })) });
  }
});

const member = (f: Buffer) => f.subarray(0, 6).toString('hex');

async function spread(intfIn: string, macTo: string, intfOut: string, pkts: Buffer[]): Promise<string[]> {
  clear(intfOut);
  await send(intfIn, pkts.map((p) => ethernet({ dst: macTo, src: '02:00:00:00:00:02', type: p[0]! >> 4 === 6 ? 0x86dd : 0x0800 }, p)));
  return (await out(intfOut, pkts.length)).map(member);
}

describe('ECMP', () => {
  for (const family of ['ip4', 'ip6'] as const) {
    const flow = (i: number, rev = false) => {
      const a = family === 'ip4' ? `10.1.${i >> 8}.${i & 255}` : `2001:db8:a1::${i.toString(16)}`;
      const b = family === 'ip4' ? `10.2.${i >> 8}.${i & 255}` : `2001:db8:a2::${i.toString(16)}`;
      const sport = 1024 + i, dport = 5000 + (i % 7);
      const o = rev ? { src: b, dst: a, sport: dport, dport: sport } : { src: a, dst: b, sport, dport };
      return family === 'ip4' ? udp4(o) : udp6(o);
    };

    it(`${family}: uses every member and keeps each flow on one`, async () => {
      const flows = Array.from({ length: 400 }, (_, i) => flow(i));
      const first = await spread('pgIn', macIn, 'pgOut', flows);
      const counts = new Map<string, number>();
      for (const m of first) counts.set(m, (counts.get(m) ?? 0) + 1);
      expect(counts.size).toBe(4);
      for (const c of counts.values()) expect(c).toBeGreaterThan(50); // 100 expected each
      expect(await spread('pgIn', macIn, 'pgOut', flows)).toEqual(first);
      expectNoLeak();
    });

    it(`${family}: symmetric hashing sends both directions of a flow to the same member`, async () => {
      const n = 200;
      const fwd9 = await spread('pgIn9', macIn9, 'pgOut9', Array.from({ length: n }, (_, i) => flow(i)));
      const rev9 = await spread('pgIn9', macIn9, 'pgOut9', Array.from({ length: n }, (_, i) => flow(i, true)));
      expect(rev9).toEqual(fwd9);
      // The plain 5-tuple hash does not promise that (table 0, same routes).
      const fwd0 = await spread('pgIn', macIn, 'pgOut', Array.from({ length: n }, (_, i) => flow(i)));
      const rev0 = await spread('pgIn', macIn, 'pgOut', Array.from({ length: n }, (_, i) => flow(i, true)));
      expect(rev0.filter((m, i) => m !== fwd0[i]).length).toBeGreaterThan(n / 4);
      expectNoLeak();
    });
  }
});
