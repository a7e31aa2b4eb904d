// The BVI contract over pg (graph/l2/README.md "BVI"):
// * bridge -> L3: frames to the BVI's MAC, and the BVI's copy of broadcast/multicast, reach
//   ethernet-input with rx_if = the BVI in L3 mode;
// * L3 -> bridge: a frame reaching interface-output with tx_if = the BVI enters the bridge
//   domain as received on the BVI. pg cannot originate on a BVI, so the tests get there the
//   way an L3 node does: through interface-output, here from a cross-connect to the BVI.
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import * as l2 from '../../graph/l2/bridge.js';
import { xconnect } from '../../graph/l2/xconnect.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';
import { arcPackets, clearCaptures, errorDeltas, expectFrames, ifCounters, pgUp, send } from './helpers.js';

useEngine();

const STATION = '02:00:00:00:aa:01';
const ip = ipv4Udp({ src: '198.18.0.1', dst: '198.18.0.254', sport: 5, dport: 6 });
const arpRequest = Buffer.concat([Buffer.from('0001080006040001', 'hex'), Buffer.alloc(20, 0x11)]);

// Whether an L3 feature handles this next of ethernet-input in this build.
function resolved(next: string): boolean {
  const n = engine.statsSegment().directory().nodes.find((x) => x.name === 'ethernet-input')!;
  return n.next.find((x) => x.name === next)!.resolved;
}

function setup(prefix: string, id: number): { bvi: string; mac: string } {
  pgUp(`${prefix}a`, `${prefix}b`);
  const bvi = `${prefix}bvi`;
  l2.createBvi({ name: bvi });
  engine.setInterfaceState(bvi, { adminUp: true });
  l2.createBridgeDomain({ id });
  l2.addBridgeMember(id, { interface: `${prefix}a` });
  l2.addBridgeMember(id, { interface: `${prefix}b` });
  l2.addBridgeMember(id, { interface: bvi, bvi: true });
  return { bvi, mac: engine.findInterface(bvi).mac };
}

describe('BVI', () => {
  it('hands frames for its MAC and flood copies to ethernet-input on the BVI, in L3 mode', async () => {
    const { bvi, mac } = setup('r', 1);
    expect(engine.findInterface(bvi)).toMatchObject({ driver: 'bvi', mode: 'l3' });
    expect(l2.showL2fib(1)).toEqual([{ bridgeDomain: 1, mac, interface: bvi, index: engine.findInterface(bvi).index, static: true, bvi: true, age: null }]);
    expect(l2.showBridgeDomain(1)[0]).toMatchObject({ bvi, static: 1 });

    const ip4Arc = () => (resolved('ip4-input') ? arcPackets('ethernet-input', 'ip4-input') : 0n);
    const arpArc = () => (resolved('arp-input') ? arcPackets('ethernet-input', 'arp-input') : 0n);
    const before = { toEth: arcPackets('bvi-input', 'ethernet-input'), ip4: ip4Arc(), arp: arpArc() };
    const d = errorDeltas('ethernet-input/no-l3', 'ethernet-input/unknown-ethertype');
    await send('ra', [ethernet({ src: STATION, dst: mac }, ip)]);
    expectFrames('rb', []);
    expect(ifCounters(bvi).rxPackets).toBe(1n);
    expect(arcPackets('bvi-input', 'ethernet-input') - before.toEth).toBe(1n);
    // Without an IPv4 feature compiled in, ethernet-input counts it under no-l3.
    if (resolved('ip4-input')) expect(ip4Arc() - before.ip4).toBe(1n);
    else expect(d()['ethernet-input/no-l3']).toBe(1n);

    // An ethertype no L3 node takes: dropped by ethernet-input, counted on the BVI.
    const dropsBefore = ifCounters(bvi).drops;
    await send('ra', [ethernet({ src: STATION, dst: mac, type: 0x88b5 }, Buffer.alloc(46, 2))]);
    expect(d()['ethernet-input/unknown-ethertype']).toBe(1n);
    expect(ifCounters(bvi).drops - dropsBefore).toBe(1n);

    // Broadcast (ARP): a copy to every member, one of them up to L3 on the BVI.
    const arp = ethernet({ src: STATION, dst: 'ff:ff:ff:ff:ff:ff', type: 0x0806 }, arpRequest);
    await send('ra', [arp]);
    expectFrames('rb', [arp]);
    expect(ifCounters(bvi).rxPackets).toBe(3n);
    if (resolved('arp-input')) expect(arpArc() - before.arp).toBe(1n);
    else expect(d()['ethernet-input/no-l3']).toBe(2n);
    expectNoLeak();
  });

  it('bridges what L3 sends on the BVI, as received on the BVI', async () => {
    const { bvi, mac } = setup('t', 2);
    pgUp('tl3');
    xconnect('tl3', bvi); // tx_if = BVI through interface-output, as a routed packet has
    await send('tb', [ethernet({ src: STATION, dst: 'ff:ff:ff:ff:ff:ff' }, ip)]);
    clearCaptures('ta', 'tb');
    const rxBefore = ifCounters(bvi).rxPackets;
    const routed = ethernet({ src: mac, dst: STATION }, ip);
    await send('tl3', [routed]);
    expectFrames('tb', [routed]);
    expectFrames('ta', []);
    expect(ifCounters(bvi).txPackets).toBe(1n);
    // Broadcast from L3 floods to every member but the BVI itself.
    const arp = ethernet({ src: mac, dst: 'ff:ff:ff:ff:ff:ff', type: 0x0806 }, arpRequest);
    await send('tl3', [arp]);
    expectFrames('ta', [arp]);
    expectFrames('tb', [routed, arp]);
    expect(ifCounters(bvi).rxPackets).toBe(rxBefore);
    // The BVI's own MAC is static: L3 traffic does not turn it into a learned entry.
    expect(l2.showL2fib(2).filter((e) => e.mac === mac)).toMatchObject([{ static: true, bvi: true }]);
    expectNoLeak();
  });

  it('follows a MAC change, refuses a second BVI, drops to a BVI that is down', async () => {
    const { bvi } = setup('m', 3);
    engine.setInterfaceState(bvi, { mac: '02:00:00:00:b1:01' });
    expect(l2.showL2fib(3).map((e) => e.mac)).toEqual(['02:00:00:00:b1:01']);
    l2.createBvi({ name: 'mbvi2', mac: '02:00:00:00:b1:02' });
    expect(() => l2.addBridgeMember(3, { interface: 'mbvi2', bvi: true })).toThrow(/^bvi: bridge domain 3 already has BVI 'mbvi'/);
    expect(() => l2.addBridgeMember(3, { interface: 'mbvi2' })).toThrow(/^bvi: 'mbvi2' is a BVI; add it with bvi: true/);
    expect(() => xconnect(bvi, 'ma')).toThrow(/^rx: 'mbvi' is a BVI/);
    expect(() => l2.createBvi({ name: 'x', mac: '01:00:00:00:00:01' })).toThrow(/^mac: .* multicast/);
    engine.setInterfaceState(bvi, { adminUp: false });
    const d = errorDeltas('bvi-input/bvi-down');
    await send('ma', [ethernet({ src: STATION, dst: '02:00:00:00:b1:01' }, ip)]);
    expect(d()).toEqual({ 'bvi-input/bvi-down': 1n });
    l2.removeBridgeMember(bvi);
    expect(l2.showL2fib(3).map((e) => e.interface)).toEqual(['ma']);
    expect(l2.showBridgeDomain(3)[0]!.bvi).toBeNull();
    expectNoLeak();
  });

  it('traces every l2 node a packet crosses, flooded copies and the BVI included', async () => {
    const { bvi, mac } = setup('x', 4);
    engine.traceClear();
    engine.traceAdd('pg-input', 2);
    await send('xa', [ethernet({ src: STATION, dst: 'ff:ff:ff:ff:ff:ff', type: 0x0806 }, arpRequest)]);
    await send('xb', [ethernet({ src: '02:00:00:00:bb:01', dst: STATION }, ip)]);
    const t = engine.traceGet();
    expect(t).toHaveLength(2);
    const lines = (k: number) => t[k]!.entries.map((e) => `${e.node}: ${e.text}`);
    const idx = String(engine.findInterface('xa').index);
    expect(lines(0)).toEqual(
      expect.arrayContaining([
        // A plain member (no tag rewrite, no l2-input feature) skips l2-input.
        expect.stringMatching(/^ethernet-input: ARP: .* -> l2-fwd$/),
        expect.stringMatching(/^l2-fwd: bd index \d+ 02:00:00:00:aa:01 -> ff:ff:ff:ff:ff:ff rx \d+ -> l2-flood/),
        expect.stringMatching(/^l2-flood: bd index \d+ rx \d+ flooded to 2 members$/),
      ]),
    );
    // The original goes to the last member served (the BVI): bvi-input, then ethernet-input again.
    expect(lines(0)).toEqual(expect.arrayContaining([`bvi-input: to L3 on BVI ${engine.findInterface(bvi).index}`]));
    expect(lines(1)).toEqual(
      expect.arrayContaining([
        // ... and a tx interface without egress rewrite or l2-output feature skips l2-output
        // and interface-output: straight to its driver's tx node.
        expect.stringMatching(new RegExp(`^l2-fwd: .* -> pg-output tx ${idx}$`)),
      ]),
    );
    expect(mac).toMatch(/^02:fe:00:01:/);
    engine.traceClear();
    expectNoLeak();
  });
});
