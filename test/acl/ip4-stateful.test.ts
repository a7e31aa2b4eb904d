// Reflexive (stateful) ACLs on the routed IPv4 path over pg: a permit+reflect rule on pgB's
// output lets host A's flows out and their replies in through pgB's input, which otherwise
// denies everything; ICMP errors about a session's packets are let in too; sessions track TCP
// state, age out in the aging process node, and the table refuses what does not fit.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as acl from '../../graph/acl/acl.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { icmp, ipv4, tcp, udp } from './gen.js';
import { FAR, HOST_A, type Topo, captured, clear, decTtl, deltas, expectFrames, routedTopology, send } from './topo.js';

useEngine();

let t: Topo;
beforeAll(() => {
  t = routedTopology();
  acl.setAcl('out', [{ action: 'permit+reflect', src: '198.18.0.0/24' }]);
  acl.setAcl('in', []); // nothing is let in but what a session allows
  acl.applyAcls('pgB', { output: ['out'], input: ['in'] });
});
afterEach(() => {
  acl.clearSessions();
  acl.setSessionConfig({ maxSessionsPerWorker: 65536, udp: 600, tcpTransient: 120, tcpEstablished: 86400, icmp: 60 });
});

const out = (l4: Parameters<typeof ipv4>[1], dst = FAR) => ipv4({ src: HOST_A.ip, dst }, l4);
const back = (l4: Parameters<typeof ipv4>[1], src = FAR) => ipv4({ src, dst: HOST_A.ip }, l4);

/** Sends host A's packets out and the far side's packets in; checks what reaches each side. */
async function exchange(outward: Buffer[], inward: { p: Buffer; pass: boolean }[]) {
  clear('pgA', 'pgB');
  if (outward.length) {
    await send('pgA', outward.map(t.fromA));
    expectFrames(await captured('pgB', outward.length), outward.map((p) => t.toB(decTtl(p))));
  }
  if (inward.length) await send('pgB', inward.map((c) => t.fromB(c.p)));
  const want = inward.filter((c) => c.pass).map((c) => t.toA(decTtl(c.p)));
  expectFrames(await captured('pgA', want.length), want);
}

describe('reflexive ACL', () => {
  it('lets the reply in and nothing else', async () => {
    const d = await deltas(
      [['acl-ip4-out', 'session-created'], ['acl-ip4-in', 'session-hit'], ['acl-ip4-in', 'denied-by-default']],
      () =>
        exchange(
          [out(udp(1000, 53))],
          [
            { p: back(udp(53, 1000)), pass: true }, // the reply
            { p: back(udp(53, 1001)), pass: false }, // another port of A
            { p: back(udp(54, 1000)), pass: false }, // another port of the far side
            { p: back(udp(53, 1000), '198.19.0.11'), pass: false }, // another host
            { p: back(tcp(53, 1000)), pass: false }, // another protocol
            { p: back(udp(53, 1000)), pass: true }, // the reply again
          ],
        ),
    );
    expect(d).toEqual([1, 2, 4]);
    const s = acl.aclSessions();
    expect(s.count).toBe(1);
    expect(s.sessions[0]).toMatchObject({ interface: 'pgB', family: 4, protocol: 17, src: HOST_A.ip, srcPort: 1000, dst: FAR, dstPort: 53, state: 'udp' });
    expect(s.sessions[0]!.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(s.sessions[0]!.ageSeconds).toBeLessThan(5);
    // Without the session, the same reply is refused.
    acl.clearSessions('pgB');
    await exchange([], [{ p: back(udp(53, 1000)), pass: false }]);
    expectNoLeak();
  });

  it('tracks TCP: established after the handshake both ways, transient after FIN', async () => {
    const syn = out(tcp(40000, 80, 0x02)), synAck = back(tcp(80, 40000, 0x12)), ack = out(tcp(40000, 80, 0x10));
    await exchange([syn], [{ p: synAck, pass: true }]);
    expect(acl.aclSessions().sessions[0]!.state).toBe('transient');
    await exchange([ack], [{ p: back(tcp(80, 40000, 0x18)), pass: true }]);
    expect(acl.aclSessions().sessions[0]).toMatchObject({ state: 'established', tcpFlagsInitiator: 0x12, tcpFlagsResponder: 0x1a });
    await exchange([out(tcp(40000, 80, 0x11))], [{ p: back(tcp(80, 40000, 0x10)), pass: true }]);
    expect(acl.aclSessions().sessions[0]!.state).toBe('transient');
    // A SYN from the far side to another port of A finds no session.
    await exchange([], [{ p: back(tcp(80, 40001, 0x02)), pass: false }]);
    expectNoLeak();
  });

  it('lets echo replies in by identifier', async () => {
    await exchange(
      [out(icmp(8, 0, 0x1234))],
      [
        { p: back(icmp(0, 0, 0x1234)), pass: true },
        { p: back(icmp(0, 0, 0x1235)), pass: false },
      ],
    );
    expect(acl.aclSessions().sessions[0]).toMatchObject({ protocol: 1, state: 'icmp', srcPort: 0x1234 });
    expectNoLeak();
  });

  it('lets ICMP errors about a session\'s packets in, and no others', async () => {
    const sent = out(udp(1000, 53));
    const quote = (p: Buffer) => p.subarray(0, 28); // IP header + the first 8 bytes, as routers quote
    const unreachable = (orig: Buffer, from = '198.19.0.1') => back(icmp(3, 3, 0, false, quote(orig)), from);
    const d = await deltas([['acl-ip4-in', 'related-icmp']], () =>
      exchange(
        [sent],
        [
          { p: unreachable(sent), pass: true }, // from the far host
          { p: unreachable(sent, '198.19.7.7'), pass: true }, // from a router on the way
          { p: unreachable(out(udp(1000, 54))), pass: false }, // about a flow without a session
          { p: back(icmp(11, 0, 0, false, quote(out(udp(1001, 53))))), pass: false },
        ],
      ),
    );
    expect(d).toEqual([2]);
    expectNoLeak();
  });

  it('ages sessions out in the process node, never refreshing an expired one', async () => {
    acl.setSessionConfig({ udp: 0.3 });
    const d = await deltas([['acl-session-aging', 'aged']], async () => {
      await exchange([out(udp(2000, 53))], [{ p: back(udp(53, 2000)), pass: true }]);
      expect(acl.aclSessions().count).toBe(1);
      await new Promise((r) => setTimeout(r, 450));
      // Expired: refused, whether or not the sweep has removed it yet.
      await exchange([], [{ p: back(udp(53, 2000)), pass: false }]);
      await waitFor(() => acl.aclSessions().count === 0, 3000, 'the session to age out');
    });
    expect(d).toEqual([1]);
    // Traffic keeps a session alive past its timeout (gaps well under it: the machine is shared).
    acl.setSessionConfig({ udp: 1 });
    await exchange([out(udp(2001, 53))], []);
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 300));
      await exchange([], [{ p: back(udp(53, 2001)), pass: true }]);
    }
    expect(acl.aclSessions().count).toBe(1);
    expectNoLeak();
  });

  it('refuses sessions beyond the table limit and counts them', async () => {
    acl.setSessionConfig({ maxSessionsPerWorker: 3 });
    clear('pgB');
    const flows = [1, 2, 3, 4, 5].map((i) => out(udp(3000 + i, 53)));
    const d = await deltas([['acl-ip4-out', 'session-limit'], ['acl-ip4-out', 'session-created']], () => send('pgA', flows.map(t.fromA)));
    expect(d).toEqual([2, 3]);
    expectFrames(await captured('pgB', 3), flows.slice(0, 3).map((p) => t.toB(decTtl(p))));
    expect(acl.aclSessions().count).toBe(3);
    const ifc = acl.aclInterfaces().find((x) => x.interface === 'pgB')!;
    expect(ifc.outputCounters.sessionRefused).toBeGreaterThanOrEqual(2n);
    // An existing session still passes both ways when the table is full.
    await exchange([flows[0]!], [{ p: back(udp(53, 3001)), pass: true }, { p: back(udp(53, 3004)), pass: false }]);
    expectNoLeak();
  });

  it('keeps sessions across a table resize', async () => {
    await exchange([out(udp(4000, 53)), out(udp(4001, 53))], []);
    acl.setSessionConfig({ maxSessionsPerWorker: 1024 });
    expect(acl.aclSessions().count).toBe(2);
    await exchange([], [{ p: back(udp(53, 4000)), pass: true }, { p: back(udp(53, 4001)), pass: true }]);
    expectNoLeak();
  });
});
