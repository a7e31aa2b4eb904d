// IPv6 forwarding and local delivery over pg, byte for byte: rewrite and hop limit, recursive
// next hops, ICMPv6 errors (time exceeded, unreachable, packet too big, parameter problem),
// input checks, echo for global and link-local addresses and the all-nodes group.
import { beforeAll, describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import * as ip from '../../graph/ip/ip.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { clear, deltas, expectFrameSet, expectFrames, l3Interface, out, send } from './l3.js';
import { decHlim, echo6, ethernet, icmp6Error, ipv6, linkLocal, udp6 } from './packets.js';

useEngine();

const HOST = { ip: '2001:db8::2', mac: '02:00:00:00:6a:02' }; // on pgA
const ROUTER = { ip: '2001:db8:1::2', mac: '02:00:00:00:6b:02' }; // on pgB
let macA = '', macB = '';

beforeAll(() => {
  macA = l3Interface('pgA', ['2001:db8::1/64']);
  macB = l3Interface('pgB', ['2001:db8:1::1/64']);
  ip.addNeighbor({ interface: 'pgA', address: HOST.ip, mac: HOST.mac });
  ip.addNeighbor({ interface: 'pgB', address: ROUTER.ip, mac: ROUTER.mac });
  ip.addRoute({ prefix: '2001:db8:100::/40', paths: [{ via: ROUTER.ip, interface: 'pgB' }] });
});

const fromA = (p: Buffer, dst = macA) => ethernet({ dst, src: HOST.mac, type: 0x86dd }, p);
const toA = (p: Buffer) => ethernet({ dst: HOST.mac, src: macA, type: 0x86dd }, p);
const toB = (p: Buffer) => ethernet({ dst: ROUTER.mac, src: macB, type: 0x86dd }, p);

describe('ip6 forwarding', () => {
  it('rewrites MACs and decrements the hop limit', async () => {
    clear('pgB');
    const pkts = [
      udp6({ src: HOST.ip, dst: '2001:db8:100::1', sport: 1, dport: 2 }),
      udp6({ src: HOST.ip, dst: '2001:db8:1ff:ffff::9', sport: 3, dport: 4, hlim: 2, payload: Buffer.alloc(300, 9) }),
      ipv6({ src: HOST.ip, dst: '2001:db8:100::77', nh: 59, payload: Buffer.alloc(0), hlim: 255 }), // no next header
    ];
    const direct = () => engine.statsSegment().arcs().find((a) => a.from === 'ip6-rewrite' && a.to === 'pg-output')!.packets;
    const before = direct();
    await send('pgA', pkts.map((p) => fromA(p)));
    expectFrames(await out('pgB', 3), pkts.map((p) => toB(decHlim(p))));
    // No ip6-output feature on pgB: ip6-rewrite hands them to pg-output itself.
    expect(direct() - before).toBe(3n);
    expectNoLeak();
  });

  it('follows a recursive next hop and trims Ethernet padding', async () => {
    clear('pgB');
    ip.addRoute({ prefix: '2001:db8:200::/48', paths: [{ via: '2001:db8:100::99' }] });
    const small = ipv6({ src: HOST.ip, dst: '2001:db8:200::1', nh: 59, payload: Buffer.alloc(0) });
    const padded = Buffer.concat([fromA(small), Buffer.alloc(6, 0xee)]);
    await send('pgA', [padded]);
    expectFrames(await out('pgB', 1), [toB(decHlim(small))]);
    expect(ip.fib({ prefix: '2001:db8:200::/48' }).entries[0]!.resolved).toEqual([
      expect.objectContaining({ kind: 'rewrite', nextHop: ROUTER.ip, interface: 'pgB' }),
    ]);
    ip.deleteRoute({ prefix: '2001:db8:200::/48' });
    expectNoLeak();
  });

  it('answers hop limit 1 with time exceeded and no route with unreachable', async () => {
    clear('pgA');
    const expiring = udp6({ src: HOST.ip, dst: '2001:db8:100::5', sport: 33434, dport: 33435, hlim: 1 });
    const lost = udp6({ src: HOST.ip, dst: '2001:db8:ffff::1', sport: 1, dport: 2, payload: Buffer.alloc(1400, 1) });
    await send('pgA', [fromA(expiring), fromA(lost)]);
    const want = [
      toA(icmp6Error({ src: '2001:db8::1', dst: HOST.ip, type: 3, code: 0, orig: expiring })),
      toA(icmp6Error({ src: '2001:db8::1', dst: HOST.ip, type: 1, code: 0, orig: lost })),
    ];
    expectFrameSet(await out('pgA', 2), want);
    expect(want[1]!.length).toBe(14 + 1280);
    expectNoLeak();
  });

  it('sends packet too big with the MTU', async () => {
    clear('pgA', 'pgB');
    engine.setInterfaceState('pgB', { mtu: 1280 });
    try {
      const big = udp6({ src: HOST.ip, dst: '2001:db8:100::3', sport: 1, dport: 2, payload: Buffer.alloc(1300, 2) });
      const fits = udp6({ src: HOST.ip, dst: '2001:db8:100::3', sport: 1, dport: 2, payload: Buffer.alloc(1280 - 48, 2) });
      await send('pgA', [fromA(big), fromA(fits)]);
      expectFrames(await out('pgA', 1), [toA(icmp6Error({ src: '2001:db8::1', dst: HOST.ip, type: 2, code: 0, data: 1280, orig: big }))]);
      expectFrames(await out('pgB', 1), [toB(decHlim(fits))]);
    } finally {
      engine.setInterfaceState('pgB', { mtu: 9000 });
    }
    expectNoLeak();
  });

  it('drops malformed packets under named errors', async () => {
    clear('pgB');
    const good = udp6({ src: HOST.ip, dst: '2001:db8:100::4', sport: 1, dport: 2 });
    const short = good.subarray(0, 39);
    const badVersion = Buffer.from(good);
    badVersion[0] = 0x40;
    const tooLong = Buffer.from(good);
    tooLong.writeUInt16BE(good.length - 40 + 1, 4);
    const mcastSrc = udp6({ src: 'ff02::1', dst: '2001:db8:100::4', sport: 1, dport: 2 });
    const { delta } = await deltas(
      [['ip6-input', 'too-short'], ['ip6-input', 'bad-version'], ['ip6-input', 'bad-length'], ['ip6-input', 'bad-source']],
      () => send('pgA', [short, badVersion, tooLong, mcastSrc, good].map((p) => fromA(p))),
    );
    expect(delta).toEqual([1n, 1n, 1n, 1n]);
    expectFrames(await out('pgB', 1), [toB(decHlim(good))]);
    expectNoLeak();
  });
});

describe('ip6 local delivery', () => {
  it('answers echo requests to its global address, its link-local and all-nodes', async () => {
    clear('pgA');
    const ll = linkLocal(macA);
    const hostLl = linkLocal(HOST.mac);
    ip.addNeighbor({ interface: 'pgA', address: hostLl, mac: HOST.mac });
    const data = Buffer.from('quiver ipv6 echo');
    const reqs = [
      fromA(echo6({ src: HOST.ip, dst: '2001:db8::1', type: 128, id: 7, seq: 1, data })),
      fromA(echo6({ src: hostLl, dst: ll, type: 128, id: 7, seq: 2, data })),
      fromA(echo6({ src: HOST.ip, dst: 'ff02::1', type: 128, id: 7, seq: 3, data }), '33:33:00:00:00:01'),
      fromA(echo6({ src: HOST.ip, dst: '2001:db8:1::1', type: 128, id: 7, seq: 4, data })), // pgB's address
    ];
    await send('pgA', reqs);
    expectFrameSet(await out('pgA', 4), [
      toA(echo6({ src: '2001:db8::1', dst: HOST.ip, type: 129, id: 7, seq: 1, data })),
      toA(echo6({ src: ll, dst: hostLl, type: 129, id: 7, seq: 2, data })),
      toA(echo6({ src: '2001:db8::1', dst: HOST.ip, type: 129, id: 7, seq: 3, data })),
      toA(echo6({ src: '2001:db8:1::1', dst: HOST.ip, type: 129, id: 7, seq: 4, data })),
    ]);
    expect(ip.interfaces().find((i) => i.interface === 'pgA')!.linkLocal).toBe(ll);
    expectNoLeak();
  });

  it('answers closed UDP ports and unknown next headers, and drops what it must', async () => {
    clear('pgA');
    const u = udp6({ src: HOST.ip, dst: '2001:db8::1', sport: 999, dport: 7 });
    const tcp = ipv6({ src: HOST.ip, dst: '2001:db8::1', nh: 6, payload: Buffer.alloc(20) });
    const other = echo6({ src: HOST.ip, dst: linkLocal('02:00:00:00:99:99'), type: 128, id: 1, seq: 1, data: Buffer.alloc(4) });
    const notJoined = echo6({ src: HOST.ip, dst: 'ff02::1:ff00:99', type: 128, id: 1, seq: 1, data: Buffer.alloc(4) });
    const badSum = echo6({ src: HOST.ip, dst: '2001:db8::1', type: 128, id: 1, seq: 1, data: Buffer.alloc(4) });
    badSum[43] ^= 1;
    const { delta } = await deltas(
      [['ip6-local', 'not-ours'], ['ip6-local', 'not-joined'], ['ip6-local', 'bad-checksum'], ['ip6-local', 'udp-no-listener']],
      () => send('pgA', [u, tcp, other, notJoined, badSum].map((p) => fromA(p))),
    );
    expectFrameSet(await out('pgA', 2), [
      toA(icmp6Error({ src: '2001:db8::1', dst: HOST.ip, type: 1, code: 4, orig: u })),
      toA(icmp6Error({ src: '2001:db8::1', dst: HOST.ip, type: 4, code: 1, data: 6, orig: tcp })),
    ]);
    expect(delta).toEqual([1n, 1n, 1n, 1n]);
    expectNoLeak();
  });

  it('pings from the dataplane itself over IPv6', async () => {
    clear('pgA');
    const p = ip.ping({ destination: HOST.ip, count: 1, size: 16, timeoutMs: 2000 });
    const req = (await out('pgA', 1))[0]!.subarray(14);
    expect(req[6]).toBe(58);
    expect(req[40]).toBe(128);
    const id = req.readUInt16BE(44);
    await send('pgA', [fromA(echo6({ src: HOST.ip, dst: '2001:db8::1', type: 129, id, seq: 0, data: req.subarray(48) }))]);
    const r = await p;
    expect(r).toMatchObject({ source: '2001:db8::1', sent: 1, received: 1 });
    expectNoLeak();
  });
});
