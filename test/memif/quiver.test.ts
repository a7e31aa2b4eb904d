// Quiver <-> Quiver over memif: a server and a client interface of one engine on one socket,
// traffic both ways compared byte for byte, chained descriptors, disconnect/reconnect, secret,
// mode and id checks, several interfaces per socket, interrupt mode, bad arguments.
import { afterAll, describe, expect, it } from 'vitest';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import * as memif from '../../memif/memif.js';
import * as engine from '../../src/engine.js';
import { expectNoLeak, useEngine, waitFor } from '../helpers/dataplane.js';
import { frames, sendWindowed, tempDir } from './helpers.js';

useEngine({ workers: 1 });
const tmp = tempDir();
afterAll(() => tmp.cleanup());

const up = (...names: string[]) => names.forEach((n) => engine.setInterfaceState(n, { adminUp: true }));
const counters = (n: string) => engine.statsSegment().interfaceCounters(engine.findInterface(n).index);
const errorCount = (node: string, name: string) =>
  engine.statsSegment().errors(true).find((e) => e.node === node && e.name === name)!.count;

/** pgA -> server -> client -> pgB and back. */
async function pair(tag: string, server: Partial<memif.MemifConfig> = {}, client: Partial<memif.MemifConfig> = {}) {
  const socket = `${tmp.dir}/${tag}.sock`;
  const s = `${tag}-s`, c = `${tag}-c`, a = `${tag}-pa`, b = `${tag}-pb`;
  memif.createMemif({ name: s, role: 'server', socket, id: 3, ...server });
  memif.createMemif({ name: c, role: 'client', socket, id: 3, ...client });
  pg.createPgInterface({ name: a });
  pg.createPgInterface({ name: b });
  up(s, c, a, b);
  xconnectPair(a, s);
  xconnectPair(c, b);
  await memif.waitMemifConnected(s);
  await memif.waitMemifConnected(c);
  return { socket, s, c, a, b };
}

describe('memif: Quiver server <-> Quiver client', () => {
  it('connects on one socket and shows role, state, regions, rings and peer on both sides', async () => {
    const t = await pair('show');
    const [s] = memif.showMemif(t.s);
    const [c] = memif.showMemif(t.c);
    expect(s).toMatchObject({ role: 'server', socket: t.socket, id: 3, state: 'connected', linkUp: true, mode: 'ethernet' });
    expect(c).toMatchObject({ role: 'client', socket: t.socket, id: 3, state: 'connected', linkUp: true });
    expect(s.peer).toEqual({ name: expect.stringMatching(/^Quiver /), interfaceName: t.c });
    expect(c.peer).toEqual({ name: expect.stringMatching(/^Quiver /), interfaceName: t.s });
    // One region: 2 rings of (128 + 16 * 1024) bytes, then 2 * 1024 buffers of 2048 bytes.
    const size = 2 * (128 + 16 * 1024) + 2 * 1024 * 2048;
    expect(s.regions).toEqual([{ index: 0, size, sealed: true }]);
    expect(c.regions).toEqual([{ index: 0, size, sealed: true }]);
    // The client posted every server-to-client slot; nothing else moved yet.
    expect(c.rings.find((r) => r.direction === 'rx')).toMatchObject({ size: 1024, offset: 16512, head: 1024, tail: 0 });
    expect(s.rings.find((r) => r.direction === 'tx')).toMatchObject({ size: 1024, offset: 16512, head: 1024, tail: 0 });
    expect(s.rings.find((r) => r.direction === 'rx')).toMatchObject({ offset: 0, head: 0, tail: 0 });
    expect(memif.formatShowMemif([s])).toMatch(/server id 3 socket .*\n\s+state connected/);
  });

  it('forwards frames both ways unchanged, with exact counters', async () => {
    const t = await pair('fwd');
    const out = [...frames(300, 64), ...frames(100, 1500, 300), ...frames(20, 2112, 400)];
    const back = frames(200, 128, 1000);
    pg.capture(t.b, 1000);
    pg.capture(t.a, 1000);
    await sendWindowed(t.a, out, 256, () => pg.captured(t.b).length);
    await sendWindowed(t.b, back, 256, () => pg.captured(t.a).length);
    const gotB = pg.captured(t.b), gotA = pg.captured(t.a);
    expect(gotB).toHaveLength(out.length);
    gotB.forEach((f, i) => expect(f.equals(out[i]!), `frame ${i}`).toBe(true));
    expect(gotA).toHaveLength(back.length);
    gotA.forEach((f, i) => expect(f.equals(back[i]!), `back ${i}`).toBe(true));
    const bytes = BigInt(out.reduce((n, f) => n + f.length, 0));
    expect(counters(t.s)).toMatchObject({ txPackets: BigInt(out.length), txBytes: bytes, rxPackets: BigInt(back.length), txNoSpace: 0n });
    expect(counters(t.c)).toMatchObject({ rxPackets: BigInt(out.length), rxBytes: bytes, txPackets: BigInt(back.length) });
    // One slot per frame, two for the 2112-byte ones (2048-byte ring buffers).
    const [c] = memif.showMemif(t.c);
    const slots = 300 + 100 + 2 * 20;
    expect(c.rings.find((r) => r.direction === 'rx')).toMatchObject({ tail: slots, head: slots + 1024 });
    expect(c.rings.find((r) => r.direction === 'tx')).toMatchObject({ head: back.length, tail: back.length });
    expectNoLeak();
  });

  it('traces packets from memif-input to memif-tx', async () => {
    const t = await pair('trace');
    engine.traceClear();
    engine.traceAdd('memif-input', 2);
    pg.capture(t.b, 10);
    await sendWindowed(t.a, frames(4, 64), 4, () => pg.captured(t.b).length);
    const rec = engine.traceGet();
    expect(rec).toHaveLength(2);
    for (const r of rec) {
      expect(r.entries.map((e) => e.node)).toEqual(['memif-input', 'ethernet-input', 'l2-xconnect', 'pg-output']);
      expect(r.entries[0]!.text).toMatch(/^memif \d+ queue 0 slot \d+, 64 bytes\n\s+020000000002020000000001/);
    }
    engine.traceClear();
    engine.traceAdd('pg-input', 1);
    await sendWindowed(t.a, frames(1, 64), 1, () => pg.captured(t.b).length);
    expect(engine.traceGet()[0]!.entries.map((e) => e.node)).toEqual(['pg-input', 'ethernet-input', 'l2-xconnect', 'memif-tx']);
    expect(engine.traceGet()[0]!.entries[3]!.text).toMatch(/^memif \d+ tx ring 0, 64 bytes$/);
    engine.traceClear();
    expectNoLeak();
  });

  it('chains descriptors when a frame is larger than the ring buffers, both ways', async () => {
    const t = await pair('chain', {}, { bufferSize: 128 });
    const big = frames(30, 1500);
    const mixed = [...frames(10, 200, 50), ...frames(10, 129, 60), ...frames(10, 128, 70)];
    pg.capture(t.b, 100);
    pg.capture(t.a, 100);
    await sendWindowed(t.a, big, 30, () => pg.captured(t.b).length);
    await sendWindowed(t.b, mixed, 30, () => pg.captured(t.a).length);
    pg.captured(t.b).forEach((f, i) => expect(f.equals(big[i]!), `big ${i}`).toBe(true));
    pg.captured(t.a).forEach((f, i) => expect(f.equals(mixed[i]!), `mixed ${i}`).toBe(true));
    expect(pg.captured(t.a)).toHaveLength(30);
    // 1500 bytes in 128-byte buffers: 12 descriptors a frame; 200 -> 2, 129 -> 2, 128 -> 1.
    const [c] = memif.showMemif(t.c);
    expect(c.rings.find((r) => r.direction === 'rx')!.tail).toBe(30 * 12);
    expect(c.rings.find((r) => r.direction === 'tx')!.head).toBe(10 * 2 + 10 * 2 + 10);
    expectNoLeak();
  });

  it('works with the 128-byte cache-line ring layout of some Arm builds', async () => {
    const t = await pair('cl128', { cacheLine: 128 }, { cacheLine: 128, log2RingSize: 4 });
    const [c] = memif.showMemif(t.c);
    // Ring header 256 bytes (tail on line 1 of 128, descriptors after line 2) + 16 descriptors.
    expect(c.rings.find((r) => r.direction === 'rx')).toMatchObject({ offset: 256 + 16 * 16, size: 16 });
    expect(c.regions[0]!.size).toBe(2 * (256 + 16 * 16) + 2 * 16 * 2048);
    pg.capture(t.b, 100);
    const f = frames(40, 300);
    await sendWindowed(t.a, f, 10, () => pg.captured(t.b).length);
    pg.captured(t.b).forEach((x, i) => expect(x.equals(f[i]!)).toBe(true));
    expectNoLeak();
  });

  it('goes link-down when the peer leaves, keeps listening, and reconnects; admin down disconnects', async () => {
    const t = await pair('recon');
    memif.deleteMemif(t.c);
    await waitFor(() => !memif.showMemif(t.s)[0]!.linkUp, 3000, 'server link down');
    const [s] = memif.showMemif(t.s);
    expect(s).toMatchObject({ state: 'listening', rings: [], regions: [] });
    expect(s.counters).toMatchObject({ connects: 1, disconnects: 1 });
    expect(s.lastDisconnect).toMatch(/interface deleted/);
    // Packets towards a disconnected memif are dropped and counted, never queued.
    const before = errorCount('memif-tx', 'not-connected');
    pg.addStream(t.a, { name: 'recon-down', packets: frames(5, 64), count: 5, enabled: true });
    await pg.waitStream('recon-down');
    await waitFor(() => errorCount('memif-tx', 'not-connected') - before === 5n, 2000, 'not-connected drops');
    memif.createMemif({ name: t.c, role: 'client', socket: t.socket, id: 3 });
    up(t.c);
    xconnectPair(t.c, t.b);
    await memif.waitMemifConnected(t.s);
    pg.capture(t.b, 100);
    await sendWindowed(t.a, frames(50, 100), 50, () => pg.captured(t.b).length);
    expect(memif.showMemif(t.s)[0]!.counters.connects).toBe(2);
    // The server side goes administratively down: the client is told, waits, reconnects later.
    engine.setInterfaceState(t.s, { adminUp: false });
    await waitFor(() => memif.showMemif(t.c)[0]!.state === 'connecting', 3000, 'client back to connecting');
    expect(memif.showMemif(t.c)[0]!.lastDisconnect).toMatch(/peer: interface administratively down/);
    engine.setInterfaceState(t.s, { adminUp: true });
    await memif.waitMemifConnected(t.c, 5000);
    pg.capture(t.b, 100);
    await sendWindowed(t.a, frames(20, 100), 20, () => pg.captured(t.b).length);
    expectNoLeak();
  });

  it('checks id, secret and mode before binding, counting each refusal', async () => {
    const socket = `${tmp.dir}/auth.sock`;
    memif.createMemif({ name: 'auth-s', role: 'server', socket, id: 1, secret: 'open sesame' });
    memif.createMemif({ name: 'auth-ip', role: 'server', socket, id: 2, mode: 'ip' });
    up('auth-s', 'auth-ip');
    const tries: [string, Partial<memif.MemifConfig>, string, RegExp][] = [
      ['auth-nosecret', { id: 1 }, 'bad-secret', /secret required/],
      ['auth-wrong', { id: 1, secret: 'open barley' }, 'bad-secret', /incorrect secret/],
      ['auth-mode', { id: 2 }, 'mode-mismatch', /mode mismatch/],
      ['auth-id', { id: 9 }, 'unknown-id', /unmatched interface id \(id 9\)/],
    ];
    for (const [name, cfg, error, text] of tries) {
      const before = errorCount('memif-control', error);
      memif.createMemif({ name, role: 'client', socket, ...cfg });
      up(name);
      await waitFor(() => (memif.showMemif(name)[0]!.lastDisconnect ?? '').length > 0, 3000, `${name} refused`);
      const [d] = memif.showMemif(name);
      expect(d.state).not.toBe('connected');
      expect(d.lastDisconnect).toMatch(text);
      expect(d.lastDisconnect).toMatch(/^peer: /);
      expect(errorCount('memif-control', error)).toBeGreaterThan(before);
      expect(memif.showMemif('auth-s')[0]!.state).toBe('listening');
      memif.deleteMemif(name);
    }
    memif.createMemif({ name: 'auth-ok', role: 'client', socket, id: 1, secret: 'open sesame' });
    memif.createMemif({ name: 'auth-ipok', role: 'client', socket, id: 2, mode: 'ip' });
    up('auth-ok', 'auth-ipok');
    await memif.waitMemifConnected('auth-s');
    await memif.waitMemifConnected('auth-ip');
    expect(memif.showMemif('auth-s')[0]!.secret).toBe(true);
  });

  it('serves several ids on one socket and works over the abstract namespace', async () => {
    const socket = `@qm-${process.pid}-abs`;
    for (const id of [10, 11]) {
      memif.createMemif({ name: `ab-s${id}`, role: 'server', socket, id });
      memif.createMemif({ name: `ab-c${id}`, role: 'client', socket, id });
      pg.createPgInterface({ name: `ab-p${id}` });
      pg.createPgInterface({ name: `ab-q${id}` });
      up(`ab-s${id}`, `ab-c${id}`, `ab-p${id}`, `ab-q${id}`);
      xconnectPair(`ab-p${id}`, `ab-s${id}`);
      xconnectPair(`ab-c${id}`, `ab-q${id}`);
    }
    await memif.waitMemifConnected('ab-c10');
    await memif.waitMemifConnected('ab-c11');
    pg.capture('ab-q10', 100);
    pg.capture('ab-q11', 100);
    const f10 = frames(10, 80, 100), f11 = frames(7, 90, 200);
    await sendWindowed('ab-p10', f10, 10, () => pg.captured('ab-q10').length);
    await sendWindowed('ab-p11', f11, 7, () => pg.captured('ab-q11').length);
    expect(pg.captured('ab-q10').map((f) => f.toString('hex'))).toEqual(f10.map((f) => f.toString('hex')));
    expect(pg.captured('ab-q11').map((f) => f.toString('hex'))).toEqual(f11.map((f) => f.toString('hex')));
    expectNoLeak();
  });

  it('runs in interrupt mode: the worker sleeps and the peer eventfd wakes it', async () => {
    const t = await pair('intr', { rxMode: 'interrupt' }, { rxMode: 'interrupt' });
    const [s] = memif.showMemif(t.s);
    expect(s.rings.find((r) => r.direction === 'rx')!.interrupts).toBe('enabled');
    pg.capture(t.b, 100);
    const w = () => engine.statsSegment().workerCounters()[0]!;
    const sleeps = w().sleeps;
    for (let k = 0; k < 5; k++) {
      await sendWindowed(t.a, frames(4, 64, k * 4), 4, () => pg.captured(t.b).length);
      await new Promise((r) => setTimeout(r, 30));  // idle: the worker goes to sleep
    }
    expect(pg.captured(t.b)).toHaveLength(20);
    expect(w().sleeps).toBeGreaterThan(sleeps);
    engine.setRxMode(t.s, 0, 'polling');
    engine.setRxMode(t.c, 0, 'polling');
    await sendWindowed(t.a, frames(4, 64, 100), 4, () => pg.captured(t.b).length);
    await waitFor(() => memif.showMemif(t.c)[0]!.rings.find((r) => r.direction === 'rx')!.interrupts === 'masked', 2000, 'polling masks');
    engine.setRxMode(t.s, 0, 'adaptive');
    engine.setRxMode(t.c, 0, 'adaptive');
    expectNoLeak();
  });

  it('refuses bad arguments naming the field, creating nothing', () => {
    const socket = `${tmp.dir}/bad.sock`;
    const base = { name: 'bad', role: 'server' as const, socket };
    expect(() => memif.createMemif({ ...base, socket: 'relative.sock' })).toThrow(/^socket: must be an absolute path/);
    expect(() => memif.createMemif({ ...base, role: 'master' as never })).toThrow(/^role: /);
    expect(() => memif.createMemif({ ...base, log2RingSize: 15 })).toThrow(/^log2RingSize: /);
    expect(() => memif.createMemif({ ...base, bufferSize: 64 })).toThrow(/^bufferSize: /);
    expect(() => memif.createMemif({ ...base, secret: 'x'.repeat(25) })).toThrow(/^secret: /);
    expect(() => memif.createMemif({ ...base, mode: 'punt' as never })).toThrow(/^mode: /);
    expect(() => memif.createMemif({ ...base, id: -1 })).toThrow(/^id: /);
    expect(() => memif.createMemif({ ...base, rxQueues: 0 })).toThrow(/^rxQueues: /);
    expect(() => memif.createMemif({ ...base, cacheLine: 32 as never })).toThrow(/^cacheLine: /);
    expect(() => memif.createMemif({ ...base, bogus: 1 } as never)).toThrow(/^bogus: unknown key/);
    expect(() => memif.createMemif({ ...base, worker: 5 })).toThrow(/^worker: 5 does not exist/);
    expect(() => memif.createMemif({ ...base, socket: `${tmp.dir}/f`.padEnd(120, 'x') })).toThrow(/^socket: /);
    memif.createMemif(base);
    expect(() => memif.createMemif({ ...base, name: 'bad2' })).toThrow(/^id: server interface id 0 already exists on socket/);
    expect(() => memif.createMemif({ ...base, role: 'client' })).toThrow(/^name: interface 'bad' already exists/);
    expect(() => memif.deleteMemif('nope')).toThrow(/^interface: no interface 'nope'/);
    expect(memif.showMemif().filter((d) => d.name.startsWith('bad'))).toHaveLength(1);
    memif.deleteMemif('bad');
    expect(() => memif.showMemif('bad')).toThrow(/^interface: no memif interface 'bad'/);
  });
});
