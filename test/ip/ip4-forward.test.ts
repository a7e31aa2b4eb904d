// IPv4 forwarding over pg, byte for byte: rewrite and TTL, recursive next hops, ICMP errors
// (time exceeded, unreachable, fragmentation needed, rate limit), input checks, local delivery.
import { beforeAll, describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import * as ip from '../../graph/ip/ip.js';
import * as pg from '../../graph/pg/pg.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import * as acl from '../../graph/acl/acl.js';
import { clear, deltas, errorCount, expectFrameSet, expectFrames, l3Interface, out, send } from './l3.js';
import { checksum, decTtl, echo4, ethernet, icmp4Error, ipv4, tcp4, udp4 } from './packets.js';

useEngine();

const HOST_A = { ip: '198.18.0.2', mac: '02:00:00:00:0a:02' }; // on pgA
const ROUTER_B = { ip: '198.18.1.2', mac: '02:00:00:00:0b:02' }; // on pgB
const ROUTER_C = { ip: '198.18.2.2', mac: '02:00:00:00:0c:02' }; // on pgC
let macA = '', macB = '', macC = '';

beforeAll(() => {
  macA = l3Interface('pgA', ['198.18.0.1/24']);
  macB = l3Interface('pgB', ['198.18.1.1/24']);
  macC = l3Interface('pgC', ['198.18.2.1/24']);
  ip.addNeighbor({ interface: 'pgA', address: HOST_A.ip, mac: HOST_A.mac });
  ip.addNeighbor({ interface: 'pgB', address: ROUTER_B.ip, mac: ROUTER_B.mac });
  ip.addNeighbor({ interface: 'pgC', address: ROUTER_C.ip, mac: ROUTER_C.mac });
  ip.addRoute({ prefix: '198.19.0.0/16', paths: [{ via: ROUTER_B.ip, interface: 'pgB' }] });
});

const fromA = (p: Buffer) => ethernet({ dst: macA, src: HOST_A.mac }, p);
const toB = (p: Buffer) => ethernet({ dst: ROUTER_B.mac, src: macB }, p);
const toA = (p: Buffer) => ethernet({ dst: HOST_A.mac, src: macA }, p);

describe('ip4 forwarding', () => {
  it('rewrites MACs, decrements TTL with a correct checksum and counts per node', async () => {
    clear('pgB');
    const pkts = [
      udp4({ src: HOST_A.ip, dst: '198.19.1.1', sport: 1000, dport: 2000, ttl: 64 }),
      udp4({ src: HOST_A.ip, dst: '198.19.200.7', sport: 1, dport: 2, ttl: 2, id: 77 }),
      tcp4({ src: HOST_A.ip, dst: '198.19.0.9', sport: 40000, dport: 80, ttl: 255 }),
    ];
    await send('pgA', pkts.map(fromA));
    expectFrames(await out('pgB', 3), pkts.map((p) => toB(decTtl(p))));
    // The checksum the dataplane computed incrementally equals a full recomputation.
    for (const f of await out('pgB', 3)) expect(checksum(f.subarray(14, 34))).toBe(0);
    const rt = engine.statsSegment().nodes().filter((n) => n.name === 'ip4-rewrite');
    expect(rt.reduce((a, r) => a + r.vectors, 0n)).toBeGreaterThanOrEqual(3n);
    expectNoLeak();
  });

  it('hands rewritten packets straight to the tx node; an output feature or a down interface goes through interface-output', async () => {
    const arc = (from: string, to: string) => engine.statsSegment().arcs().find((a) => a.from === from && a.to === to)!.packets;
    const pkt = udp4({ src: HOST_A.ip, dst: '198.19.1.1', sport: 1000, dport: 2000, ttl: 64 });
    const count = () => [arc('ip4-rewrite', 'pg-output'), arc('ip4-rewrite', 'interface-output'), arc('ip4-rewrite', 'acl-ip4-out')];
    const sent = async () => {
      const before = count();
      clear('pgB');
      await send('pgA', [fromA(pkt)]);
      return count().map((c, k) => Number(c - before[k]!));
    };
    expect(await sent()).toEqual([1, 0, 0]);
    expectFrames(await out('pgB', 1), [toB(decTtl(pkt))]);
    acl.setAcl('fwd-out', [{ action: 'permit' }]);
    acl.applyAcls('pgB', { output: ['fwd-out'] });
    try {
      expect(await sent()).toEqual([0, 0, 1]);
      expectFrames(await out('pgB', 1), [toB(decTtl(pkt))]);
    } finally {
      acl.applyAcls('pgB', {});
    }
    engine.setInterfaceState('pgB', { adminUp: false });
    try {
      const drops = errorCount('interface-output', 'admin-down');
      expect(await sent()).toEqual([0, 1, 0]);
      expect(errorCount('interface-output', 'admin-down') - drops).toBe(1n);
    } finally {
      engine.setInterfaceState('pgB', { adminUp: true });
    }
    expect(await sent()).toEqual([1, 0, 0]);
    expectNoLeak();
  });

  it('trims Ethernet padding and forwards IPv4 options unchanged', async () => {
    clear('pgB');
    const small = ipv4({ src: HOST_A.ip, dst: '198.19.0.1', proto: 253, payload: Buffer.from([1, 2, 3, 4]) });
    const padded = Buffer.concat([fromA(small), Buffer.alloc(60 - 14 - small.length, 0xee)]);
    const withOptions = ipv4({ src: HOST_A.ip, dst: '198.19.0.2', proto: 17, payload: Buffer.alloc(12, 3), options: Buffer.from([0x94, 4, 0, 0]) });
    const { delta } = await deltas([['ip4-input', 'options']], () => send('pgA', [padded, fromA(withOptions)]));
    expectFrames(await out('pgB', 2), [toB(decTtl(small)), toB(decTtl(withOptions))]);
    expect(delta).toEqual([1n]);
    expectNoLeak();
  });

  it('resolves a recursive next hop and follows a change of the route it recurses through', async () => {
    clear('pgB', 'pgC');
    ip.addRoute({ prefix: '198.19.128.0/17', paths: [{ via: '203.0.113.1' }] }); // recursive
    ip.addRoute({ prefix: '203.0.113.0/24', paths: [{ via: ROUTER_B.ip }] }); // recursive too: via the connected /24
    const p = udp4({ src: HOST_A.ip, dst: '198.19.130.1', sport: 5, dport: 6 });
    await send('pgA', [fromA(p)]);
    expectFrames(await out('pgB', 1), [toB(decTtl(p))]);
    const e = ip.fib({ prefix: '198.19.128.0/17' }).entries[0]!;
    expect(e.resolved).toEqual([expect.objectContaining({ kind: 'rewrite', interface: 'pgB', nextHop: ROUTER_B.ip, mac: ROUTER_B.mac })]);
    // Move the resolving route: the recursive route follows without being touched.
    ip.addRoute({ prefix: '203.0.113.0/24', paths: [{ via: ROUTER_C.ip, interface: 'pgC' }] });
    await send('pgA', [fromA(p)]);
    expectFrames(await out('pgC', 1), [ethernet({ dst: ROUTER_C.mac, src: macC }, decTtl(p))]);
    // Without a covering route the recursive route no longer resolves: dropped, counted.
    expect(ip.deleteRoute({ prefix: '203.0.113.0/24' })).toBe(true);
    const { delta } = await deltas([['ip4-lookup', 'unresolved']], () => send('pgA', [fromA(p)]));
    expect(delta).toEqual([1n]);
    expect(ip.fib({ prefix: '198.19.128.0/17' }).entries[0]!.kind).toBe('forward');
    ip.deleteRoute({ prefix: '198.19.128.0/17' });
    expectNoLeak();
  });

  it('answers TTL 1 with ICMP time exceeded from the rx interface address', async () => {
    clear('pgA', 'pgB');
    const p = udp4({ src: HOST_A.ip, dst: '198.19.5.5', sport: 33434, dport: 33435, ttl: 1, id: 9 });
    await send('pgA', [fromA(p)]);
    expectFrames(await out('pgA', 1), [toA(icmp4Error({ src: '198.18.0.1', dst: HOST_A.ip, type: 11, code: 0, orig: p }))]);
    expect(await out('pgB', 0)).toHaveLength(0);
    expectNoLeak();
  });

  it('answers no route with ICMP destination unreachable and quotes at most 548 bytes', async () => {
    clear('pgA');
    const p = udp4({ src: HOST_A.ip, dst: '100.64.0.1', sport: 7, dport: 9, payload: Buffer.alloc(1000, 0x77) });
    const { delta } = await deltas([['ip4-lookup', 'no-route'], ['ip4-icmp-error', 'unreachable-sent']], () => send('pgA', [fromA(p)]));
    const want = toA(icmp4Error({ src: '198.18.0.1', dst: HOST_A.ip, type: 3, code: 0, orig: p }));
    expectFrames(await out('pgA', 1), [want]);
    expect(want.length).toBe(14 + 576);
    expect(delta).toEqual([1n, 1n]);
    expectNoLeak();
  });

  it('sends fragmentation needed with the MTU for DF packets and drops others over the MTU', async () => {
    clear('pgA', 'pgB');
    engine.setInterfaceState('pgB', { mtu: 1000 });
    try {
      const df = udp4({ src: HOST_A.ip, dst: '198.19.0.3', sport: 1, dport: 2, payload: Buffer.alloc(1200, 1), df: true });
      const nodf = udp4({ src: HOST_A.ip, dst: '198.19.0.3', sport: 1, dport: 2, payload: Buffer.alloc(1200, 1) });
      const fits = udp4({ src: HOST_A.ip, dst: '198.19.0.3', sport: 1, dport: 2, payload: Buffer.alloc(1000 - 28, 1), df: true });
      const { delta } = await deltas([['ip4-rewrite', 'mtu-exceeded'], ['ip4-rewrite', 'frag-needed']], () =>
        send('pgA', [fromA(df), fromA(nodf), fromA(fits)]),
      );
      expectFrames(await out('pgA', 1), [toA(icmp4Error({ src: '198.18.0.1', dst: HOST_A.ip, type: 3, code: 4, mtu: 1000, orig: df }))]);
      expectFrames(await out('pgB', 1), [toB(decTtl(fits))]);
      expect(delta).toEqual([1n, 1n]);
    } finally {
      engine.setInterfaceState('pgB', { mtu: 9000 });
    }
    expectNoLeak();
  });

  it('rate-limits ICMP errors per worker with a token bucket', async () => {
    clear('pgA');
    ip.configure({ icmpRate: 0, icmpBurst: 5 });
    try {
      await new Promise((r) => setTimeout(r, 20));
      const pkts = Array.from({ length: 20 }, (_, i) => fromA(udp4({ src: HOST_A.ip, dst: '198.19.9.9', sport: i, dport: 1, ttl: 1 })));
      const { delta } = await deltas([['ip4-icmp-error', 'rate-limited'], ['ip4-icmp-error', 'time-exceeded-sent']], () => send('pgA', pkts));
      await out('pgA', 5);
      // The bucket refills nothing at rate 0: at most the burst went out.
      expect(delta[1]! + delta[0]!).toBe(20n);
      expect(delta[1]).toBeLessThanOrEqual(5n);
      expect(pg.captured('pgA').length).toBe(Number(delta[1]));
    } finally {
      ip.configure({ icmpRate: 1000, icmpBurst: 100 });
    }
    expectNoLeak();
  });

  it('drops malformed packets under named errors', async () => {
    clear('pgB');
    const good = udp4({ src: HOST_A.ip, dst: '198.19.0.4', sport: 1, dport: 2 });
    const badSum = Buffer.from(good);
    badSum[10] ^= 0xff;
    const shortHeader = good.subarray(0, 19);
    const badVersion = Buffer.from(good);
    badVersion[0] = 0x65;
    const badIhl = Buffer.from(good);
    badIhl[0] = 0x44;
    badIhl.writeUInt16BE(0, 10);
    badIhl.writeUInt16BE(checksum(badIhl.subarray(0, 16)), 10);
    const tooLong = Buffer.from(good);
    tooLong.writeUInt16BE(good.length + 1, 2);
    tooLong.writeUInt16BE(0, 10);
    tooLong.writeUInt16BE(checksum(tooLong.subarray(0, 20)), 10);
    const mcastSrc = udp4({ src: '224.0.0.5', dst: '198.19.0.4', sport: 1, dport: 2 });
    const counters: [string, string][] = [
      ['ip4-input', 'bad-checksum'], ['ip4-input', 'too-short'], ['ip4-input', 'bad-version'],
      ['ip4-input', 'bad-header-length'], ['ip4-input', 'bad-length'], ['ip4-input', 'bad-source'],
    ];
    const drops0 = engine.statsSegment().interfaceCounters(engine.findInterface('pgA').index).drops;
    const { delta } = await deltas(counters, () =>
      send('pgA', [badSum, shortHeader, badVersion, badIhl, tooLong, mcastSrc, good].map(fromA)),
    );
    expect(delta).toEqual([1n, 1n, 1n, 1n, 1n, 1n]);
    expectFrames(await out('pgB', 1), [toB(decTtl(good))]);
    expect(engine.statsSegment().interfaceCounters(engine.findInterface('pgA').index).drops - drops0).toBe(6n);
    expectNoLeak();
  });

  it('header checksum: headers with a correct checksum pass, and every single-bit error in bytes 1..19 is dropped as bad-checksum', async () => {
    clear('pgB');
    // Varied headers (TTL, ID, TOS, DF, addresses), each with its checksum computed here.
    const good = Array.from({ length: 8 }, (_, k) => {
      const p = udp4({ src: HOST_A.ip, dst: `198.19.${k * 31}.${(k * 57) % 256}`, sport: 1000 + k, dport: 2000, ttl: 2 + k * 31, id: k * 7919 });
      p[1] = k * 32; // TOS
      if (k & 1) p.writeUInt16BE(0x4000, 6); // DF
      p.writeUInt16BE(0, 10);
      p.writeUInt16BE(checksum(p.subarray(0, 20)), 10);
      return p;
    });
    // Flipping one bit changes the ones-complement sum, so each one must fail the check (byte 0,
    // version and header length, fails earlier checks instead).
    const flipped: Buffer[] = [];
    for (let bit = 8; bit < 160; bit++) {
      const p = Buffer.from(good[bit % good.length]!);
      p[bit >> 3] ^= 0x80 >> (bit & 7);
      flipped.push(p);
    }
    const { delta } = await deltas([['ip4-input', 'bad-checksum']], () => send('pgA', [...good, ...flipped].map(fromA)));
    expect(delta).toEqual([BigInt(flipped.length)]);
    expectFrameSet(await out('pgB', good.length), good.map((p) => toB(decTtl(p))));
    expectNoLeak();
  });

  it('drops blackhole, multicast and broadcast destinations under named errors', async () => {
    ip.addRoute({ prefix: '198.19.77.0/24', kind: 'drop' });
    const pkts = ['198.19.77.1', '224.1.2.3', '255.255.255.255', '198.18.0.255'].map((d) =>
      fromA(udp4({ src: HOST_A.ip, dst: d, sport: 1, dport: 2 })),
    );
    const { delta } = await deltas(
      [['ip4-lookup', 'blackhole'], ['ip4-lookup', 'multicast'], ['ip4-lookup', 'broadcast']],
      () => send('pgA', pkts),
    );
    expect(delta).toEqual([1n, 1n, 2n]);
    ip.deleteRoute({ prefix: '198.19.77.0/24' });
    expectNoLeak();
  });
});

describe('ip4 local delivery', () => {
  it('answers echo requests to each of its addresses', async () => {
    clear('pgA');
    ip.addAddress('pgA', '198.18.100.1/32', { announce: false });
    const reqs = [
      ipv4({ src: HOST_A.ip, dst: '198.18.0.1', proto: 1, id: 5, ttl: 3, payload: echo4(8, 0x1234, 1, Buffer.from('quiver ping payload')) }),
      ipv4({ src: HOST_A.ip, dst: '198.18.100.1', proto: 1, id: 6, payload: echo4(8, 0x1234, 2, Buffer.alloc(56, 0xab)) }),
      ipv4({ src: HOST_A.ip, dst: '198.18.1.1', proto: 1, id: 7, payload: echo4(8, 0x99, 3, Buffer.alloc(0)) }), // pgB's address, via pgA
    ];
    await send('pgA', reqs.map(fromA));
    const replies = [
      ipv4({ src: '198.18.0.1', dst: HOST_A.ip, proto: 1, id: 5, ttl: 64, payload: echo4(0, 0x1234, 1, Buffer.from('quiver ping payload')) }),
      ipv4({ src: '198.18.100.1', dst: HOST_A.ip, proto: 1, id: 6, ttl: 64, payload: echo4(0, 0x1234, 2, Buffer.alloc(56, 0xab)) }),
      ipv4({ src: '198.18.1.1', dst: HOST_A.ip, proto: 1, id: 7, ttl: 64, payload: echo4(0, 0x99, 3, Buffer.alloc(0)) }),
    ];
    expectFrames(await out('pgA', 3), replies.map(toA));
    ip.deleteAddress('pgA', '198.18.100.1/32');
    expectNoLeak();
  });

  it('answers UDP to a closed port with port unreachable and TCP with protocol unreachable', async () => {
    clear('pgA');
    const u = udp4({ src: HOST_A.ip, dst: '198.18.0.1', sport: 5555, dport: 9 });
    const t = tcp4({ src: HOST_A.ip, dst: '198.18.0.1', sport: 5555, dport: 22 });
    const badUdp = Buffer.from(u);
    badUdp[27] ^= 0x01; // UDP checksum
    const { delta } = await deltas([['ip4-local', 'udp-no-listener'], ['ip4-local', 'udp-checksum']], () =>
      send('pgA', [fromA(u), fromA(t), fromA(badUdp)]),
    );
    expectFrameSet(await out('pgA', 2), [
      toA(icmp4Error({ src: '198.18.0.1', dst: HOST_A.ip, type: 3, code: 3, orig: u })),
      toA(icmp4Error({ src: '198.18.0.1', dst: HOST_A.ip, type: 3, code: 2, orig: t })),
    ]);
    expect(delta).toEqual([1n, 1n]);
    expectNoLeak();
  });

  it('pings from the dataplane itself', async () => {
    clear('pgA');
    const p = ip.ping({ destination: HOST_A.ip, count: 2, intervalMs: 10, size: 8, timeoutMs: 2000 });
    // Play the host: answer each request that leaves pgA.
    for (let seq = 0; seq < 2; seq++) {
      const req = (await out('pgA', seq + 1))[seq]!;
      expect(req.subarray(0, 12).toString('hex')).toBe(Buffer.concat([Buffer.from(HOST_A.mac.replace(/:/g, ''), 'hex'), Buffer.from(macA.replace(/:/g, ''), 'hex')]).toString('hex'));
      const ipReq = req.subarray(14);
      expect(ipReq[9]).toBe(1);
      expect(ipReq[20]).toBe(8);
      const id = ipReq.readUInt16BE(24);
      expect(ipReq.readUInt16BE(26)).toBe(seq);
      await send('pgA', [fromA(ipv4({ src: HOST_A.ip, dst: '198.18.0.1', proto: 1, payload: echo4(0, id, seq, ipReq.subarray(28)) }))]);
    }
    const r = await p;
    expect(r.source).toBe('198.18.0.1');
    expect(r.received).toBe(2);
    expect(r.rttMs.every((x) => x !== null && x >= 0)).toBe(true);
    expectNoLeak();
  });
});

describe('ip4 configuration errors', () => {
  it('names the field and the reason, and applies nothing', () => {
    expect(() => ip.addAddress('pgA', '198.18.0.300/24')).toThrow(/^address: '198.18.0.300\/24' is not an IPv4 or IPv6 prefix/);
    expect(() => ip.addAddress('pgA', '198.18.0.5/33')).toThrow(/^address: .*bad prefix length/);
    expect(() => ip.addAddress('pgB', '198.18.0.9/24')).toThrow(/^address: 198.18.0.9\/24 overlaps 198.18.0.1\/24 on 'pgA'/);
    expect(() => ip.addAddress('pgA', '198.18.5.0/24')).toThrow(/^address: .*network address/);
    expect(() => ip.addAddress('nope', '198.18.5.1/24')).toThrow(/^interface: no interface 'nope'/);
    expect(() => ip.addRoute({ prefix: '10.0.0.1/8', paths: [{ via: '198.18.1.2' }] })).toThrow(/^prefix: 10.0.0.1\/8 has host bits set/);
    expect(() => ip.addRoute({ prefix: '10.0.0.0/8', paths: [{ via: '2001:db8::1' }] })).toThrow(/^paths\[0\].via: '2001:db8::1' is not an IPv4 address/);
    expect(() => ip.addRoute({ prefix: '10.0.0.0/8' })).toThrow(/^paths: a forward route needs at least one next hop/);
    expect(() => ip.addRoute({ prefix: '10.0.0.0/8', paths: [{}] })).toThrow(/^paths\[0\]: give via, interface or both/);
    expect(() => ip.addRoute({ prefix: '10.0.0.0/8', paths: [{ via: '198.18.1.2', interface: 'nope' }] })).toThrow(/^routes\[0\].paths\[0\].interface: no interface 'nope'/);
    expect(() => ip.addRoute({ table: 7, prefix: '10.0.0.0/8', kind: 'drop' })).toThrow(/^table: table 7 does not exist/);
    expect(() => ip.addRoute({ prefix: '10.0.0.0/8', kind: 'drop', bogus: 1 } as never)).toThrow(/^bogus: unknown key/);
    const bulk = ip.packPrefixes('ip4', ['10.0.0.0/8', '10.1.0.0/16']);
    bulk[3] = 40;
    expect(() => ip.addRoutes({ family: 'ip4', prefixes: bulk, routes: [{ kind: 'drop' }] })).toThrow(/^prefixes\[1\]: prefix length 40 exceeds 32/);
    expect(ip.fib({ prefix: '10.0.0.0/8' }).entries).toHaveLength(0); // nothing half applied
    expect(() => ip.addRoutes({ family: 'ip4', prefixes: ip.packPrefixes('ip4', ['10.0.0.0/8']), routes: [{ paths: [{ via: '::1' }] }] })).toThrow(
      /^routes\[0\].paths\[0\].via: '::1' is not an IPv4 address/,
    );
    expect(() => ip.addNeighbor({ interface: 'pgA', address: '198.18.0.9', mac: 'zz' })).toThrow(/^mac: is not a MAC address/);
    expect(() => ip.configure({ holdMs: 0 })).toThrow(/^holdMs: /);
    expect(() => ip.setInterfaceTable('pgA', 0)).not.toThrow();
    ip.addTable({ id: 5 });
    expect(() => ip.setInterfaceTable('pgA', 5)).toThrow(/^table: 'pgA' has addresses; remove them first/);
    ip.deleteTable(5);
  });
});
