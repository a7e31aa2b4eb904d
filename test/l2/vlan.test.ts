// VLAN sub-interfaces and tag rewrite over pg, byte for byte: exact match (dot1q, dot1ad,
// QinQ), untagged traffic on the parent, unmatched tags dropped and counted, each rewrite on
// entry to and exit from a bridge domain, tag push on sub-interface transmit.
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import * as l2 from '../../graph/l2/bridge.js';
import * as vlan from '../../graph/l2/vlan.js';
import { xconnect } from '../../graph/l2/xconnect.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';
import { clearCaptures, errorDeltas, expectFrames, ifCounters, pgUp, send } from './helpers.js';

useEngine();

const Q = 0x8100;
const AD = 0x88a8;
const STATION = '02:00:00:00:aa:01';
const HOST = '02:00:00:00:bb:01';
const payload = ipv4Udp({ src: '198.18.0.1', dst: '198.18.0.2', sport: 7, dport: 9 });
type Tag = [tpid: number, vid: number];
const f = (src: string, dst: string, tags: Tag[] = []) =>
  ethernet({ src, dst, vlans: tags.map(([tpid, vid]) => ({ tpid, vid })) }, payload);

function sub(parent: string, outerVlan: number, innerVlan?: number, type: 'dot1q' | 'dot1ad' = 'dot1q'): string {
  vlan.createSubInterface({ parent, outerVlan, innerVlan, type });
  const name = `${parent}.${outerVlan}${innerVlan ? `.${innerVlan}` : ''}`;
  engine.setInterfaceState(name, { adminUp: true });
  return name;
}

function bridge(id: number, ...members: string[]): void {
  l2.createBridgeDomain({ id });
  for (const m of members) l2.addBridgeMember(id, { interface: m });
}

// A station behind `trunkTags` on the trunk talks to an untagged host behind `access`:
// checks what the access port and the trunk receive, both ways.
async function roundTrip(trunk: string, access: string, trunkTags: Tag[], bridgeTags: Tag[]): Promise<void> {
  clearCaptures(trunk, access);
  await send(trunk, [f(STATION, 'ff:ff:ff:ff:ff:ff', trunkTags)]);
  expectFrames(access, [f(STATION, 'ff:ff:ff:ff:ff:ff', bridgeTags)]);
  await send(access, [f(HOST, STATION, bridgeTags)]);
  expectFrames(trunk, [f(HOST, STATION, trunkTags)]);
}

describe('VLAN sub-interfaces and tag rewrite', () => {
  it('pops a dot1q tag into the bridge and pushes it back on exit; untagged stays on the parent', async () => {
    pgUp('p1', 'x1', 'y1');
    const s = sub('p1', 100);
    vlan.setTagRewrite(s, { op: 'pop-1' });
    bridge(100, s, 'x1');
    bridge(101, 'p1', 'y1');
    await roundTrip('p1', 'x1', [[Q, 100]], []);
    expectFrames('y1', []);
    expect(ifCounters(s)).toMatchObject({ rxPackets: 1n, txPackets: 1n });
    // Untagged frames belong to the parent (here a member of another bridge domain).
    clearCaptures('x1', 'y1');
    const untagged = f(STATION, 'ff:ff:ff:ff:ff:ff');
    await send('p1', [untagged]);
    expectFrames('y1', [untagged]);
    expectFrames('x1', []);
    expect(l2.l2InterfaceConfig(s).tagRewrite).toEqual({ op: 'pop-1', push: [], egressPush: [{ type: 'dot1q', vlan: 100 }] });
    expectNoLeak();
  });

  it('drops and counts tags no sub-interface matches exactly', async () => {
    pgUp('p2', 'x2');
    const s = sub('p2', 100);
    bridge(102, s, 'x2');
    const d = errorDeltas('vlan-input/no-sub-interface', 'vlan-input/sub-interface-down');
    await send('p2', [
      f(STATION, 'ff:ff:ff:ff:ff:ff', [[Q, 999]]),
      f(STATION, 'ff:ff:ff:ff:ff:ff', [[Q, 100], [Q, 5]]), // two tags never match a dot1q sub-interface
      f(STATION, 'ff:ff:ff:ff:ff:ff', [[AD, 100]]), // dot1ad 100 is not dot1q 100
    ]);
    expectFrames('x2', []);
    engine.setInterfaceState(s, { adminUp: false });
    await send('p2', [f(STATION, 'ff:ff:ff:ff:ff:ff', [[Q, 100]])]);
    expect(d()).toEqual({ 'vlan-input/no-sub-interface': 3n, 'vlan-input/sub-interface-down': 1n });
    expect(ifCounters('p2').drops).toBe(4n);
    expectNoLeak();
  });

  it('keeps the tag without a rewrite and pushes it again only for untagged frames', async () => {
    pgUp('p3', 'x3');
    const s = sub('p3', 300);
    bridge(103, s, 'x3');
    // No rewrite: the frame crosses the bridge with its tag, as VPP does.
    await roundTrip('p3', 'x3', [[Q, 300]], [[Q, 300]]);
    // An untagged frame leaving on the sub-interface gets the sub-interface's tag.
    clearCaptures('p3');
    await send('x3', [f(HOST, STATION)]);
    expectFrames('p3', [f(HOST, STATION, [[Q, 300]])]);
    expectNoLeak();
  });

  it('pushes one tag on entry (dot1q and dot1ad) and pops it on exit', async () => {
    pgUp('p4', 'x4', 'p5', 'x5');
    vlan.setTagRewrite('p4', { op: 'push-1', vlans: [500] });
    bridge(104, 'p4', 'x4');
    await roundTrip('p4', 'x4', [], [[Q, 500]]);
    vlan.setTagRewrite('p5', { op: 'push-1', vlans: [501], type: 'dot1ad' });
    bridge(105, 'p5', 'x5');
    await roundTrip('p5', 'x5', [], [[AD, 501]]);
    expectNoLeak();
  });

  it('translates 1:1 and counts a frame the egress translation cannot apply to', async () => {
    pgUp('p6', 'x6');
    const s = sub('p6', 100);
    vlan.setTagRewrite(s, { op: 'translate-1-1', vlans: [200] });
    bridge(106, s, 'x6');
    await roundTrip('p6', 'x6', [[Q, 100]], [[Q, 200]]);
    const d = errorDeltas('l2-output/tag-rewrite-failed');
    clearCaptures('p6');
    await send('x6', [f(HOST, STATION)]); // untagged: nothing to translate back
    expectFrames('p6', []);
    expect(d()).toEqual({ 'l2-output/tag-rewrite-failed': 1n });
    expectNoLeak();
  });

  it('QinQ: pushes two tags, pops two tags, translates 2:1, 1:2 and 2:2', async () => {
    pgUp('p7', 'x7');
    vlan.setTagRewrite('p7', { op: 'push-2', vlans: [10, 20], type: 'dot1ad' });
    bridge(107, 'p7', 'x7');
    await roundTrip('p7', 'x7', [], [[AD, 10], [Q, 20]]);

    const cases: { op: vlan.TagRewriteOp; vlans?: number[]; type?: 'dot1q' | 'dot1ad'; inner?: number; bridgeTags: Tag[] }[] = [
      { op: 'pop-2', inner: 300, bridgeTags: [] },
      { op: 'pop-1', inner: 300, bridgeTags: [[Q, 300]] },
      { op: 'translate-2-1', vlans: [7], inner: 300, bridgeTags: [[Q, 7]] },
      { op: 'translate-2-2', vlans: [8, 9], type: 'dot1ad', inner: 300, bridgeTags: [[AD, 8], [Q, 9]] },
      { op: 'translate-1-2', vlans: [11, 12], type: 'dot1ad', bridgeTags: [[AD, 11], [Q, 12]] },
    ];
    let id = 110;
    for (const c of cases) {
      const trunk = `t${id}`;
      const access = `a${id}`;
      pgUp(trunk, access);
      const s = sub(trunk, 200, c.inner, 'dot1ad');
      vlan.setTagRewrite(s, { op: c.op, vlans: c.vlans, type: c.type });
      bridge(id++, s, access);
      const trunkTags: Tag[] = c.inner ? [[AD, 200], [Q, c.inner]] : [[AD, 200]];
      await roundTrip(trunk, access, trunkTags, c.bridgeTags);
    }
    expectNoLeak();
  });

  it('pushes the sub-interface tags on transmit and leaves on the parent (cross-connect)', async () => {
    pgUp('p8', 'x8', 'y8');
    const s = sub('p8', 100);
    const qinq = sub('p8', 200, 300, 'dot1ad');
    xconnect('x8', s);
    xconnect('y8', qinq);
    const plain = f(HOST, STATION);
    await send('x8', [plain]);
    await send('y8', [plain]);
    expectFrames('p8', [f(HOST, STATION, [[Q, 100]]), f(HOST, STATION, [[AD, 200], [Q, 300]])]);
    expect(ifCounters(s).txPackets).toBe(1n);
    expect(ifCounters('p8').txPackets).toBe(2n);
    // A frame tagged for another VLAN is not pushed into this one.
    const d = errorDeltas('vlan-output/tag-mismatch');
    clearCaptures('p8');
    await send('x8', [f(HOST, STATION, [[Q, 999]])]);
    expectFrames('p8', []);
    expect(d()).toEqual({ 'vlan-output/tag-mismatch': 1n });
    // The other way: a cross-connected sub-interface with pop-1.
    xconnect(s, 'x8');
    vlan.setTagRewrite(s, { op: 'pop-1' });
    clearCaptures('x8');
    engine.traceClear();
    engine.traceAdd('pg-input', 1);
    await send('p8', [f(STATION, HOST, [[Q, 100]])]);
    expectFrames('x8', [f(STATION, HOST)]);
    const p8 = engine.findInterface('p8').index;
    const sub8 = engine.findInterface(s).index;
    expect(engine.traceGet()[0]!.entries.map((e) => `${e.node}: ${e.text}`)).toEqual(
      expect.arrayContaining([`vlan-input: parent ${p8} vlan 100 -> sub-interface ${sub8} -> l2-input`, expect.stringMatching(/^l2-input: .* tag-rewrite$/)]),
    );
    engine.traceClear();
    engine.traceAdd('pg-input', 1);
    await send('y8', [plain]);
    expect(engine.traceGet()[0]!.entries.map((e) => `${e.node}: ${e.text}`)).toContain(
      `vlan-output: sub-interface ${engine.findInterface(qinq).index} -> parent ${p8} tags pushed`,
    );
    engine.traceClear();
    expectNoLeak();
  });

  it('hands frames of an L3 sub-interface to ethernet-input untagged, on the sub-interface', async () => {
    pgUp('p9');
    const s = sub('p9', 100);
    const mac = engine.findInterface('p9').mac;
    expect(engine.findInterface(s).mac).toBe(mac);
    const d = errorDeltas('ethernet-input/unknown-ethertype', 'vlan-input/no-sub-interface');
    await send('p9', [ethernet({ src: STATION, dst: mac, vlans: [{ vid: 100 }], type: 0x88b5 }, Buffer.alloc(46, 1))]);
    expect(d()).toEqual({ 'ethernet-input/unknown-ethertype': 1n, 'vlan-input/no-sub-interface': 0n });
    expect(ifCounters(s)).toMatchObject({ rxPackets: 1n, drops: 1n });
    expectNoLeak();
  });

  it('refuses bad sub-interfaces and rewrites naming the field; a parent takes its sub-interfaces along', () => {
    pgUp('pa', 'xa');
    const s = sub('pa', 100);
    expect(() => vlan.createSubInterface({ parent: 'pa', outerVlan: 100 })).toThrow(/^outerVlan: 'pa.100' already matches/);
    expect(() => vlan.createSubInterface({ parent: 'pa', outerVlan: 4095 })).toThrow(/^outerVlan: /);
    expect(() => vlan.createSubInterface({ parent: 'pa', outerVlan: 5, exactMatch: false as never })).toThrow(/^exactMatch: /);
    expect(() => vlan.createSubInterface({ parent: s, outerVlan: 5 })).toThrow(/^parent: 'pa.100' is itself a sub-interface/);
    expect(() => vlan.createSubInterface({ parent: 'nope', outerVlan: 5 })).toThrow(/^parent: no interface 'nope'/);
    expect(() => vlan.setTagRewrite(s, { op: 'pop-2' })).toThrow(/^op: pop-2 needs a sub-interface with 2 tag\(s\)/);
    expect(() => vlan.setTagRewrite('xa', { op: 'translate-1-1', vlans: [5] })).toThrow(/^op: translate-1-1 needs a sub-interface/);
    expect(() => vlan.setTagRewrite(s, { op: 'push-1' })).toThrow(/^vlans: push-1 takes 1 VLAN id\(s\), got 0/);
    expect(() => vlan.setTagRewrite(s, { op: 'pop-1', type: 'dot1ad' })).toThrow(/^type: pop-1 pushes no tag/);
    expect(() => vlan.setTagRewrite(s, { op: 'push-2', vlans: [1, 5000] })).toThrow(/^vlans\[1\]: /);
    expect(() => vlan.setTagRewrite(s, { op: 'swap' as never })).toThrow(/^op: /);
    vlan.setTagRewrite(s, { op: 'push-1', vlans: [7] });
    vlan.setTagRewrite(s, { op: 'disable' });
    expect(l2.l2InterfaceConfig(s).tagRewrite).toBeNull();
    expect(vlan.subInterfaces().filter((x) => x.parent === 'pa')).toEqual([
      { name: 'pa.100', index: engine.findInterface(s).index, parent: 'pa', type: 'dot1q', outerVlan: 100, innerVlan: null, exactMatch: true },
    ]);
    expect(() => vlan.deleteSubInterface('xa')).toThrow(/^interface: 'xa' is not a sub-interface/);
    engine.deleteInterface('pa');
    expect(engine.interfaces().map((i) => i.name)).not.toContain(s);
    // The VLAN ids are free again on a new parent of the same name.
    pgUp('pa');
    expect(() => sub('pa', 100)).not.toThrow();
  });
});
