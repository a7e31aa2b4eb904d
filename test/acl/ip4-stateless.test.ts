// Stateless ACLs on the routed IPv4 path over pg, byte for byte: every match field, first
// match wins, default deny/permit, input (ip4-unicast) and output (ip4-output) directions,
// several ACLs per direction, rule and interface counters, malformed packets, and a 10k-rule
// ACL replaced again and again while traffic flows.
import { beforeAll, describe, expect, it } from 'vitest';
import * as acl from '../../graph/acl/acl.js';
import * as pg from '../../graph/pg/pg.js';
import * as engine from '../../src/engine.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { icmp, ipv4, rawL4, sctp, tcp, udp } from './gen.js';
import { FAR, HOST_A, type Topo, captured, clear, decTtl, deltas, expectFrames, routedTopology, send } from './topo.js';

useEngine();

let t: Topo;
beforeAll(() => {
  t = routedTopology();
});

const from = (o: { src?: string; dst?: string; options?: number; fragOffset?: number; moreFragments?: boolean }, l4: Parameters<typeof ipv4>[1]) =>
  ipv4({ src: o.src ?? HOST_A.ip, dst: o.dst ?? FAR, options: o.options, fragOffset: o.fragOffset, moreFragments: o.moreFragments }, l4);

/**
 * Applies `rules` as pgA's input ACL, sends every packet from host A and checks that exactly the
 * `pass` ones come out of pgB, in order, each as the router forwards it.
 */
async function judge(rules: acl.AclRule[], cases: { p: Buffer; pass: boolean }[], binding: acl.AclBinding = {}) {
  acl.setAcl('t', rules);
  acl.applyAcls('pgA', { input: ['t'], ...binding });
  clear('pgB');
  await send('pgA', cases.map((c) => t.fromA(c.p)));
  const want = cases.filter((c) => c.pass).map((c) => t.toB(decTtl(c.p)));
  expectFrames(await captured('pgB', want.length), want);
  acl.applyAcls('pgA', {});
}

describe('stateless ACL on ip4-unicast (input)', () => {
  it('matches on source and destination prefixes', async () => {
    await judge(
      [{ action: 'deny', src: '198.18.0.0/31' }, { action: 'deny', dst: '198.19.0.128/25' }, { action: 'permit' }],
      [
        { p: from({ src: '198.18.0.1' }, udp(1, 2)), pass: false }, // in 198.18.0.0/31
        { p: from({ src: '198.18.0.2' }, udp(1, 2)), pass: true }, // just outside
        { p: from({ dst: '198.19.0.128' }, udp(1, 2)), pass: false },
        { p: from({ dst: '198.19.0.255' }, udp(1, 2)), pass: false },
        { p: from({ dst: '198.19.0.127' }, udp(1, 2)), pass: true },
        { p: from({ dst: '198.19.1.128' }, udp(1, 2)), pass: true },
      ],
    );
    expectNoLeak();
  });

  it('matches on protocol: tcp, udp, icmp, sctp and a number', async () => {
    const l4s = [tcp(1, 2), udp(1, 2), icmp(8, 0, 7), sctp(1, 2), rawL4(47, Buffer.alloc(8)), rawL4(50, Buffer.alloc(8))];
    for (const [proto, denied] of [['tcp', 0], ['udp', 1], ['icmp', 2], ['sctp', 3], [47, 4]] as const)
      await judge(
        [{ action: 'deny', protocol: proto }, { action: 'permit' }],
        l4s.map((l4, i) => ({ p: from({}, l4), pass: i !== denied })),
      );
    expectNoLeak();
  });

  it('matches source and destination port ranges, inclusive at both ends', async () => {
    await judge(
      [{ action: 'permit', protocol: 'tcp', dstPort: '80-81' }, { action: 'permit', protocol: 'udp', srcPort: [1000, 1999], dstPort: 53 }],
      [
        { p: from({}, tcp(5000, 79)), pass: false },
        { p: from({}, tcp(5000, 80)), pass: true },
        { p: from({}, tcp(5000, 81)), pass: true },
        { p: from({}, tcp(5000, 82)), pass: false },
        { p: from({}, udp(999, 53)), pass: false },
        { p: from({}, udp(1000, 53)), pass: true },
        { p: from({}, udp(1999, 53)), pass: true },
        { p: from({}, udp(2000, 53)), pass: false },
        { p: from({}, udp(1500, 54)), pass: false },
        { p: from({}, sctp(1500, 53)), pass: false }, // right ports, wrong protocol
      ],
    );
    expectNoLeak();
  });

  it('matches TCP flags by value and mask', async () => {
    // Only connection openings (SYN without ACK) to port 22 are refused.
    await judge(
      [{ action: 'deny', protocol: 'tcp', dstPort: 22, tcpFlags: { value: ['syn'], mask: ['syn', 'ack'] } }, { action: 'permit' }],
      [
        { p: from({}, tcp(4000, 22, 0x02)), pass: false }, // SYN
        { p: from({}, tcp(4000, 22, 0x12)), pass: true }, // SYN+ACK
        { p: from({}, tcp(4000, 22, 0x10)), pass: true }, // ACK
        { p: from({}, tcp(4000, 22, 0x06)), pass: false }, // SYN+RST: SYN set, ACK clear
        { p: from({}, tcp(4000, 23, 0x02)), pass: true },
      ],
    );
    expectNoLeak();
  });

  it('matches ICMP type and code ranges', async () => {
    await judge(
      [{ action: 'deny', protocol: 'icmp', icmpType: 8 }, { action: 'deny', protocol: 'icmp', icmpType: 3, icmpCode: '1-3' }, { action: 'permit' }],
      [
        { p: from({}, icmp(8, 0, 1)), pass: false },
        { p: from({}, icmp(0, 0, 1)), pass: true },
        { p: from({}, icmp(3, 0)), pass: true },
        { p: from({}, icmp(3, 1)), pass: false },
        { p: from({}, icmp(3, 3)), pass: false },
        { p: from({}, icmp(3, 4)), pass: true },
      ],
    );
    expectNoLeak();
  });

  it('matches on IP version: an IPv6-only rule never matches IPv4', async () => {
    await judge(
      [{ action: 'deny', ipVersion: 6 }, { action: 'deny', ipVersion: 4, protocol: 'udp', dstPort: 9 }, { action: 'permit', ipVersion: 4 }],
      [
        { p: from({}, udp(1, 9)), pass: false },
        { p: from({}, udp(1, 10)), pass: true },
      ],
    );
    expectNoLeak();
  });

  it('lets the first matching rule win and counts hits per rule', async () => {
    const rules: acl.AclRule[] = [
      { action: 'permit', protocol: 'udp', dst: '198.19.0.10/32', dstPort: 53 },
      { action: 'deny', protocol: 'udp', dst: '198.19.0.0/24' },
      { action: 'permit', protocol: 'udp' }, // shadowed for 198.19.0.0/24
    ];
    const p53 = from({}, udp(1, 53)), p54 = from({}, udp(1, 54)), other = from({ dst: '198.19.9.9' }, udp(1, 54));
    acl.clearAclCounters();
    await judge(rules, [{ p: p53, pass: true }, { p: p54, pass: false }, { p: other, pass: true }, { p: p53, pass: true }]);
    const [a] = acl.showAcl('t');
    expect(a!.entries.map((e) => [e.packets, e.bytes])).toEqual([
      [2n, BigInt(2 * p53.length)],
      [1n, BigInt(p54.length)],
      [1n, BigInt(other.length)],
    ]);
    expectNoLeak();
  });

  it('decides every packet of full vectors (the node works in chunks of 64)', async () => {
    const cases = Array.from({ length: 600 }, (_, i) => ({ p: from({}, udp(1000 + i, i % 5)), pass: i % 5 === 1 || i % 5 === 3 }));
    await judge([{ action: 'permit', protocol: 'udp', dstPort: 1 }, { action: 'permit', protocol: 'udp', dstPort: 3 }], cases);
    expectNoLeak();
  });

  it('denies by default when no rule matches, or permits when told to', async () => {
    const rules: acl.AclRule[] = [{ action: 'permit', protocol: 'udp', dstPort: 53 }];
    const cases = [{ p: from({}, udp(1, 53)), pass: true }, { p: from({}, udp(1, 80)), pass: false }, { p: from({}, tcp(1, 53)), pass: false }];
    const d = await deltas([['acl-ip4-in', 'denied-by-default'], ['acl-ip4-in', 'denied-by-rule']], () => judge(rules, cases));
    expect(d).toEqual([2, 0]);
    await judge(rules, cases.map((c) => ({ ...c, pass: true })), { inputDefault: 'permit' });
    // An empty ACL applied still denies everything by default.
    await judge([], cases.map((c) => ({ ...c, pass: false })));
    expectNoLeak();
  });

  it('walks several ACLs in order: the first ACL with a match decides', async () => {
    acl.setAcl('first', [{ action: 'deny', protocol: 'udp', dstPort: 1 }]);
    acl.setAcl('second', [{ action: 'permit', protocol: 'udp' }, { action: 'deny' }]);
    acl.applyAcls('pgA', { input: ['first', 'second'] });
    clear('pgB');
    const ps = [from({}, udp(9, 1)), from({}, udp(9, 2)), from({}, tcp(9, 2))];
    await send('pgA', ps.map(t.fromA));
    expectFrames(await captured('pgB', 1), [t.toB(decTtl(ps[1]!))]);
    const ifc = acl.aclInterfaces().find((x) => x.interface === 'pgA')!;
    expect(ifc.inputCounters).toMatchObject({ permitRule: 1n, denyRule: 2n, denyDefault: 0n });
    acl.applyAcls('pgA', {});
    expectNoLeak();
  });

  it('treats non-first fragments as having no L4 header and drops malformed packets by name', async () => {
    const frag = from({ fragOffset: 100 }, udp(1, 53));
    const first = from({ moreFragments: true }, udp(1, 53));
    const cut = from({}, tcp(1, 53)).subarray(0, 20 + 10); // TCP header cut before the flags
    const fixTotal = (p: Buffer) => {
      const q = Buffer.from(p);
      q.writeUInt16BE(q.length, 2);
      q.writeUInt16BE(0, 10);
      let s = 0;
      for (let i = 0; i < 20; i += 2) s += q.readUInt16BE(i);
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      q.writeUInt16BE(~s & 0xffff, 10);
      return q;
    };
    const d = await deltas([['acl-ip4-in', 'malformed']], () =>
      judge(
        [{ action: 'deny', protocol: 'udp', dstPort: 53 }, { action: 'permit', protocol: 'udp' }, { action: 'permit', protocol: 'tcp' }],
        [{ p: frag, pass: true }, { p: first, pass: false }, { p: fixTotal(cut), pass: false }],
      ),
    );
    expect(d).toEqual([1]);
    expectNoLeak();
  });
});

describe('trace', () => {
  it('records which ACL and rule decided each packet', async () => {
    acl.setAcl('traced', [{ action: 'deny', protocol: 'udp', dstPort: 1 }, { action: 'permit', protocol: 'udp' }]);
    acl.applyAcls('pgA', { input: ['traced'] });
    engine.traceClear();
    engine.traceAdd('pg-input', 10);
    await send('pgA', [t.fromA(from({}, udp(5, 1))), t.fromA(from({}, udp(5, 2))), t.fromA(from({}, tcp(5, 2)))]);
    const lines = engine.traceGet().flatMap((r) => r.entries.filter((e) => e.node === 'acl-ip4-in').map((e) => e.text));
    expect(lines).toEqual([
      `rx ${engine.findInterface('pgA').index} ip4: deny by acl 'traced' rule 0`,
      `rx ${engine.findInterface('pgA').index} ip4: permit by acl 'traced' rule 1`,
      `rx ${engine.findInterface('pgA').index} ip4: no rule matched: default deny`,
    ]);
    engine.traceClear();
    acl.applyAcls('pgA', {});
    expectNoLeak();
  });
});

describe('stateless ACL on ip4-output', () => {
  it('filters what leaves an interface, after the rewrite', async () => {
    acl.setAcl('out', [{ action: 'deny', protocol: 'udp', dstPort: 7 }, { action: 'permit' }]);
    acl.applyAcls('pgB', { output: ['out'] });
    clear('pgB');
    const ps = [from({}, udp(1, 7)), from({}, udp(1, 8)), from({ options: 2 }, udp(1, 7)), from({ options: 2 }, udp(1, 8))];
    const d = await deltas([['acl-ip4-out', 'denied-by-rule']], () => send('pgA', ps.map(t.fromA)));
    expectFrames(await captured('pgB', 2), [t.toB(decTtl(ps[1]!)), t.toB(decTtl(ps[3]!))]);
    expect(d).toEqual([2]);
    const ifc = acl.aclInterfaces().find((x) => x.interface === 'pgB')!;
    expect(ifc.outputCounters).toMatchObject({ permitRule: 2n, denyRule: 2n });
    acl.applyAcls('pgB', {});
    expectNoLeak();
  });
});

describe('rule changes never stop traffic', () => {
  it('replaces a 10k-rule ACL repeatedly while packets flow: every permitted packet arrives', async () => {
    // 9,999 rules that never match this flow, then the one that permits it (the worst case).
    const rules = (gen: number): acl.AclRule[] => [
      ...Array.from({ length: 9999 }, (_, i) => ({
        action: 'deny' as const, protocol: 'udp' as const, src: `198.18.${100 + (i >> 8)}.${i & 255}/32`, dst: FAR, dstPort: gen,
      })),
      { action: 'permit', protocol: 'udp', dst: `${FAR}/32`, dstPort: 4000 },
    ];
    acl.setAcl('big', rules(1));
    acl.applyAcls('pgA', { input: ['big'] });
    clear('pgB');
    const before = engine.statsSegment().interfaceCounters(engine.findInterface('pgB').index).txPackets;
    const p = from({}, udp(1234, 4000));
    pg.addStream('pgA', { name: 'flow', packets: [t.fromA(p)], count: 20000, rate: 40000, enabled: true });
    let builds = 0;
    while (pg.streamStatus('flow').enabled || pg.streamStatus('flow').sent < 20000) {
      acl.setAcl('big', rules(2 + (builds % 50)));
      builds++;
      await new Promise((r) => setTimeout(r, 5));
      if (builds > 2000) break;
    }
    await pg.waitStream('flow');
    pg.deleteStream('flow');
    await new Promise((r) => setTimeout(r, 50));
    const sent = engine.statsSegment().interfaceCounters(engine.findInterface('pgB').index).txPackets - before;
    expect(builds).toBeGreaterThan(5);
    expect(sent).toBe(20000n);
    // Counters belong to the ACL built last: a fresh one counts from zero.
    acl.setAcl('big', rules(1));
    await send('pgA', [t.fromA(p)]);
    const [big] = acl.showAcl('big');
    expect(big!.entries[9999]!.packets).toBe(1n);
    acl.applyAcls('pgA', {});
    expectNoLeak();
  });
});
