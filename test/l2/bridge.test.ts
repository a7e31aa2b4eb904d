// Bridge domains over pg, byte for byte: learning, forwarding to the learned port, flooding
// (all but the ingress port and its split-horizon group), aging, MAC move, MAC limit, static
// MACs, the per-domain switches and per-interface learning.
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import * as l2 from '../../graph/l2/bridge.js';
import { expectNoLeak, sleep, useEngine, waitFor } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';
import { clearCaptures, errorCount, errorDeltas, expectFrames, ifCounters, pgUp, send } from './helpers.js';

useEngine();

const BCAST = 'ff:ff:ff:ff:ff:ff';
const udp = (n: number) => ipv4Udp({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1000 + n, dport: 2000 });
const frame = (src: string, dst: string, n = 0) => ethernet({ src, dst }, udp(n));

function bridge(id: number, members: string[], settings: l2.BridgeDomainSettings = {}): void {
  l2.createBridgeDomain({ id, ...settings });
  for (const m of members) l2.addBridgeMember(id, { interface: m });
}

function fib(id: number): Record<string, string> {
  return Object.fromEntries(l2.showL2fib(id).map((e) => [e.mac, `${e.interface}${e.static ? ' static' : ''}`]));
}

describe('bridge domain over pg', () => {
  it('learns sources, floods unknown destinations and forwards to the learned port', async () => {
    pgUp('a1', 'b1', 'c1');
    bridge(10, ['a1', 'b1', 'c1']);
    const d = errorDeltas('l2-fwd/mac-learned', 'l2-flood/no-members');
    const toB = frame('02:00:00:00:0a:01', '02:00:00:00:0b:01', 1);
    await send('a1', [toB]);
    expectFrames('a1', []);
    expectFrames('b1', [toB]);
    expectFrames('c1', [toB]);
    expect(fib(10)).toEqual({ '02:00:00:00:0a:01': 'a1' });

    clearCaptures('a1', 'b1', 'c1');
    const toA = frame('02:00:00:00:0b:01', '02:00:00:00:0a:01', 2);
    await send('b1', [toA, toA]);
    expectFrames('a1', [toA, toA]);
    expectFrames('b1', []);
    expectFrames('c1', []);
    expect(fib(10)).toEqual({ '02:00:00:00:0a:01': 'a1', '02:00:00:00:0b:01': 'b1' });

    clearCaptures('a1', 'b1', 'c1');
    await send('a1', [toB]);
    expectFrames('b1', [toB]);
    expectFrames('c1', []);
    expect(d()).toEqual({ 'l2-fwd/mac-learned': 2n, 'l2-flood/no-members': 0n });
    expect(ifCounters('a1').txPackets).toBe(2n);
    expect(ifCounters('c1').txPackets).toBe(1n);
    const [bd] = l2.showBridgeDomain(10, { detail: true });
    expect(bd).toMatchObject({ id: 10, learned: 2, static: 0, bvi: null });
    expect(bd!.members.map((m) => m.interface)).toEqual(['a1', 'b1', 'c1']);
    expect(l2.formatL2fib(l2.showL2fib(10))).toMatch(/02:00:00:00:0a:01\s+10\s+a1\s+learned/);
    expectNoLeak();
  });

  it('floods to every member but the ingress port and its split-horizon group', async () => {
    pgUp('a2', 'b2', 'c2', 'd2');
    l2.createBridgeDomain({ id: 20 });
    l2.addBridgeMember(20, { interface: 'a2' });
    l2.addBridgeMember(20, { interface: 'b2', splitHorizonGroup: 1 });
    l2.addBridgeMember(20, { interface: 'c2', splitHorizonGroup: 1 });
    l2.addBridgeMember(20, { interface: 'd2', splitHorizonGroup: 2 });
    const fromB = frame('02:00:00:00:0b:02', BCAST, 1);
    const fromA = frame('02:00:00:00:0a:02', 'ff:ff:ff:ff:ff:ff', 2);
    await send('b2', [fromB]);
    expectFrames('a2', [fromB]);
    expectFrames('b2', []);
    expectFrames('c2', []);
    expectFrames('d2', [fromB]);
    clearCaptures('a2', 'b2', 'c2', 'd2');
    await send('a2', [fromA]);
    for (const m of ['b2', 'c2', 'd2']) expectFrames(m, [fromA]);
    expectFrames('a2', []);
    // A known destination inside the rx interface's group is not forwarded either.
    clearCaptures('a2', 'b2', 'c2', 'd2');
    const d = errorDeltas('l2-fwd/split-horizon', 'l2-fwd/reflected');
    await send('c2', [frame('02:00:00:00:0c:02', '02:00:00:00:0b:02', 3), frame('02:00:00:00:0c:02', '02:00:00:00:0c:02', 4)]);
    for (const m of ['a2', 'b2', 'c2', 'd2']) expectFrames(m, []);
    expect(d()).toEqual({ 'l2-fwd/split-horizon': 1n, 'l2-fwd/reflected': 1n });
    // Multicast floods like broadcast.
    const mcast = frame('02:00:00:00:0a:02', '01:00:5e:00:00:01', 5);
    await send('a2', [mcast]);
    for (const m of ['b2', 'c2', 'd2']) expectFrames(m, [mcast]);
    expectNoLeak();
  });

  it('ages learned entries out after mac-age, keeps those still seen', async () => {
    pgUp('a3', 'b3');
    bridge(30, ['a3', 'b3'], { macAge: 1 });
    await send('a3', [frame('02:00:00:00:0a:03', BCAST), frame('02:00:00:00:0a:33', BCAST)]);
    expect(Object.keys(fib(30)).sort()).toEqual(['02:00:00:00:0a:03', '02:00:00:00:0a:33']);
    // One station keeps talking (every 300 ms), the other goes quiet.
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      await send('a3', [frame('02:00:00:00:0a:03', BCAST)]);
      await sleep(300);
    }
    expect(fib(30)).toEqual({ '02:00:00:00:0a:03': 'a3' });
    const aged = l2.showL2fib(30)[0]!;
    expect(aged.age).toBeLessThan(1.5);
    await waitFor(() => l2.showL2fib(30).length === 0, 4000, 'the last station to age out');
    expect(l2.showBridgeDomain(30)[0]!.learned).toBe(0);
    expectNoLeak();
  });

  it('moves a station seen on a new port and counts the move', async () => {
    pgUp('a4', 'b4', 'c4');
    bridge(40, ['a4', 'b4', 'c4']);
    const station = '02:00:00:00:0a:04';
    await send('a4', [frame(station, BCAST)]);
    expect(fib(40)).toEqual({ [station]: 'a4' });
    const d = errorDeltas('l2-fwd/mac-move', 'l2-fwd/mac-learned');
    await send('c4', [frame(station, BCAST, 1)]);
    expect(fib(40)).toEqual({ [station]: 'c4' });
    expect(d()).toEqual({ 'l2-fwd/mac-move': 1n, 'l2-fwd/mac-learned': 0n });
    clearCaptures('a4', 'b4', 'c4');
    const toStation = frame('02:00:00:00:0b:04', station, 2);
    await send('b4', [toStation]);
    expectFrames('c4', [toStation]);
    expectFrames('a4', []);
    expectNoLeak();
  });

  it('stops learning at the mac limit and counts what it did not learn', async () => {
    pgUp('a5', 'b5');
    bridge(50, ['a5', 'b5'], { macLimit: 3 });
    const d = errorDeltas('l2-fwd/mac-limit', 'l2-fwd/mac-learned');
    const srcs = [1, 2, 3, 4, 5].map((k) => `02:00:00:00:5a:0${k}`);
    await send('a5', srcs.map((s) => frame(s, BCAST)));
    expect(Object.keys(fib(50)).sort()).toEqual(srcs.slice(0, 3));
    expect(d()).toEqual({ 'l2-fwd/mac-limit': 2n, 'l2-fwd/mac-learned': 3n });
    // Static entries do not count against the limit; raising the limit lets learning resume.
    l2.addStaticMac(50, { mac: '02:00:00:00:5b:01', interface: 'b5' });
    l2.setBridgeDomain(50, { macLimit: 4 });
    await send('a5', [frame(srcs[3]!, BCAST), frame(srcs[4]!, BCAST)]);
    expect(l2.showBridgeDomain(50)[0]).toMatchObject({ learned: 4, static: 1, macLimit: 4 });
    expect(d()).toEqual({ 'l2-fwd/mac-limit': 3n, 'l2-fwd/mac-learned': 4n });
    expectNoLeak();
  });

  it('forwards to static MACs, never moves them, keeps them over clear l2fib', async () => {
    pgUp('a6', 'b6', 'c6');
    bridge(60, ['a6', 'b6', 'c6']);
    const server = '02:00:00:00:5e:01';
    l2.addStaticMac(60, { mac: server, interface: 'b6' });
    const d = errorDeltas('l2-fwd/static-mac-seen-elsewhere', 'l2-fwd/mac-move');
    const spoof = frame(server, BCAST, 1);
    await send('a6', [spoof]);
    expect(fib(60)).toEqual({ [server]: 'b6 static' });
    expect(d()).toEqual({ 'l2-fwd/static-mac-seen-elsewhere': 1n, 'l2-fwd/mac-move': 0n });
    clearCaptures('a6', 'b6', 'c6');
    const toServer = frame('02:00:00:00:0c:06', server, 2);
    await send('c6', [toServer]);
    expectFrames('b6', [toServer]);
    expectFrames('a6', []);
    expect(l2.clearL2fib(60)).toBe(1); // the learned 0c:06
    expect(fib(60)).toEqual({ [server]: 'b6 static' });
    expect(l2.showL2fib(60)[0]!.age).toBeNull();
    l2.deleteStaticMac(60, server);
    expect(fib(60)).toEqual({});
    expect(() => l2.deleteStaticMac(60, server)).toThrow(/^mac: no static entry for 02:00:00:00:5e:01 in bridge domain 60/);
    // A member that leaves takes its static MACs along.
    l2.addStaticMac(60, { mac: server, interface: 'b6' });
    l2.removeBridgeMember('b6');
    expect(fib(60)).toEqual({});
    expect(engine.findInterface('b6').mode).toBe('l3');
    expectNoLeak();
  });

  it('honours uu-flood, flood, forward and per-interface learning switches', async () => {
    pgUp('a7', 'b7');
    bridge(70, ['a7', 'b7'], { uuFlood: false });
    const d = errorDeltas('l2-fwd/uu-flood-disabled', 'l2-fwd/flood-disabled', 'l2-fwd/forward-disabled');
    const unknown = frame('02:00:00:00:0a:07', '02:00:00:00:0f:07', 1);
    const bcast = frame('02:00:00:00:0a:07', BCAST, 2);
    await send('a7', [unknown, bcast]);
    expectFrames('b7', [bcast]);
    l2.setBridgeDomain(70, { uuFlood: true, flood: false });
    clearCaptures('b7');
    await send('a7', [unknown, bcast]);
    expectFrames('b7', [unknown]);
    l2.setBridgeDomain(70, { flood: true, forward: false });
    clearCaptures('a7');
    await send('b7', [frame('02:00:00:00:0b:07', '02:00:00:00:0a:07', 3)]);
    expectFrames('a7', []);
    expect(d()).toEqual({ 'l2-fwd/uu-flood-disabled': 1n, 'l2-fwd/flood-disabled': 1n, 'l2-fwd/forward-disabled': 1n });
    // Learning off on one member: its sources stay unknown.
    l2.clearL2fib(70);
    l2.addBridgeMember(70, { interface: 'a7', learn: false });
    await send('a7', [bcast]);
    await send('b7', [frame('02:00:00:00:0b:07', BCAST, 4)]);
    expect(fib(70)).toEqual({ '02:00:00:00:0b:07': 'b7' });
    expect(l2.l2InterfaceConfig('a7')).toMatchObject({ bridgeDomain: 70, learn: false });
    // Learning off in the whole domain.
    l2.setBridgeDomain(70, { learn: false });
    l2.clearL2fib();
    await send('b7', [frame('02:00:00:00:0b:07', BCAST, 5)]);
    expect(fib(70)).toEqual({});
    expectNoLeak();
  });

  it('refuses bad arguments naming the field, changing nothing', () => {
    pgUp('a8', 'b8');
    l2.createBridgeDomain({ id: 80 });
    expect(() => l2.createBridgeDomain({ id: 80 })).toThrow(/^id: bridge domain 80 already exists/);
    expect(() => l2.createBridgeDomain({ id: 0 })).toThrow(/^id: /);
    expect(() => l2.createBridgeDomain({ id: 81, macAge: -1 })).toThrow(/^macAge: /);
    expect(() => l2.createBridgeDomain({ id: 81, bogus: 1 } as never)).toThrow(/^bogus: unknown key/);
    expect(() => l2.setBridgeDomain(99, { learn: true })).toThrow(/^id: no bridge domain 99/);
    expect(() => l2.setBridgeDomain(80, { macLimit: 1e9 })).toThrow(/^macLimit: /);
    expect(() => l2.addBridgeMember(80, { interface: 'nope' })).toThrow(/^interface: no interface 'nope'/);
    expect(() => l2.addBridgeMember(80, { interface: 'a8', splitHorizonGroup: 300 })).toThrow(/^splitHorizonGroup: /);
    expect(() => l2.addBridgeMember(80, { interface: 'a8', bvi: true })).toThrow(/^bvi: 'a8' is not a BVI interface/);
    expect(() => l2.removeBridgeMember('a8')).toThrow(/^interface: 'a8' is not in a bridge domain/);
    expect(() => l2.addStaticMac(80, { mac: '02:00:00:00:00:01', interface: 'a8' })).toThrow(
      /^interface: 'a8' is not a member of bridge domain 80/,
    );
    l2.addBridgeMember(80, { interface: 'a8' });
    expect(() => l2.addStaticMac(80, { mac: '01:00:5e:00:00:01', interface: 'a8' })).toThrow(/^mac: .* multicast/);
    expect(() => l2.addStaticMac(80, { mac: 'zz', interface: 'a8' })).toThrow(/^mac: /);
    expect(() => l2.deleteBridgeDomain(80)).toThrow(/^id: bridge domain 80 still has 1 member/);
    expect(() => l2.showL2fib(12345)).toThrow(/^id: no bridge domain 12345/);
    expect(l2.showBridgeDomain(80)[0]).toMatchObject({ id: 80, learn: true, macAge: 300, macLimit: 0 });
    l2.removeBridgeMember('a8');
    l2.deleteBridgeDomain(80);
    expect(l2.showBridgeDomain().map((b) => b.id)).not.toContain(80);
  });

  it('moves a member between domains and flushes what it learned in the old one', async () => {
    pgUp('a9', 'b9', 'c9');
    bridge(90, ['a9', 'b9']);
    l2.createBridgeDomain({ id: 91 });
    await send('a9', [frame('02:00:00:00:0a:09', BCAST)]);
    expect(fib(90)).toEqual({ '02:00:00:00:0a:09': 'a9' });
    l2.addBridgeMember(91, { interface: 'a9' });
    l2.addBridgeMember(91, { interface: 'c9' });
    expect(fib(90)).toEqual({});
    clearCaptures('b9', 'c9');
    const f = frame('02:00:00:00:0a:09', BCAST, 1);
    await send('a9', [f]);
    expectFrames('b9', []);
    expectFrames('c9', [f]);
    expect(fib(91)).toEqual({ '02:00:00:00:0a:09': 'a9' });
    // Deleting a member interface removes it from its domain.
    engine.deleteInterface('c9');
    expect(l2.showBridgeDomain(91, { detail: true })[0]!.members.map((m) => m.interface)).toEqual(['a9']);
    expect(errorCount('l2-flood', 'chained-not-flooded')).toBe(0n);
    expectNoLeak();
  });
});
