// VXLAN encap and decap over pg, byte for byte against independently built packets: inner
// frames enter on pgIn, cross-connected to the tunnel; outer packets go through the real
// underlay (ip4/ip6-lookup and -rewrite out of pgU; ip4/ip6-input and -local into decap).
// Chained packets: pg cannot make chains, test chains (graph/vxlan/vxlan_test_chains.cc) split
// received frames before ip4-input/ip6-input.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as acl from '../../graph/acl/acl.js';
import { addon } from '../../src/addon.js';
import * as engine from '../../src/engine.js';
import * as ip from '../../graph/ip/ip.js';
import { xconnect } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import * as vxlan from '../../graph/vxlan/vxlan.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { checksum } from '../helpers/packets.js';
import { innerFrame, scapyDecode, vxlanFrame } from './packets.js';

useEngine();

const LOCAL_MAC = '02:00:00:00:01:01'; // pgU's
const REMOTE_MAC = '02:00:00:00:01:02'; // every remote VTEP's (static neighbors)
const REMOTES = ['198.18.0.2', '198.18.0.3', '198.18.0.4', '198.18.0.9', '2001:db8::2', '2001:db8::3'];
let streamSeq = 0;

function errorCount(node: string, name: string): bigint {
  return engine.statsSegment().errors(true).find((e) => e.node === node && e.name === name)!.count;
}
function counters(name: string) {
  return engine.statsSegment().interfaceCounters(engine.findInterface(name).index);
}
async function send(intf: string, packets: Buffer[], count = packets.length): Promise<void> {
  const name = `s${streamSeq++}`;
  pg.addStream(intf, { name, packets, count, enabled: true });
  await pg.waitStream(name);
  // Sent is not yet handled: wait until every buffer has left the graph.
  await waitFor(() => engine.buffers(true).inFlight === 0, 5000, 'all buffers back in the pool');
  pg.deleteStream(name);
}

beforeAll(() => {
  pg.createPgInterface({ name: 'pgU', mac: LOCAL_MAC });
  for (const n of ['pgIn', 'pgU', 'pgOut']) {
    if (n !== 'pgU') pg.createPgInterface({ name: n });
    engine.setInterfaceState(n, { adminUp: true });
  }
  // The underlay: our VTEP addresses on pgU, the remote VTEPs as static neighbors.
  ip.addAddress('pgU', '198.18.0.1/24', { announce: false });
  ip.addAddress('pgU', '2001:db8::1/64', { announce: false });
  for (const r of REMOTES) ip.addNeighbor({ interface: 'pgU', address: r, mac: REMOTE_MAC });
});

afterEach(() => {
  for (const t of vxlan.tunnels()) vxlan.deleteTunnel(t.name);
  xconnect('pgIn', null);
});

function tunnel(spec: vxlan.TunnelSpec, up = true, deferTable = false): void {
  vxlan.createTunnel(spec, { deferTable });
  if (up) engine.setInterfaceState(spec.name, { adminUp: true });
}

describe('vxlan encap', () => {
  it('IPv4 underlay: writes IP/UDP/VXLAN in front of the inner frame, source port from the inner flow', async () => {
    tunnel({ name: 'vx4', src: '198.18.0.1', dst: '198.18.0.2', vni: 4242, df: true, ttl: 33 });
    xconnect('pgIn', 'vx4');
    const flows = [0, 1, 2, 3].map((k) => innerFrame({ sport: 1000 + k, size: 64 + k * 20 }));
    pg.capture('pgU', 100);
    await send('pgIn', [...flows, ...flows]);
    const out = pg.captured('pgU');
    expect(out).toHaveLength(8);
    const sports = out.map((f) => f.readUInt16BE(14 + 20));
    for (let k = 0; k < 4; k++) {
      const expected = vxlanFrame(
        { dstMac: REMOTE_MAC, srcMac: LOCAL_MAC, src: '198.18.0.1', dst: '198.18.0.2', sport: sports[k]!, vni: 4242, ttl: 33, df: true },
        flows[k]!,
      );
      expect(out[k]!.toString('hex'), `flow ${k}`).toBe(expected.toString('hex'));
      expect(out[k + 4]!.equals(out[k]!), `flow ${k} again: same source port`).toBe(true);
      expect(sports[k]).toBeGreaterThanOrEqual(49152);
    }
    expect(new Set(sports.slice(0, 4)).size, 'distinct flows spread over source ports').toBeGreaterThan(1);
    const seen = scapyDecode(out.slice(0, 4));
    seen.forEach((s, k) => {
      expect(s).toMatchObject({ vni: 4242, dport: 4789, ipChecksumOk: true, udpChecksum: 0 });
      expect(s.innerHex).toBe(flows[k]!.toString('hex'));
    });
    const c = counters('vx4');
    expect(c.txPackets).toBe(8n);
    expect(c.txBytes).toBe(BigInt(2 * flows.reduce((n, f) => n + f.length, 0)));
    expectNoLeak();
  });

  it('IPv4 without DF: a fresh IP ID per packet, checksum updated to match', async () => {
    tunnel({ name: 'vx4n', src: '198.18.0.1', dst: '198.18.0.3', vni: 7, dstPort: 8472 });
    xconnect('pgIn', 'vx4n');
    const f = innerFrame({});
    pg.capture('pgU', 100);
    await send('pgIn', [f], 5);
    const out = pg.captured('pgU');
    expect(out).toHaveLength(5);
    const ids = out.map((p) => p.readUInt16BE(14 + 4));
    expect(new Set(ids).size).toBe(5);
    out.forEach((p, k) => {
      const expected = vxlanFrame(
        { dstMac: REMOTE_MAC, srcMac: LOCAL_MAC, src: '198.18.0.1', dst: '198.18.0.3', sport: p.readUInt16BE(34), dport: 8472, vni: 7, id: ids[k]! },
        f,
      );
      expect(p.toString('hex')).toBe(expected.toString('hex'));
    });
    expectNoLeak();
  });

  it('IPv6 underlay: UDP checksum computed over pseudo header, VXLAN and the inner frame', async () => {
    tunnel({ name: 'vx6', src: '2001:db8::1', dst: '2001:db8::2', vni: 0xabcdef, ttl: 7 });
    xconnect('pgIn', 'vx6');
    // Odd and even lengths: the checksum must handle a trailing byte.
    const flows = [innerFrame({ size: 64 }), innerFrame({ size: 65, sport: 9 }), innerFrame({ size: 1400, sport: 10 })];
    pg.capture('pgU', 100);
    await send('pgIn', flows);
    const out = pg.captured('pgU');
    expect(out).toHaveLength(3);
    out.forEach((p, k) => {
      const expected = vxlanFrame(
        { dstMac: REMOTE_MAC, srcMac: LOCAL_MAC, src: '2001:db8::1', dst: '2001:db8::2', sport: p.readUInt16BE(14 + 40), vni: 0xabcdef, ttl: 7 },
        flows[k]!,
      );
      expect(p.toString('hex'), `frame ${k}`).toBe(expected.toString('hex'));
    });
    const seen = scapyDecode(out);
    seen.forEach((s) => expect(s).toMatchObject({ vni: 0xabcdef, udpChecksumOk: true }));
    expectNoLeak();
  });

  it('looks the outer packet up in the encap table; drops under no-encap-table while that table is missing', async () => {
    // 198.18.42.0/24 is routed in table 42 only.
    tunnel({ name: 'vxv', src: '198.18.0.1', dst: '198.18.42.7', vni: 42, encapVrf: 42, df: true }, true, true);
    xconnect('pgIn', 'vxv');
    pg.capture('pgU', 10);
    const f = innerFrame({});
    const missing = errorCount('vxlan4-encap', 'no-encap-table');
    await send('pgIn', [f]);
    expect(errorCount('vxlan4-encap', 'no-encap-table') - missing).toBe(1n);
    ip.addTable({ id: 42 });
    try {
      ip.addRoute({ table: 42, prefix: '198.18.42.0/24', paths: [{ via: '198.18.0.2', interface: 'pgU' }] });
      await waitFor(() => vxlan.tunnels().find((t) => t.name === 'vxv')!.encapVrfFound, 2000, 'the tunnel to find table 42');
      await send('pgIn', [f]);
      const out = pg.captured('pgU');
      expect(out).toHaveLength(1);
      const expected = vxlanFrame({ dstMac: REMOTE_MAC, srcMac: LOCAL_MAC, src: '198.18.0.1', dst: '198.18.42.7', sport: out[0]!.readUInt16BE(34), vni: 42, df: true }, f);
      expect(out[0]!.toString('hex')).toBe(expected.toString('hex'));
    } finally {
      vxlan.deleteTunnel('vxv');
      ip.deleteRoute({ table: 42, prefix: '198.18.42.0/24' });
      ip.deleteTable(42);
    }
    expectNoLeak();
  });

  it('drops inner frames larger than the tunnel MTU under a named error', async () => {
    tunnel({ name: 'vxm', src: '198.18.0.1', dst: '198.18.0.4', vni: 1 });
    expect(engine.findInterface('vxm').mtu).toBe(1450);
    xconnect('pgIn', 'vxm');
    pg.capture('pgU', 100);
    const before = errorCount('vxlan4-encap', 'inner-too-big');
    // 1450 bytes of L3 + 14 + one tag's grace passes; 1469 does not.
    await send('pgIn', [innerFrame({ size: 1464 }), innerFrame({ size: 1469 })]);
    expect(pg.captured('pgU').map((p) => p.length)).toEqual([1464 + 50]);
    expect(errorCount('vxlan4-encap', 'inner-too-big') - before).toBe(1n);
    expectNoLeak();
  });
});

describe('vxlan decap', () => {
  const inner = innerFrame({ size: 100, srcMac: '02:bb:00:00:00:01', dstMac: '02:bb:00:00:00:02' });
  const outer = (o: Partial<Parameters<typeof vxlanFrame>[0]> = {}, payload = inner) =>
    vxlanFrame({ dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: '198.18.0.2', dst: '198.18.0.1', sport: 50000, vni: 4242, ...o }, payload);

  it('IPv4: strips the outer headers and hands the inner frame to the tunnel (here cross-connected to pgOut)', async () => {
    tunnel({ name: 'vx4', src: '198.18.0.1', dst: '198.18.0.2', vni: 4242 });
    xconnect('vx4', 'pgOut');
    pg.capture('pgOut', 100);
    // Reserved flag bits and reserved bytes are ignored on receive.
    await send('pgU', [outer(), outer({ flags: 0xff })], 4);
    const out = pg.captured('pgOut');
    expect(out).toHaveLength(4);
    out.forEach((f) => expect(f.toString('hex')).toBe(inner.toString('hex')));
    const c = counters('vx4');
    expect(c.rxPackets).toBe(4n);
    expect(c.rxBytes).toBe(BigInt(4 * inner.length));
    expectNoLeak();
  });

  it('IPv6: decapsulates from the IPv6 tunnel matching source and VNI', async () => {
    tunnel({ name: 'vx6', src: '2001:db8::1', dst: '2001:db8::2', vni: 99 });
    tunnel({ name: 'vx6b', src: '2001:db8::1', dst: '2001:db8::3', vni: 99 });
    xconnect('vx6b', 'pgOut');
    pg.capture('pgOut', 100);
    await send('pgU', [outer({ src: '2001:db8::3', dst: '2001:db8::1', vni: 99 })], 3);
    expect(pg.captured('pgOut').map((f) => f.toString('hex'))).toEqual(Array(3).fill(inner.toString('hex')));
    expect(counters('vx6b').rxPackets).toBe(3n);
    expect(counters('vx6').rxPackets).toBe(0n);
    expectNoLeak();
  });

  it('drops unknown VNI, unknown source, a missing I flag, truncation and a down tunnel under named errors', async () => {
    tunnel({ name: 'vx4', src: '198.18.0.1', dst: '198.18.0.2', vni: 4242 });
    tunnel({ name: 'vxdown', src: '198.18.0.1', dst: '198.18.0.9', vni: 5 }, false);
    xconnect('vx4', 'pgOut');
    xconnect('vxdown', 'pgOut');
    pg.capture('pgOut', 100);
    const names = ['unknown-vni', 'unknown-source', 'no-i-flag', 'truncated', 'tunnel-down'];
    const before = names.map((n) => errorCount('vxlan4-input', n));
    const uDrops = counters('pgU').drops;
    await send('pgU', [
      outer({ vni: 4243 }),
      outer({ src: '198.18.0.7' }),
      outer({ flags: 0x00 }),
      outer({}, Buffer.alloc(10)),
      outer({ src: '198.18.0.9', vni: 5 }),
      outer(),
    ]);
    const after = names.map((n) => errorCount('vxlan4-input', n));
    expect(after.map((a, k) => a - before[k]!)).toEqual([1n, 1n, 1n, 1n, 1n]);
    expect(pg.captured('pgOut')).toHaveLength(1);
    expect(counters('pgU').drops - uDrops).toBe(5n);
    expect(counters('vx4').rxPackets).toBe(1n);
    expectNoLeak();
  });

  it('round trip through the real stack: encap, ip4-lookup finds a local address, ip4-local, decap', async () => {
    // Tunnel a sends to 198.18.6.1, one of our own addresses; tunnel b is its other end.
    ip.addAddress('pgU', '198.18.6.1/32', { announce: false });
    try {
      tunnel({ name: 'a', src: '198.18.0.1', dst: '198.18.6.1', vni: 10 });
      tunnel({ name: 'b', src: '198.18.6.1', dst: '198.18.0.1', vni: 10 });
      xconnect('pgIn', 'a');
      xconnect('b', 'pgOut');
      pg.capture('pgU', 10);
      pg.capture('pgOut', 10);
      const frames = [innerFrame({ size: 64 }), innerFrame({ size: 333, sport: 5 })];
      await send('pgIn', frames);
      expect(pg.captured('pgOut').map((f) => f.toString('hex'))).toEqual(frames.map((f) => f.toString('hex')));
      expect(pg.captured('pgU')).toHaveLength(0);
      expect(counters('a').txPackets).toBe(2n);
      expect(counters('b').rxPackets).toBe(2n);
      expectNoLeak();
    } finally {
      ip.deleteAddress('pgU', '198.18.6.1/32');
    }
  });
});

/** Packets a node has handled since the engine started (all workers). */
function nodePackets(node: string): bigint {
  return engine.statsSegment().nodes().filter((n) => n.name === node).reduce((a, n) => a + n.vectors, 0n);
}
function arcPacketsOf(from: string, to: string): bigint {
  return engine.statsSegment().arcs().find((a) => a.from === from && a.to === to)?.packets ?? 0n;
}
function nodeDeltas(nodes: string[]): () => Record<string, number> {
  const before = nodes.map(nodePackets);
  return () => Object.fromEntries(nodes.map((n, k) => [n, Number(nodePackets(n) - before[k]!)]));
}
type ArcInfo = { name: string; features: string[]; enabled: Record<string, string[]> };
const arcs = () => (addon() as unknown as { featureArcs(): ArcInfo[] }).featureArcs();
const enabledOn = (arc: string, feature: string) =>
  Object.entries(arcs().find((a) => a.name === arc)!.enabled).filter(([, f]) => f.includes(feature)).map(([i]) => Number(i)).sort((a, b) => a - b);

type FastCase = [name: string, frame: Buffer, how: 'fast' | 'full' | 'vxlan-input' | 'not taken'];
/**
 * Sends the cases in one vector on pgU to a tunnel cross-connected to pgOut, twice: traced (the
 * bypass's trace line says how each was handled) and untraced (the node's other instantiation);
 * both times the delivered inner frames, the tunnel's rx counters and the named errors.
 */
async function expectFastPath(family: 'ip4' | 'ip6', tunnelName: string, cases: FastCase[], payloadOf: (f: Buffer) => string,
  errors: (readonly [string, string])[], errorDeltas: bigint[]): Promise<void> {
  const delivered = cases.filter(([, , how]) => how === 'fast' || how === 'full');
  const expected = delivered.map(([, f]) => payloadOf(f));
  for (const traced of [true, false]) {
    const errs0 = errors.map(([n, e]) => errorCount(n, e));
    const rx0 = counters(tunnelName);
    pg.capture('pgOut', 100);
    engine.traceClear();
    if (traced) engine.traceAdd('pg-input', cases.length);
    await send('pgU', cases.map(([, f]) => f));
    expect(pg.captured('pgOut').map((f) => f.toString('hex')), traced ? 'traced' : 'untraced').toEqual(expected);
    expect(errors.map(([n, e], k) => errorCount(n, e) - errs0[k]!)).toEqual(errorDeltas);
    const rx = counters(tunnelName);
    expect(rx.rxPackets - rx0.rxPackets).toBe(BigInt(delivered.length));
    expect(rx.rxBytes - rx0.rxBytes).toBe(BigInt(expected.reduce((a, h) => a + h.length / 2, 0)));
    if (traced) {
      const how = engine.traceGet().map((r) => {
        const text = r.entries.find((e) => e.node === `${family}-vxlan-bypass`)?.text ?? '';
        return text.includes('(outer headers as the previous') ? 'fast'
          : text.includes('to vxlan-input') ? 'vxlan-input'
          : text.includes('decapsulated') ? 'full' : 'not taken';
      });
      expect(how.map((h, k) => `${cases[k]![0]}: ${h}`)).toEqual(cases.map(([name, , h]) => `${name}: ${h}`));
    }
    engine.traceClear();
  }
  expectNoLeak();
}

describe('underlay shortcuts: encap to the rewrite, decap past lookup and local delivery', () => {
  const inner = innerFrame({ size: 100, srcMac: '02:bb:00:00:00:01', dstMac: '02:bb:00:00:00:02' });

  it('encap looks the tunnel destination up itself: a resolved neighbor goes straight to the underlay interface tx node, past interface-output (the rewrite when the underlay has an output feature or the packet exceeds its MTU), byte for byte', async () => {
    tunnel({ name: 'vx4', src: '198.18.0.1', dst: '198.18.0.2', vni: 11, df: true });
    tunnel({ name: 'vx6', src: '2001:db8::1', dst: '2001:db8::2', vni: 12 });
    acl.setAcl('underlay-out', [{ action: 'permit' }]);
    for (const [t, src, dst, sportAt] of [['vx4', '198.18.0.1', '198.18.0.2', 34], ['vx6', '2001:db8::1', '2001:db8::2', 54]] as const) {
      xconnect('pgIn', t);
      const fam = t === 'vx4' ? 'ip4' : 'ip6';
      const v = fam[2];
      const vni = t === 'vx4' ? 11 : 12;
      // Three ways out, each the same bytes: straight from encap; through the rewrite, which
      // starts the output ACL's arc; and (too big for the MTU) into the rewrite's drop.
      for (const way of ['direct', 'output feature', 'mtu'] as const) {
        if (way === 'output feature') acl.applyAcls('pgU', { output: ['underlay-out'] });
        if (way === 'mtu') engine.setInterfaceState('pgU', { mtu: 100 });
        try {
          pg.capture('pgU', 10);
          const delta = nodeDeltas([`${fam}-lookup`, `${fam}-rewrite`, `acl-${fam}-out`]);
          const direct = arcPacketsOf(`vxlan${v}-encap`, 'pg-output');
          const mtuDrops = errorCount(`${fam}-rewrite`, fam === 'ip4' ? 'mtu-exceeded' : 'own-too-big');
          engine.traceClear();
          engine.traceAdd('pg-input', 1);
          await send('pgIn', [inner], 3);
          expect(delta(), `${t} ${way}`).toEqual({
            [`${fam}-lookup`]: 0,
            [`${fam}-rewrite`]: way === 'direct' ? 0 : 3,
            [`acl-${fam}-out`]: way === 'output feature' ? 3 : 0,
          });
          expect(arcPacketsOf(`vxlan${v}-encap`, 'pg-output') - direct, `${t} ${way}`).toBe(way === 'direct' ? 3n : 0n);
          expect(errorCount(`${fam}-rewrite`, fam === 'ip4' ? 'mtu-exceeded' : 'own-too-big') - mtuDrops).toBe(way === 'mtu' ? 3n : 0n);
          const out = pg.captured('pgU');
          expect(out, `${t} ${way}`).toHaveLength(way === 'mtu' ? 0 : 3);
          if (way === 'mtu') continue;
          // The trace reads the source port from the outer UDP header (behind the Ethernet
          // header when encap wrote that too).
          const traced = engine.traceGet()[0]!.entries.find((e) => e.node === `vxlan${v}-encap`)!;
          expect(traced.text, `${t} ${way}`).toContain(`tunnel ${engine.findInterface(t).index} vni ${vni} udp src port ${out[0]!.readUInt16BE(sportAt)} `);
          const expected = vxlanFrame({ dstMac: REMOTE_MAC, srcMac: LOCAL_MAC, src, dst, sport: out[0]!.readUInt16BE(sportAt), vni, ...(t === 'vx4' ? { df: true } : {}) }, inner);
          for (const f of out) expect(f.toString('hex'), `${t} ${way}`).toBe(expected.toString('hex'));
        } finally {
          acl.applyAcls('pgU', {});
          engine.setInterfaceState('pgU', { mtu: 1500 });
        }
      }
      // The underlay interface down: interface-output gets the packets and counts the drops.
      engine.setInterfaceState('pgU', { adminUp: false });
      try {
        pg.capture('pgU', 10);
        const viaOutput = arcPacketsOf(`vxlan${v}-encap`, 'interface-output');
        const downDrops = errorCount('interface-output', 'admin-down');
        await send('pgIn', [inner], 3);
        expect(arcPacketsOf(`vxlan${v}-encap`, 'interface-output') - viaOutput, `${t} down`).toBe(3n);
        expect(errorCount('interface-output', 'admin-down') - downDrops, `${t} down`).toBe(3n);
        expect(pg.captured('pgU'), `${t} down`).toHaveLength(0);
      } finally {
        engine.setInterfaceState('pgU', { adminUp: true });
      }
    }
    expectNoLeak();
  });

  it('encap of a tunnel whose next hop does not resolve goes through ip4-lookup (ARP); once it resolves, straight out', async () => {
    tunnel({ name: 'vxr', src: '198.18.0.1', dst: '198.18.0.77', vni: 13, df: true });
    xconnect('pgIn', 'vxr');
    pg.capture('pgU', 10);
    try {
      let delta = nodeDeltas(['ip4-lookup', 'ip4-arp', 'ip4-rewrite']);
      await send('pgIn', [inner]);
      expect(delta()).toMatchObject({ 'ip4-lookup': 1, 'ip4-arp': 1, 'ip4-rewrite': 0 });
      // ip4-arp asked for 198.18.0.77 on pgU (the packet waits for the answer).
      const arp = pg.captured('pgU');
      expect(arp).toHaveLength(1);
      expect(arp[0]!.readUInt16BE(12)).toBe(0x0806);
      expect([...arp[0]!.subarray(38, 42)].join('.')).toBe('198.18.0.77');
      ip.addNeighbor({ interface: 'pgU', address: '198.18.0.77', mac: REMOTE_MAC });
      await waitFor(() => engine.buffers(true).inFlight === 0, 5000, 'the held packet to leave');
      pg.capture('pgU', 10);
      delta = nodeDeltas(['ip4-lookup', 'ip4-arp', 'ip4-rewrite']);
      const direct = arcPacketsOf('vxlan4-encap', 'pg-output');
      await send('pgIn', [inner]);
      expect(delta()).toMatchObject({ 'ip4-lookup': 0, 'ip4-arp': 0, 'ip4-rewrite': 0 });
      expect(arcPacketsOf('vxlan4-encap', 'pg-output') - direct).toBe(1n);
      const out = pg.captured('pgU').filter((f) => f.readUInt16BE(12) === 0x0800);
      const sent = out.at(-1)!;
      const expected = vxlanFrame({ dstMac: REMOTE_MAC, srcMac: LOCAL_MAC, src: '198.18.0.1', dst: '198.18.0.77', sport: sent.readUInt16BE(34), vni: 13, df: true }, inner);
      expect(sent.toString('hex')).toBe(expected.toString('hex'));
    } finally {
      ip.deleteNeighbor({ interface: 'pgU', address: '198.18.0.77' });
    }
    expectNoLeak();
  });

  it('decap: VXLAN for a tunnel endpoint is decapsulated by the bypass, past ip-lookup and ip-local; what it does not take still reaches local delivery', async () => {
    tunnel({ name: 'vx4', src: '198.18.0.1', dst: '198.18.0.2', vni: 21 });
    tunnel({ name: 'vx6', src: '2001:db8::1', dst: '2001:db8::2', vni: 22 });
    xconnect('vx4', 'pgOut');
    xconnect('vx6', 'pgOut');
    pg.capture('pgOut', 100);
    const o4 = { dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: '198.18.0.2', dst: '198.18.0.1', sport: 50000, vni: 21 };
    const o6 = { dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: '2001:db8::2', dst: '2001:db8::1', sport: 50000, vni: 22 };
    const nodes = ['ip4-vxlan-bypass', 'ip6-vxlan-bypass', 'ip4-lookup', 'ip6-lookup', 'ip4-local', 'ip6-local', 'vxlan4-input', 'vxlan6-input'];
    let delta = nodeDeltas(nodes);
    await send('pgU', [vxlanFrame(o4, inner), vxlanFrame({ ...o4, v4Checksum: true }, inner), vxlanFrame(o6, inner)], 6);
    expect(delta()).toEqual({
      'ip4-vxlan-bypass': 4, 'ip6-vxlan-bypass': 2, 'ip4-lookup': 0, 'ip6-lookup': 0, 'ip4-local': 0, 'ip6-local': 0, 'vxlan4-input': 0, 'vxlan6-input': 0,
    });
    expect(pg.captured('pgOut').map((f) => f.toString('hex'))).toEqual(Array(6).fill(inner.toString('hex')));
    expect(counters('vx4').rxPackets).toBe(4n);
    expect(counters('vx6').rxPackets).toBe(2n);
    // Wrong UDP checksums (IPv4 with one, IPv6), a zero IPv6 checksum, and a fragment: the bypass
    // leaves them to the lookup and local delivery, which drop and count them as before.
    const badSum = (f: Buffer) => {
      f[f.length - 1] ^= 0x40;
      return f;
    };
    const zeroSum6 = vxlanFrame(o6, inner);
    zeroSum6.writeUInt16BE(0, 14 + 40 + 6);
    const frag = vxlanFrame(o4, inner);
    frag.writeUInt16BE(0x2000, 14 + 6); // more fragments
    frag.writeUInt16BE(0, 14 + 10);
    frag.writeUInt16BE(checksum(frag.subarray(14, 34)), 14 + 10);
    const errs = () => [errorCount('ip4-local', 'udp-checksum'), errorCount('ip6-local', 'udp-checksum'), errorCount('ip4-local', 'fragment')];
    const e0 = errs();
    delta = nodeDeltas(nodes);
    await send('pgU', [badSum(vxlanFrame({ ...o4, v4Checksum: true }, inner)), badSum(vxlanFrame(o6, inner)), zeroSum6, frag]);
    expect(errs().map((e, k) => e - e0[k]!)).toEqual([1n, 2n, 1n]);
    expect(delta()).toMatchObject({ 'ip4-local': 2, 'ip6-local': 2, 'vxlan4-input': 0, 'vxlan6-input': 0 });
    expect(pg.captured('pgOut')).toHaveLength(6);
    // Taken but not clean (unknown VNI, no I flag): the bypass leaves it to vxlan4-input's errors.
    const e1 = [errorCount('vxlan4-input', 'unknown-vni'), errorCount('vxlan4-input', 'no-i-flag')];
    delta = nodeDeltas(nodes);
    engine.traceClear();
    engine.traceAdd('pg-input', 3);
    await send('pgU', [vxlanFrame({ ...o4, vni: 999 }, inner), vxlanFrame({ ...o4, flags: 0 }, inner)]);
    // The trace names what the bypass did and where each packet went.
    const paths = engine.traceGet().map((r) => r.entries.map((e) => e.node).join(' '));
    expect(paths).toEqual(Array(2).fill('pg-input ethernet-input ip4-input ip4-vxlan-bypass vxlan4-input error-drop'));
    expect(engine.traceGet()[0]!.entries[3]!.text).toMatch(/^vxlan for a local tunnel endpoint: to vxlan-input/);
    engine.traceClear();
    expect([errorCount('vxlan4-input', 'unknown-vni') - e1[0]!, errorCount('vxlan4-input', 'no-i-flag') - e1[1]!]).toEqual([1n, 1n]);
    expect(delta()).toMatchObject({ 'ip4-vxlan-bypass': 2, 'vxlan4-input': 2, 'ip4-local': 0 });
    expect(pg.captured('pgOut')).toHaveLength(6);
    expectNoLeak();
  });

  it('decap fast path, IPv4: a packet whose outer headers match the previous one in every deciding field is decapsulated alike; any other difference takes the full path', async () => {
    tunnel({ name: 'vx4', src: '198.18.0.1', dst: '198.18.0.2', vni: 21 });
    xconnect('vx4', 'pgOut');
    const o4 = { dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: '198.18.0.2', dst: '198.18.0.1', sport: 50000, vni: 21 };
    const good = () => vxlanFrame(o4, inner);
    const fixIpSum = (f: Buffer) => {
      const ihl = (f[14]! & 0xf) * 4;
      f.writeUInt16BE(0, 14 + 10);
      f.writeUInt16BE(checksum(f.subarray(14, 14 + ihl)), 14 + 10);
      return f;
    };
    const tos = good();
    tos[15] = 0xb8;
    fixIpSum(tos);
    const badSum = vxlanFrame({ ...o4, v4Checksum: true }, inner);
    badSum[badSum.length - 1] ^= 0x40;
    const frag = good();
    frag.writeUInt16BE(0x2000, 14 + 6);
    fixIpSum(frag);
    // UDP length 2 short of the IP payload: not the fast path's exact case (the full path takes it).
    const shortUdp = good();
    shortUdp.writeUInt16BE(shortUdp.readUInt16BE(14 + 24) - 2, 14 + 24);
    // IPv4 options (3 NOPs and an end of list): every outer offset moves by 4.
    const g = good();
    const opts = Buffer.concat([g.subarray(0, 34), Buffer.from([1, 1, 1, 0]), g.subarray(34)]);
    opts[14] = 0x46;
    opts.writeUInt16BE(opts.length - 14, 14 + 2);
    fixIpSum(opts);
    const cases: FastCase[] = [
      ['first (learns)', good(), 'full'],
      ['other TTL', vxlanFrame({ ...o4, ttl: 7 }, inner), 'fast'],
      ['other IP ID and UDP source port, reserved VXLAN bits set', vxlanFrame({ ...o4, id: 1234, sport: 60000, flags: 0xff }, inner), 'fast'],
      ['DF set', vxlanFrame({ ...o4, df: true }, inner), 'fast'],
      ['other TOS', tos, 'fast'],
      ['unknown VNI', vxlanFrame({ ...o4, vni: 22 }, inner), 'vxlan-input'],
      ['unknown source', vxlanFrame({ ...o4, src: '198.18.0.7' }, inner), 'vxlan-input'],
      ['no I flag', vxlanFrame({ ...o4, flags: 0 }, inner), 'vxlan-input'],
      ['truncated', vxlanFrame(o4, Buffer.alloc(10)), 'vxlan-input'],
      ['a correct UDP checksum', vxlanFrame({ ...o4, v4Checksum: true }, inner), 'full'],
      ['same as the first', good(), 'fast'],
      ['a wrong UDP checksum', badSum, 'not taken'],
      ['a fragment', frag, 'not taken'],
      ['UDP length short of the IP payload', shortUdp, 'full'],
      ['IPv4 options', opts, 'full'],
      ['same as the first, after the options (which learned nothing)', good(), 'full'],
      ['and again', good(), 'fast'],
    ];
    const payloadOf = (f: Buffer) => f.subarray(14 + (f[14]! & 0xf) * 4 + 16).toString('hex'); // past IP (options too), UDP, VXLAN
    await expectFastPath('ip4', 'vx4', cases, payloadOf, [['vxlan4-input', 'unknown-vni'], ['vxlan4-input', 'unknown-source'], ['vxlan4-input', 'no-i-flag'],
      ['vxlan4-input', 'truncated'], ['ip4-local', 'udp-checksum'], ['ip4-local', 'fragment']], [1n, 1n, 1n, 1n, 1n, 1n]);
  });

  it('decap fast path, IPv6: what may differ from the learned packet (hop limit, traffic class, flow label, source port, reserved bits) and what takes the full path; the UDP checksum is verified either way', async () => {
    tunnel({ name: 'vx6', src: '2001:db8::1', dst: '2001:db8::2', vni: 22 });
    xconnect('vx6', 'pgOut');
    const o6 = { dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: '2001:db8::2', dst: '2001:db8::1', sport: 50000, vni: 22 };
    const good = () => vxlanFrame(o6, inner);
    const tcFlow = good();
    tcFlow.writeUInt32BE(0x6b812345, 14); // traffic class 0xb8, flow label 0x12345 (not in the pseudo header)
    const badSum = good();
    badSum[badSum.length - 1] ^= 0x40;
    const zeroSum = vxlanFrame({ ...o6, zeroChecksum: true }, inner);
    const cases: FastCase[] = [
      ['first (learns)', good(), 'full'],
      ['other hop limit', vxlanFrame({ ...o6, ttl: 7 }, inner), 'fast'],
      ['other source port, reserved VXLAN bits set', vxlanFrame({ ...o6, sport: 60000, flags: 0xff }, inner), 'fast'],
      ['other traffic class and flow label', tcFlow, 'fast'],
      ['a longer inner frame', vxlanFrame(o6, innerFrame({ size: 333, sport: 9 })), 'fast'],
      ['unknown VNI', vxlanFrame({ ...o6, vni: 23 }, inner), 'vxlan-input'],
      ['unknown source', vxlanFrame({ ...o6, src: '2001:db8::7' }, inner), 'vxlan-input'],
      ['no I flag', vxlanFrame({ ...o6, flags: 0 }, inner), 'vxlan-input'],
      ['truncated', vxlanFrame(o6, Buffer.alloc(10)), 'vxlan-input'],
      ['a wrong UDP checksum', badSum, 'not taken'],
      ['a zero UDP checksum', zeroSum, 'not taken'],
      ['same as the first', good(), 'fast'],
    ];
    const payloadOf = (f: Buffer) => f.subarray(14 + 56).toString('hex');
    await expectFastPath('ip6', 'vx6', cases, payloadOf, [['vxlan6-input', 'unknown-vni'], ['vxlan6-input', 'unknown-source'], ['vxlan6-input', 'no-i-flag'],
      ['vxlan6-input', 'truncated'], ['ip6-local', 'udp-checksum']], [1n, 1n, 1n, 1n, 2n]);
  });

  it('differential: on randomly damaged outer packets, the bypass (fast and full path) delivers exactly what local delivery and vxlan-input deliver', async () => {
    tunnel({ name: 'vxa', src: '198.18.0.1', dst: '198.18.0.2', vni: 61 });
    tunnel({ name: 'vxb', src: '198.18.0.1', dst: '198.18.0.3', vni: 62 });
    tunnel({ name: 'vx6a', src: '2001:db8::1', dst: '2001:db8::2', vni: 61 });
    tunnel({ name: 'vx6b', src: '2001:db8::1', dst: '2001:db8::3', vni: 62 });
    for (const t of ['vxa', 'vxb', 'vx6a', 'vx6b']) xconnect(t, 'pgOut');
    let seed = 12345;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    // IPv6 UDP checksum over pseudo header, UDP header and payload (the packet from its IPv6 header).
    const fixUdp6 = (ip: Buffer) => {
      const ulen = ip.length - 40;
      ip.writeUInt16BE(0, 46);
      const pseudo = Buffer.alloc(40);
      ip.copy(pseudo, 0, 8, 40);
      pseudo.writeUInt32BE(ulen, 32);
      pseudo[39] = 17;
      const c = checksum(Buffer.concat([pseudo, ip.subarray(40)]));
      ip.writeUInt16BE(c === 0 ? 0xffff : c, 46);
    };
    const packets = (family: 'ip4' | 'ip6') => Array.from({ length: 200 }, () => {
      const v6 = family === 'ip6';
      const k = rand(2);
      const o = v6
        ? { dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: k ? '2001:db8::3' : '2001:db8::2', dst: '2001:db8::1', sport: 49152 + rand(1000), vni: 61 + k, ttl: 1 + rand(255) }
        : { dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: k ? '198.18.0.3' : '198.18.0.2', dst: '198.18.0.1', sport: 49152 + rand(1000), vni: 61 + k, ttl: 1 + rand(255), id: rand(65536), df: rand(2) === 1 };
      const f = vxlanFrame(o, innerFrame({ size: 60 + rand(140), sport: rand(65536), srcMac: '02:bb:00:00:00:01', dstMac: '02:bb:00:00:00:02' }));
      if (rand(2)) return f; // clean: the fast path's case
      // One or two flipped bits anywhere from the IP header (past its first byte) to the inner
      // Ethernet header, then usually the checksums made right again (so that the damage gets
      // past ip-input and the UDP checksum to the decap checks).
      const outer = v6 ? 56 : 36;
      for (let n = 1 + rand(2); n > 0; n--) f[14 + 1 + rand(outer + 14 - 1)] ^= 1 << rand(8);
      if (rand(5)) {
        if (v6) fixUdp6(f.subarray(14));
        else {
          f.writeUInt16BE(0, 24);
          f.writeUInt16BE(checksum(f.subarray(14, 34)), 24);
        }
      }
      return f;
    });
    const run = async (shortcuts: boolean, frames: Buffer[]) => {
      vxlan.underlayShortcuts(shortcuts);
      try {
        const rx0 = ['vxa', 'vxb', 'vx6a', 'vx6b'].map((t) => counters(t).rxPackets);
        const drops0 = counters('pgU').drops;
        pg.capture('pgOut', 400);
        const delta = nodeDeltas(['ip4-vxlan-bypass', 'ip6-vxlan-bypass']);
        await send('pgU', frames);
        return {
          bypassed: delta(),
          delivered: pg.captured('pgOut').map((f) => f.toString('hex')).sort(),
          rx: ['vxa', 'vxb', 'vx6a', 'vx6b'].map((t, i) => counters(t).rxPackets - rx0[i]!),
          drops: counters('pgU').drops - drops0,
        };
      } finally {
        vxlan.underlayShortcuts(true);
      }
    };
    for (const family of ['ip4', 'ip6'] as const) {
      const frames = packets(family);
      const on = await run(true, frames);
      const off = await run(false, frames);
      // The bypass saw what passed ip-input (most), and was off for the reference.
      expect(on.bypassed[`${family}-vxlan-bypass`], family).toBeGreaterThan(150);
      expect(off.bypassed[`${family}-vxlan-bypass`], family).toBe(0);
      expect(on.delivered.length, `${family}: some damaged packets still decapsulate`).toBeGreaterThan(100);
      expect(on.delivered.length, `${family}: some are dropped`).toBeLessThan(200);
      expect({ delivered: on.delivered, rx: on.rx, drops: on.drops }, family).toEqual({ delivered: off.delivered, rx: off.rx, drops: off.drops });
    }
    for (const t of ['vxa', 'vxb', 'vx6a', 'vx6b']) xconnect(t, null);
    expectNoLeak();
  });

  it('an input ACL on the underlay interface sees VXLAN before the bypass does', async () => {
    tunnel({ name: 'vx4', src: '198.18.0.1', dst: '198.18.0.2', vni: 51 });
    xconnect('vx4', 'pgOut');
    pg.capture('pgOut', 10);
    const packet = vxlanFrame({ dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: '198.18.0.2', dst: '198.18.0.1', sport: 50000, vni: 51 }, inner);
    acl.setAcl('no-vxlan', [{ action: 'deny', protocol: 'udp', dstPort: 4789 }, { action: 'permit' }]);
    try {
      acl.applyAcls('pgU', { input: ['no-vxlan'] });
      const delta = nodeDeltas(['acl-ip4-in', 'ip4-vxlan-bypass']);
      await send('pgU', [packet]);
      expect(delta()).toEqual({ 'acl-ip4-in': 1, 'ip4-vxlan-bypass': 0 });
      expect(pg.captured('pgOut')).toHaveLength(0);
      acl.applyAcls('pgU', {});
      await send('pgU', [packet]);
      expect(pg.captured('pgOut').map((f) => f.toString('hex'))).toEqual([inner.toString('hex')]);
    } finally {
      acl.applyAcls('pgU', {});
      acl.deleteAcl('no-vxlan');
      xconnect('vx4', null);
    }
    expectNoLeak();
  });

  it('with the shortcuts off, the same bytes take ip-lookup on encap and ip-lookup + ip-local on decap', async () => {
    tunnel({ name: 'vx4', src: '198.18.0.1', dst: '198.18.0.2', vni: 41, df: true });
    expect(vxlan.underlayShortcuts(false)).toBe(false);
    try {
      expect(enabledOn('ip4-unicast', 'ip4-vxlan-bypass')).toEqual([]);
      xconnect('pgIn', 'vx4');
      pg.capture('pgU', 10);
      let delta = nodeDeltas(['ip4-lookup', 'ip4-rewrite', 'ip4-local', 'ip4-vxlan-bypass', 'vxlan4-input']);
      await send('pgIn', [inner], 2);
      expect(delta()).toMatchObject({ 'ip4-lookup': 2, 'ip4-rewrite': 2 });
      const out = pg.captured('pgU');
      const expected = vxlanFrame({ dstMac: REMOTE_MAC, srcMac: LOCAL_MAC, src: '198.18.0.1', dst: '198.18.0.2', sport: out[0]!.readUInt16BE(34), vni: 41, df: true }, inner);
      expect(out.map((f) => f.toString('hex'))).toEqual([expected.toString('hex'), expected.toString('hex')]);
      xconnect('pgIn', null);
      xconnect('vx4', 'pgOut');
      pg.capture('pgOut', 10);
      delta = nodeDeltas(['ip4-lookup', 'ip4-rewrite', 'ip4-local', 'ip4-vxlan-bypass', 'vxlan4-input']);
      await send('pgU', [vxlanFrame({ dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: '198.18.0.2', dst: '198.18.0.1', sport: 50000, vni: 41 }, inner)], 2);
      expect(delta()).toMatchObject({ 'ip4-lookup': 2, 'ip4-local': 2, 'ip4-vxlan-bypass': 0, 'vxlan4-input': 2 });
      expect(pg.captured('pgOut').map((f) => f.toString('hex'))).toEqual([inner.toString('hex'), inner.toString('hex')]);
    } finally {
      vxlan.underlayShortcuts(true);
      xconnect('vx4', null);
    }
    expect(enabledOn('ip4-unicast', 'ip4-vxlan-bypass').length).toBeGreaterThan(0);
    expectNoLeak();
  });

  it('the bypass is on every interface while a tunnel of its family exists, and off with the last one', () => {
    expect(enabledOn('ip4-unicast', 'ip4-vxlan-bypass')).toEqual([]);
    tunnel({ name: 'vx4', src: '198.18.0.1', dst: '198.18.0.2', vni: 31 });
    const all = engine.interfaces().map((i) => i.index).sort((a, b) => a - b);
    expect(enabledOn('ip4-unicast', 'ip4-vxlan-bypass')).toEqual(all);
    expect(enabledOn('ip6-unicast', 'ip6-vxlan-bypass')).toEqual([]);
    // An interface created later has it too.
    pg.createPgInterface({ name: 'pgLate' });
    try {
      expect(enabledOn('ip4-unicast', 'ip4-vxlan-bypass')).toContain(engine.findInterface('pgLate').index);
    } finally {
      engine.deleteInterface('pgLate');
    }
    vxlan.deleteTunnel('vx4');
    expect(enabledOn('ip4-unicast', 'ip4-vxlan-bypass')).toEqual([]);
  });
});

describe('vxlan tunnel API', () => {
  it('refuses bad tunnels naming the field', () => {
    expect(() => vxlan.createTunnel({ name: 't', src: '198.18.0.1', dst: '2001:db8::1', vni: 1 })).toThrow(/^dst: is IPv6 but src is IPv4/);
    expect(() => vxlan.createTunnel({ name: 't', src: '198.18.0.1', dst: '198.18.0.300', vni: 1 })).toThrow(/^dst: is not an IPv4 or IPv6 address/);
    expect(() => vxlan.createTunnel({ name: 't', src: '198.18.0.1', dst: '198.18.0.2', vni: 1 << 24 })).toThrow(/^vni: /);
    expect(() => vxlan.createTunnel({ name: 't', src: '198.18.0.1', dst: '198.18.0.2', vni: 1, dstPort: 4790 })).toThrow(/^dstPort: must be 4789 or 8472/);
    expect(() => vxlan.createTunnel({ name: 't', src: '198.18.0.1', dst: '239.1.1.1', vni: 1 })).toThrow(/^dst: must be a unicast address/);
    expect(() => vxlan.createTunnel({ name: 't', src: '198.18.0.1', dst: '198.18.0.1', vni: 1 })).toThrow(/^dst: equals src/);
    expect(() => vxlan.createTunnel({ name: 't', src: '198.18.0.1', dst: '198.18.0.2', vni: 1, encapVrf: 5 })).toThrow(/^encapVrf: table 5 does not exist/);
    expect(engine.interfaces().some((i) => i.name === 't')).toBe(false);
    vxlan.createTunnel({ name: 't', src: '198.18.0.1', dst: '198.18.0.2', vni: 1 });
    expect(() => vxlan.createTunnel({ name: 't2', src: '198.18.0.1', dst: '198.18.0.2', vni: 1 })).toThrow(/^vni: tunnel 't' already carries VNI 1/);
    expect(() => vxlan.createTunnel({ name: 't', src: '198.18.0.1', dst: '198.18.0.3', vni: 1 })).toThrow(/^name: interface 't' already exists/);
    const i = engine.findInterface('t');
    expect(i).toMatchObject({ driver: 'vxlan', mtu: 1450, adminUp: false, linkUp: true });
    expect(i.details).toMatchObject({ src: '198.18.0.1', dst: '198.18.0.2', vni: 1, dstPort: 4789, encapVrf: 0, ttl: 64, df: false });
    vxlan.createTunnel({ name: 't6', src: '2001:db8::1', dst: '2001:db8::2', vni: 1 });
    expect(engine.findInterface('t6').mtu).toBe(1430);
    expect(vxlan.tunnels().map((t) => t.name)).toEqual(['t', 't6']);
  });
});

describe('chained buffers (jumbo packets arrive as chains; test chains make them from pg frames)', () => {
  afterEach(() => vxlan.testChains(null));

  it('decap of chained outer packets through ip4/ip6-local, encap of chained inner frames (checksums across segments)', async () => {
    tunnel({ name: 'in4', src: '198.18.0.1', dst: '198.18.0.2', vni: 1 });
    tunnel({ name: 'in6', src: '2001:db8::1', dst: '2001:db8::2', vni: 3 });
    tunnel({ name: 'out6', src: '2001:db8::1', dst: '2001:db8::3', vni: 2, mtu: 8000 });
    tunnel({ name: 'out4', src: '198.18.0.1', dst: '198.18.0.3', vni: 4, mtu: 8000, df: true });
    xconnect('in4', 'out6');
    xconnect('in6', 'out4');
    const inners = [innerFrame({ size: 1400 }), innerFrame({ size: 1401, sport: 77 })];
    const udpErrors = errorCount('ip4-local', 'udp-checksum') + errorCount('ip6-local', 'udp-checksum');
    // Split after 100 and 101 bytes: the inner frame's second segment starts at an even and at
    // an odd offset. Outer IPv4 carries a UDP checksum here, so ip4-local verifies it over
    // the chain, as ip6-local always does.
    for (const chainAt of [100, 101]) {
      vxlan.testChains({ interface: 'pgU', chainAt });
      pg.capture('pgU', 10);
      const outer = { dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, sport: 50001 };
      await send('pgU', [
        ...inners.map((f) => vxlanFrame({ ...outer, src: '198.18.0.2', dst: '198.18.0.1', vni: 1, v4Checksum: true }, f)),
        ...inners.map((f) => vxlanFrame({ ...outer, src: '2001:db8::2', dst: '2001:db8::1', vni: 3 }, f)),
      ]);
      const out = pg.captured('pgU');
      expect(out, `chainAt ${chainAt}`).toHaveLength(4);
      const sent = { dstMac: REMOTE_MAC, srcMac: LOCAL_MAC };
      out.slice(0, 2).forEach((p, k) => {
        const expected = vxlanFrame({ ...sent, src: '2001:db8::1', dst: '2001:db8::3', sport: p.readUInt16BE(54), vni: 2 }, inners[k]!);
        expect(p.toString('hex'), `chainAt ${chainAt} IPv6 frame ${k}`).toBe(expected.toString('hex'));
      });
      out.slice(2).forEach((p, k) => {
        const expected = vxlanFrame({ ...sent, src: '198.18.0.1', dst: '198.18.0.3', sport: p.readUInt16BE(34), vni: 4, df: true }, inners[k]!);
        expect(p.toString('hex'), `chainAt ${chainAt} IPv4 frame ${k}`).toBe(expected.toString('hex'));
      });
    }
    expect(errorCount('ip4-local', 'udp-checksum') + errorCount('ip6-local', 'udp-checksum')).toBe(udpErrors);
    const bytes = BigInt(2 * (1400 + 1401));
    expect(counters('in4').rxBytes).toBe(bytes);
    expect(counters('out6').txBytes).toBe(bytes);
    expect(counters('in6').rxBytes).toBe(bytes);
    expect(counters('out4').txBytes).toBe(bytes);
    expectNoLeak();
  });

  it('a chained outer packet with a wrong UDP checksum is dropped by ip4-local', async () => {
    tunnel({ name: 'in4', src: '198.18.0.1', dst: '198.18.0.2', vni: 1 });
    xconnect('in4', 'pgOut');
    vxlan.testChains({ interface: 'pgU', chainAt: 101 });
    pg.capture('pgOut', 10);
    const bad = vxlanFrame({ dstMac: LOCAL_MAC, srcMac: REMOTE_MAC, src: '198.18.0.2', dst: '198.18.0.1', sport: 50001, vni: 1, v4Checksum: true }, innerFrame({ size: 600 }));
    bad[bad.length - 1] ^= 0x40; // in the second segment
    const before = errorCount('ip4-local', 'udp-checksum');
    await send('pgU', [bad]);
    expect(errorCount('ip4-local', 'udp-checksum') - before).toBe(1n);
    expect(pg.captured('pgOut')).toHaveLength(0);
    expectNoLeak();
  });
});
