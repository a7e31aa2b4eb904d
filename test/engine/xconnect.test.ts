// pg -> ethernet-input -> l2-xconnect -> pg-output, byte for byte, with counters on every node,
// interface and arc; interface-output sees only frames for a down tx interface.
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { xconnect, xconnectPair } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';

useEngine();

function setup(a: string, b: string) {
  pg.createPgInterface({ name: a });
  pg.createPgInterface({ name: b });
  engine.setInterfaceState(a, { adminUp: true });
  engine.setInterfaceState(b, { adminUp: true });
  xconnectPair(a, b);
}

function errorCount(node: string, name: string): bigint {
  return engine.statsSegment().errors(true).find((e) => e.node === node && e.name === name)!.count;
}

describe('l2-xconnect over pg', () => {
  it('forwards frames unchanged and counts them per interface, node and arc', async () => {
    setup('pgA', 'pgB');
    const frames = [
      ethernet({}, ipv4Udp({ src: '198.18.0.1', dst: '198.18.1.1', sport: 1, dport: 2 })),
      ethernet({ vlans: [{ vid: 100 }] }, ipv4Udp({ src: '198.18.0.2', dst: '198.18.1.2', sport: 3, dport: 4 })),
      ethernet({ vlans: [{ tpid: 0x88a8, vid: 10 }, { vid: 20 }], type: 0x86dd }, Buffer.alloc(60, 0xab)),
      ethernet({ type: 0x1234 }, Buffer.alloc(1000, 7)),
    ];
    pg.capture('pgB', 100);
    pg.addStream('pgA', { name: 'x1', packets: frames, count: 40, enabled: true });
    await pg.waitStream('x1');
    const out = pg.captured('pgB');
    expect(out).toHaveLength(40);
    out.forEach((f, i) => expect(f.equals(frames[i % 4]!), `frame ${i}`).toBe(true));
    const s = engine.statsSegment();
    const a = s.interfaceCounters(engine.findInterface('pgA').index);
    const b = s.interfaceCounters(engine.findInterface('pgB').index);
    const bytes = BigInt(frames.reduce((n, f) => n + f.length, 0) * 10);
    expect(a.rxPackets).toBe(40n);
    expect(a.rxBytes).toBe(bytes);
    expect(b.txPackets).toBe(40n);
    expect(b.txBytes).toBe(bytes);
    const arc = s.arcs().find((x) => x.from === 'ethernet-input' && x.to === 'l2-xconnect')!;
    expect(arc.packets).toBe(40n);
    expect(s.arcs().find((x) => x.from === 'l2-xconnect' && x.to === 'pg-output')!.packets).toBe(40n);
    expect(s.arcs().find((x) => x.from === 'l2-xconnect' && x.to === 'interface-output')!.packets).toBe(0n);
    const rt = s.nodes().filter((n) => n.name === 'l2-xconnect');
    expect(rt.reduce((n, r) => n + r.vectors, 0n)).toBe(40n);
    expectNoLeak();
  });

  it('drops malformed frames under named errors, never forwarding them', async () => {
    setup('pgC', 'pgD');
    pg.capture('pgD', 100);
    const good = ethernet({}, Buffer.alloc(46, 1));
    const runt = Buffer.alloc(13, 0xff);
    const truncatedVlan = Buffer.concat([Buffer.alloc(12, 2), Buffer.from([0x81, 0x00, 0x00])]);
    const threeTags = ethernet({ vlans: [{ tpid: 0x88a8, vid: 1 }, { vid: 2 }, { vid: 3 }] }, Buffer.alloc(40));
    const before = {
      runt: errorCount('ethernet-input', 'runt'),
      vlan: errorCount('ethernet-input', 'truncated-vlan'),
      tags: errorCount('ethernet-input', 'too-many-tags'),
    };
    pg.addStream('pgC', { name: 'bad', packets: [good, runt, truncatedVlan, threeTags], count: 8, enabled: true });
    await pg.waitStream('bad');
    const out = pg.captured('pgD');
    expect(out).toHaveLength(2);
    expect(out.every((f) => f.equals(good))).toBe(true);
    expect(errorCount('ethernet-input', 'runt') - before.runt).toBe(2n);
    expect(errorCount('ethernet-input', 'truncated-vlan') - before.vlan).toBe(2n);
    expect(errorCount('ethernet-input', 'too-many-tags') - before.tags).toBe(2n);
    const c = engine.statsSegment().interfaceCounters(engine.findInterface('pgC').index);
    expect(c.drops).toBe(6n);
    expectNoLeak();
  });

  it('drops to an admin-down interface and counts it on interface-output', async () => {
    setup('pgE', 'pgF');
    engine.setInterfaceState('pgF', { adminUp: false });
    const before = errorCount('interface-output', 'admin-down');
    pg.addStream('pgE', { name: 'down', size: 64, count: 10, enabled: true });
    await pg.waitStream('down');
    expect(errorCount('interface-output', 'admin-down') - before).toBe(10n);
    expect(engine.statsSegment().interfaceCounters(engine.findInterface('pgF').index).txPackets).toBe(0n);
    expectNoLeak();
  });

  it('returns an interface to L3 mode when its cross-connect is removed', async () => {
    setup('pgG', 'pgH');
    xconnect('pgG', null);
    expect(engine.findInterface('pgG').mode).toBe('l3');
    const before = errorCount('ethernet-input', 'l3-mac-mismatch') + errorCount('ethernet-input', 'no-l3');
    pg.addStream('pgG', { name: 'l3', size: 64, count: 5, enabled: true });
    await pg.waitStream('l3');
    const after = errorCount('ethernet-input', 'l3-mac-mismatch') + errorCount('ethernet-input', 'no-l3');
    expect(after - before).toBe(5n);
    expectNoLeak();
  });

  it('refuses bad arguments naming the field', () => {
    expect(() => xconnect('pgA', 'pgA')).toThrow(/^tx: cannot cross-connect/);
    expect(() => xconnect('nope', 'pgA')).toThrow(/^rx: no interface 'nope'/);
    expect(() => pg.createPgInterface({ name: 'pgA' })).toThrow(/^name: interface 'pgA' already exists/);
    expect(() => pg.createPgInterface({ name: 'x', mac: 'zz' })).toThrow(/^mac: /);
    expect(() => pg.addStream('pgA', { name: 's', size: 20 })).toThrow(/^size: /);
    expect(() => pg.addStream('pgA', { name: 's', template: { srcIp: '300.1.1.1' } })).toThrow(/^template.srcIp: /);
    expect(() => pg.addStream('pgA', { name: 's', fields: [{ field: 'offset' }] })).toThrow(/^fields\[0\].offset: /);
    expect(() => pg.addStream('pgA', { name: 's', bogus: 1 } as never)).toThrow(/^bogus: unknown key/);
    expect(() => engine.setInterfaceState('pgA', { mtu: 20 })).toThrow(/^mtu: /);
    expect(() => engine.setRxMode('pgA', 0, 'turbo' as never)).toThrow(/^mode: /);
  });
});

describe('ethernet-input robustness', () => {
  it('accounts for every random frame: forwarded or dropped under a named error', async () => {
    setup('fz0', 'fz1');
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const frames: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      const f = Buffer.alloc(1 + Math.floor(rnd() * 40));
      for (let k = 0; k < f.length; k++) f[k] = Math.floor(rnd() * 256);
      // Bias towards VLAN ethertypes so tag parsing meets truncation often.
      if (f.length > 13 && rnd() < 0.5) f.writeUInt16BE(rnd() < 0.5 ? 0x8100 : 0x88a8, 12);
      if (f.length > 17 && rnd() < 0.5) f.writeUInt16BE(0x8100, 16);
      frames.push(f);
    }
    const s = engine.statsSegment();
    const dropsBefore = s.errors().reduce((n, e) => n + e.count, 0n);
    pg.addStream('fz0', { name: 'fuzz', packets: frames, count: frames.length, enabled: true });
    await pg.waitStream('fuzz');
    const tx = s.interfaceCounters(engine.findInterface('fz1').index).txPackets;
    const drops = s.errors().reduce((n, e) => n + e.count, 0n) - dropsBefore;
    expect(tx + drops).toBe(BigInt(frames.length));
    expect(tx).toBe(BigInt(frames.filter(forwards).length));
    expectNoLeak();
  });
});

const isTag = (t: number) => t === 0x8100 || t === 0x88a8 || t === 0x9100;
/** Reference: a frame is forwarded when its Ethernet header and at most two tags are complete. */
function forwards(f: Buffer): boolean {
  if (f.length < 14) return false;
  if (!isTag(f.readUInt16BE(12))) return true;
  if (f.length < 18) return false;
  if (!isTag(f.readUInt16BE(16))) return true;
  if (f.length < 22) return false;
  return !isTag(f.readUInt16BE(20));
}
