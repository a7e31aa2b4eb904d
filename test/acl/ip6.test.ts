// ACLs on the routed IPv6 path over pg (ip6-unicast and ip6-output arcs), byte for byte:
// prefixes, ports and ICMPv6 types, L4 found behind extension headers, non-first fragments,
// header chains the ACL refuses, rules without a family matching both, and reflexive sessions
// with ICMPv6 errors about them.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as acl from '../../graph/acl/acl.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { type Ext, icmp, ipv4, ipv6, tcp, udp } from './gen.js';
import { FAR, FAR6, HOST6, HOST_A, type Topo, addIpv6, captured, clear, decHlim, decTtl, deltas, expectFrames, routedTopology, send, v6 } from './topo.js';

useEngine();

let t: Topo;
beforeAll(() => {
  t = addIpv6(routedTopology());
});
afterEach(() => {
  acl.applyAcls('pgA', {});
  acl.applyAcls('pgB', {});
  acl.clearSessions();
});

const from = (l4: Parameters<typeof ipv6>[1], o: { src?: string; dst?: string; ext?: Ext[] } = {}) =>
  ipv6({ src: o.src ?? HOST6.ip, dst: o.dst ?? FAR6, ext: o.ext }, l4);

async function judge(rules: acl.AclRule[], cases: { p: Buffer; pass: boolean }[]) {
  acl.setAcl('t6', rules);
  acl.applyAcls('pgA', { input: ['t6'] });
  clear('pgB');
  await send('pgA', cases.map((c) => v6.fromA(t, c.p)));
  const want = cases.filter((c) => c.pass).map((c) => v6.toB(t, decHlim(c.p)));
  expectFrames(await captured('pgB', want.length), want);
}

describe('IPv6 ACL on ip6-unicast', () => {
  it('matches prefixes of any length, ports and ICMPv6 types', async () => {
    await judge(
      [
        { action: 'deny', src: '2001:db8::2/128', dst: '2001:db8:100::/48', protocol: 'udp', dstPort: '10-20' },
        { action: 'deny', dst: '2001:db8:100:0:8000::/65' },
        { action: 'deny', protocol: 'icmpv6', icmpType: 128 },
        { action: 'permit' },
      ],
      [
        { p: from(udp(1, 10)), pass: false },
        { p: from(udp(1, 21)), pass: true },
        { p: from(udp(1, 15), { dst: '2001:db8:101::1' }), pass: true }, // outside the /48
        { p: from(udp(1, 15), { src: '2001:db8::3' }), pass: true },
        { p: from(tcp(1, 15), { dst: '2001:db8:100:0:8000::1' }), pass: false }, // in the /65
        { p: from(tcp(1, 15), { dst: '2001:db8:100:0:7fff:ffff:ffff:ffff' }), pass: true }, // just below it
        { p: from(icmp(128, 0, 1, true)), pass: false },
        { p: from(icmp(129, 0, 1, true)), pass: true },
      ],
    );
    expectNoLeak();
  });

  it('finds the L4 header behind extension headers; non-first fragments have none', async () => {
    const rules: acl.AclRule[] = [{ action: 'deny', protocol: 'tcp', dstPort: 22 }, { action: 'permit', protocol: 'tcp' }];
    await judge(rules, [
      { p: from(tcp(1, 22), { ext: [{ type: 60, units: 1 }, { type: 43, units: 2 }] }), pass: false },
      { p: from(tcp(1, 23), { ext: [{ type: 60, units: 1 }, { type: 43, units: 2 }] }), pass: true },
      { p: from(tcp(1, 22), { ext: [{ type: 44, fragOffset: 0 }] }), pass: false }, // first fragment
      { p: from(tcp(1, 22), { ext: [{ type: 44, fragOffset: 100 }] }), pass: true }, // no ports: only "permit tcp" matches
    ]);
    expectNoLeak();
  });

  it('drops a header chain it cannot follow, under a named error', async () => {
    const long = from(tcp(1, 23), { ext: Array.from({ length: 9 }, () => ({ type: 60 as const })) });
    const cut = from(tcp(1, 23), { ext: [{ type: 60, units: 2 }] });
    cut.writeUInt16BE(cut.length - 40 - 30, 4); // the IPv6 payload length agrees with the cut
    const d = await deltas([['acl-ip6-in', 'malformed']], () =>
      judge([{ action: 'permit' }], [{ p: long, pass: false }, { p: cut.subarray(0, cut.length - 30), pass: false }, { p: from(udp(1, 2)), pass: true }]),
    );
    expect(d).toEqual([2]);
    expectNoLeak();
  });

  it('applies a rule without a family to both, and family rules only to their own', async () => {
    acl.setAcl('both', [{ action: 'deny', protocol: 'udp', dstPort: 53 }, { action: 'deny', ipVersion: 4, protocol: 'udp', dstPort: 54 }, { action: 'permit' }]);
    acl.applyAcls('pgA', { input: ['both'] });
    clear('pgB');
    const p4 = [ipv4({ src: HOST_A.ip, dst: FAR }, udp(1, 53)), ipv4({ src: HOST_A.ip, dst: FAR }, udp(1, 54))];
    const p6 = [from(udp(1, 53)), from(udp(1, 54))];
    await send('pgA', [...p4.map(t.fromA), ...p6.map((p) => v6.fromA(t, p))]);
    expectFrames(await captured('pgB', 1), [v6.toB(t, decHlim(p6[1]!))]);
    expectNoLeak();
  });
});

describe('IPv6 on ip6-output, reflexive', () => {
  it('lets replies and ICMPv6 errors about the session in, nothing else', async () => {
    acl.setAcl('out6', [{ action: 'permit+reflect', src: '2001:db8::/64' }]);
    acl.setAcl('in6', [{ action: 'deny', protocol: 'udp', dstPort: 9 }]);
    acl.applyAcls('pgB', { output: ['out6'], input: ['in6'] });
    clear('pgA', 'pgB');
    const sent = from(udp(5000, 53));
    await send('pgA', [v6.fromA(t, sent)]);
    expectFrames(await captured('pgB', 1), [v6.toB(t, decHlim(sent))]);
    const back = (l4: Parameters<typeof ipv6>[1], src = FAR6) => ipv6({ src, dst: HOST6.ip }, l4);
    const tooBig = back(icmp(2, 0, 0, true, sent.subarray(0, 48)), '2001:db8:1::7'); // quotes the sent packet
    const cases = [
      { p: back(udp(53, 5000)), pass: true },
      { p: back(udp(53, 5001)), pass: false },
      { p: tooBig, pass: true },
      { p: back(icmp(1, 4, 0, true, from(udp(5000, 54)).subarray(0, 48))), pass: false }, // about another flow
    ];
    await send('pgB', cases.map((c) => v6.fromB(t, c.p)));
    expectFrames(await captured('pgA', 2), cases.filter((c) => c.pass).map((c) => v6.toA(t, decHlim(c.p))));
    expect(acl.aclSessions().sessions[0]).toMatchObject({ family: 6, src: HOST6.ip, dst: FAR6, srcPort: 5000, dstPort: 53, interface: 'pgB' });
    const ifc = acl.aclInterfaces().find((x) => x.interface === 'pgB')!;
    expect(ifc.inputCounters).toMatchObject({ sessionHit: 1n, relatedHit: 1n, denyDefault: 2n });
    expectNoLeak();
  });

  it('filters IPv4 and IPv6 leaving the same interface by their own rules', async () => {
    acl.setAcl('o', [{ action: 'deny', ipVersion: 6, protocol: 'tcp' }, { action: 'deny', ipVersion: 4, protocol: 'udp' }, { action: 'permit' }]);
    acl.applyAcls('pgB', { output: ['o'] });
    clear('pgB');
    const a = ipv4({ src: HOST_A.ip, dst: FAR }, tcp(1, 2)), b = ipv4({ src: HOST_A.ip, dst: FAR }, udp(1, 2));
    const c = from(tcp(1, 2)), d = from(udp(1, 2));
    await send('pgA', [t.fromA(a), t.fromA(b), v6.fromA(t, c), v6.fromA(t, d)]);
    expectFrames(await captured('pgB', 2), [t.toB(decTtl(a)), v6.toB(t, decHlim(d))]);
    expectNoLeak();
  });
});
