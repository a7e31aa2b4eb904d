// The packet generator itself: synthesized templates, incrementing fields, size ranges, pcap
// replay, rate limit; checked against bytes built independently.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import { expectNoLeak, sleep, useEngine } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';

useEngine();
const dir = mkdtempSync(join(tmpdir(), 'quiver-pg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let pair = 0;
function newPair(): [string, string] {
  const a = `pa${pair}`, b = `pb${pair++}`;
  pg.createPgInterface({ name: a });
  pg.createPgInterface({ name: b });
  engine.setInterfaceState(a, { adminUp: true });
  engine.setInterfaceState(b, { adminUp: true });
  xconnectPair(a, b);
  pg.capture(b, 10000);
  return [a, b];
}

function pcapFile(frames: Buffer[]): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(65535, 16);
  h.writeUInt32LE(1, 20);
  const recs = frames.map((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(1000 + i, 0);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return Buffer.concat([r, f]);
  });
  return Buffer.concat([h, ...recs]);
}

describe('pg', () => {
  it('synthesizes Ethernet/IPv4/UDP exactly as specified', async () => {
    const [a, b] = newPair();
    pg.addStream(a, {
      name: 'tpl', size: 64, count: 3, enabled: true,
      template: { srcMac: '02:00:00:00:00:0a', dstMac: '02:00:00:00:00:0b', srcIp: '198.18.0.10', dstIp: '198.19.0.20', srcPort: 5000, dstPort: 6000, ttl: 17 },
    });
    await pg.waitStream('tpl');
    const payload = Buffer.alloc(64 - 14 - 28);
    for (let i = 0; i < payload.length; i++) payload[i] = (42 + i) & 0xff;
    const expected = ethernet({ dst: '02:00:00:00:00:0b', src: '02:00:00:00:00:0a' },
      ipv4Udp({ src: '198.18.0.10', dst: '198.19.0.20', sport: 5000, dport: 6000, ttl: 17, payload }));
    const out = pg.captured(b);
    expect(out).toHaveLength(3);
    for (const f of out) expect(f.toString('hex')).toBe(expected.toString('hex'));
  });

  it('increments fields per packet and fixes lengths and checksums across a size range', async () => {
    const [a, b] = newPair();
    pg.addStream(a, {
      name: 'inc', sizeMin: 60, sizeMax: 63, count: 8, enabled: true,
      template: { srcIp: '198.18.0.1', dstIp: '198.19.0.1', srcPort: 100, dstPort: 200 },
      fields: [{ field: 'dst-ip', count: 4 }, { field: 'src-port', step: 2, count: 3 }],
    });
    await pg.waitStream('inc');
    const out = pg.captured(b);
    expect(out).toHaveLength(8);
    out.forEach((f, i) => {
      const size = 60 + (i % 4);
      const payload = Buffer.alloc(size - 42);
      for (let k = 0; k < payload.length; k++) payload[k] = (42 + k) & 0xff;
      const dst = `198.19.0.${1 + (i % 4)}`;
      const expected = ethernet({}, ipv4Udp({ src: '198.18.0.1', dst, sport: 100 + 2 * (i % 3), dport: 200, payload }));
      expect(f.toString('hex'), `packet ${i}`).toBe(expected.toString('hex'));
    });
  });

  it('replays a pcap file in order', async () => {
    const [a, b] = newPair();
    const frames = [1, 2, 3].map((n) => ethernet({}, ipv4Udp({ src: '198.18.0.1', dst: `198.18.0.${n}`, sport: n, dport: n })));
    const file = join(dir, 'in.pcap');
    writeFileSync(file, pcapFile(frames));
    pg.addStream(a, { name: 'replay', pcap: file, count: 6, enabled: true });
    await pg.waitStream('replay');
    const out = pg.captured(b);
    expect(out.map((f) => f.toString('hex'))).toEqual([...frames, ...frames].map((f) => f.toString('hex')));
    expect(() => pg.addStream(a, { name: 'r2', pcap: join(dir, 'missing.pcap') })).toThrow(/^pcap file '.*missing.pcap': /);
    writeFileSync(join(dir, 'junk.pcap'), Buffer.from('not a pcap file at all, really not'));
    expect(() => pg.addStream(a, { name: 'r3', pcap: join(dir, 'junk.pcap') })).toThrow(/bad magic/);
  });

  it('limits the rate', async () => {
    const [a] = newPair();
    pg.addStream(a, { name: 'slow', size: 64, rate: 1000, enabled: true });
    await sleep(500);
    pg.enableStream('slow', false);
    const sent = pg.streamStatus('slow').sent;
    // 1000 pps for 0.5 s: a generous window, this checks the limiter works, not timing precision.
    expect(sent).toBeGreaterThan(200);
    expect(sent).toBeLessThan(900);
    await sleep(20);
    expectNoLeak();
  });

  it('shares the worker between unlimited streams (none starves behind the first)', async () => {
    const [a] = newPair();
    const [c] = newPair();
    pg.addStream(a, { name: 'flat-a', size: 64 });
    pg.addStream(c, { name: 'flat-c', size: 64 });
    pg.enableStream('flat-a');
    pg.enableStream('flat-c');
    await sleep(200);
    pg.enableStream('flat-a', false);
    pg.enableStream('flat-c', false);
    const x = pg.streamStatus('flat-a').sent, y = pg.streamStatus('flat-c').sent;
    // One frame from each per dispatch: equal within a few frames.
    expect(x).toBeGreaterThan(10000);
    expect(y).toBeGreaterThan(x / 2);
    expect(y).toBeLessThan(x * 2);
    pg.deleteStream('flat-a');
    pg.deleteStream('flat-c');
    await sleep(20);
    expectNoLeak();
  });

  it('stops a counted stream exactly at its count and can restart it', async () => {
    const [a, b] = newPair();
    pg.addStream(a, { name: 'cnt', size: 100, count: 1000, enabled: true });
    await pg.waitStream('cnt');
    expect(pg.streamStatus('cnt')).toEqual({ sent: 1000, enabled: false, limit: 1000 });
    pg.enableStream('cnt');
    await pg.waitStream('cnt');
    expect(engine.statsSegment().interfaceCounters(engine.findInterface(b).index).txPackets).toBe(2000n);
    pg.deleteStream('cnt');
    expect(() => pg.streamStatus('cnt')).toThrow(/^stream: no stream 'cnt'/);
    expectNoLeak();
  });
});
