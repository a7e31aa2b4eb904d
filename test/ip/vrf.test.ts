// Two tables with the same subnets on different interfaces stay apart: forwarding, neighbors,
// local delivery and ICMP errors each stay in the table of the interface a packet came in on.
import { beforeAll, describe, expect, it } from 'vitest';
import * as ip from '../../graph/ip/ip.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { clear, expectFrameSet, expectFrames, l3Interface, out, send } from './l3.js';
import { decHlim, decTtl, echo4, echo6, ethernet, icmp4Error, ipv4, udp4, udp6 } from './packets.js';

useEngine();

const macs: Record<string, string> = {};
const HOST = '02:00:00:00:00:09';
const NEXT0 = '02:00:00:00:b0:02', NEXT20 = '02:00:00:00:d0:02';

beforeAll(() => {
  ip.addTable({ id: 20, name: 'red' });
  macs.a = l3Interface('vA', ['198.18.0.1/24', '2001:db8::1/64']);
  macs.b = l3Interface('vB', ['198.18.1.1/24', '2001:db8:1::1/64']);
  macs.c = l3Interface('vC', ['198.18.0.1/24', '2001:db8::1/64'], 20);
  macs.d = l3Interface('vD', ['198.18.1.1/24', '2001:db8:1::1/64'], 20);
  ip.addNeighbor({ interface: 'vB', address: '198.18.1.2', mac: NEXT0 });
  ip.addNeighbor({ interface: 'vD', address: '198.18.1.2', mac: NEXT20 });
  ip.addNeighbor({ interface: 'vB', address: '2001:db8:1::2', mac: NEXT0 });
  ip.addNeighbor({ interface: 'vD', address: '2001:db8:1::2', mac: NEXT20 });
  ip.addNeighbor({ interface: 'vA', address: '198.18.0.9', mac: HOST });
  ip.addNeighbor({ interface: 'vC', address: '198.18.0.9', mac: HOST });
  ip.addNeighbor({ interface: 'vA', address: '2001:db8::9', mac: HOST });
  ip.addNeighbor({ interface: 'vC', address: '2001:db8::9', mac: HOST });
  ip.addRoute({ table: 20, prefix: '10.0.0.0/8', paths: [{ via: '198.18.1.2' }] });
  ip.addRoute({ table: 20, prefix: '2001:db8:a::/48', paths: [{ via: '2001:db8:1::2' }] });
});

const v4 = (to: string, p: Buffer) => ethernet({ dst: to, src: HOST }, p);
const v6 = (to: string, p: Buffer) => ethernet({ dst: to, src: HOST, type: 0x86dd }, p);

describe('VRFs with overlapping subnets', () => {
  it('forward connected and routed destinations within their own table', async () => {
    clear('vB', 'vD', 'vA');
    const p = udp4({ src: '198.18.0.9', dst: '198.18.1.2', sport: 1, dport: 2 });
    const routed = udp4({ src: '198.18.0.9', dst: '10.1.2.3', sport: 1, dport: 2 });
    const p6 = udp6({ src: '2001:db8::9', dst: '2001:db8:a::5', sport: 1, dport: 2 });
    await send('vA', [v4(macs.a!, p), v4(macs.a!, routed), v6(macs.a!, p6)]);
    await send('vC', [v4(macs.c!, p), v4(macs.c!, routed), v6(macs.c!, p6)]);
    expectFrames(await out('vB', 1), [ethernet({ dst: NEXT0, src: macs.b! }, decTtl(p))]);
    expectFrameSet(await out('vD', 3), [
      ethernet({ dst: NEXT20, src: macs.d! }, decTtl(p)),
      ethernet({ dst: NEXT20, src: macs.d! }, decTtl(routed)),
      ethernet({ dst: NEXT20, src: macs.d!, type: 0x86dd }, decHlim(p6)),
    ]);
    // Table 0 has no route to 10/8 or 2001:db8:a::/48: unreachable, from vA's own address.
    const errs = await out('vA', 2);
    expect(errs.map((f) => f.readUInt16BE(12))).toEqual(expect.arrayContaining([0x0800, 0x86dd]));
    expect(errs.find((f) => f.readUInt16BE(12) === 0x0800)!.toString('hex')).toBe(
      ethernet({ dst: HOST, src: macs.a! }, icmp4Error({ src: '198.18.0.1', dst: '198.18.0.9', type: 3, code: 0, orig: routed })).toString('hex'),
    );
    expectNoLeak();
  });

  it('answer echo for the same address in each table out of the interface it came in on', async () => {
    clear('vA', 'vC');
    const req = ipv4({ src: '198.18.0.9', dst: '198.18.0.1', proto: 1, payload: echo4(8, 1, 1, Buffer.from('red or default')) });
    const rep = ipv4({ src: '198.18.0.1', dst: '198.18.0.9', proto: 1, ttl: 64, payload: echo4(0, 1, 1, Buffer.from('red or default')) });
    const req6 = echo6({ src: '2001:db8::9', dst: '2001:db8::1', type: 128, id: 2, seq: 2, data: Buffer.alloc(8, 1) });
    const rep6 = echo6({ src: '2001:db8::1', dst: '2001:db8::9', type: 129, id: 2, seq: 2, data: Buffer.alloc(8, 1) });
    await send('vC', [v4(macs.c!, req), v6(macs.c!, req6)]);
    expectFrameSet(await out('vC', 2), [ethernet({ dst: HOST, src: macs.c! }, rep), ethernet({ dst: HOST, src: macs.c!, type: 0x86dd }, rep6)]);
    expect(await out('vA', 0)).toHaveLength(0);
    expectNoLeak();
  });

  it('deletes a table with its routes and creates it again empty', () => {
    ip.addTable({ id: 30 });
    ip.addRoutes({ table: 30, family: 'ip4', prefixes: ip.packPrefixes('ip4', ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.128/25']), routes: [{ paths: [{ via: '198.18.1.2', interface: 'vB' }] }] });
    ip.addRoutes({ table: 30, family: 'ip6', prefixes: ip.packPrefixes('ip6', ['2001:db8:30::/48', '2001:db8:30:1::/64']), routes: [{ kind: 'drop' }] });
    expect(ip.tables().find((t) => t.id === 30)).toMatchObject({ ip4Routes: 4 + 4, ip6Routes: 2 + 4 }); // + the special routes
    const neighbors = ip.neighbors('ip4').length;
    ip.deleteTable(30);
    expect(ip.tables().map((t) => t.id)).toEqual([0, 20]);
    expect(ip.neighbors('ip4').length).toBe(neighbors); // the static neighbor its routes used stays
    ip.addTable({ id: 30 });
    expect(ip.fib({ table: 30, limit: 100 }).entries.map((e) => e.prefix)).toEqual(['0.0.0.0/0', '224.0.0.0/4', '240.0.0.0/4', '255.255.255.255/32']);
    expect(Array.from(ip.fibLookup(30, 'ip4', ip.packAddresses('ip4', ['10.1.2.200'])))).toEqual([0]);
    ip.deleteTable(30);
  });

  it('keeps a table while interfaces are bound to it, and names it in errors', () => {
    expect(() => ip.deleteTable(20)).toThrow(/^id: table 20 still has 2 interface\(s\)/);
    expect(() => ip.addTable({ id: 20 })).toThrow(/^id: table 20 already exists/);
    expect(() => ip.setInterfaceTable('vA', 99)).toThrow(/^table: table 99 does not exist/);
    expect(ip.tables().map((t) => t.id)).toEqual([0, 20]);
  });
});
