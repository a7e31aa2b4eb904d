// Learning with two workers: worker 0 writes the MAC table inline, worker 1 hands learn
// events over its queue (drained by l2-fib-process on worker 0). Entries, moves, limits and
// counts must come out exact whichever worker saw the station.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import * as l2 from '../../graph/l2/bridge.js';
import * as pg from '../../graph/pg/pg.js';
import { expectNoLeak, sleep, useEngine, waitFor } from '../helpers/dataplane.js';
import { ethernet, ipv4Udp } from '../helpers/packets.js';
import { errorDeltas, send } from './helpers.js';

useEngine({ workers: 2 });

function pgOn(name: string, worker: number): void {
  pg.createPgInterface({ name, worker });
  engine.setInterfaceState(name, { adminUp: true });
}

const frame = (src: string, n = 0) =>
  ethernet({ src, dst: 'ff:ff:ff:ff:ff:ff' }, ipv4Udp({ src: '198.18.0.1', dst: '198.18.0.2', sport: n, dport: 1 }));

/** CPU time (user + system) of one thread, in seconds. */
function threadCpuSeconds(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function where(id: number, mac: string): string | undefined {
  return l2.showL2fib(id).find((e) => e.mac === mac)?.interface;
}

describe('learning with two workers', () => {
  it('learns through the queue of worker 1, once per station, and moves between workers', async () => {
    pgOn('w0a', 0);
    pgOn('w1a', 1);
    pgOn('w1b', 1);
    l2.createBridgeDomain({ id: 1 });
    for (const m of ['w0a', 'w1a', 'w1b']) l2.addBridgeMember(1, { interface: m });
    const d = errorDeltas('l2-fwd/mac-learned', 'l2-fwd/mac-move', 'l2-fwd/learn-queue-full');
    const station = '02:00:00:00:01:01';
    await send('w1a', [frame(station)], 2000);
    await waitFor(() => where(1, station) === 'w1a', 2000, 'the station learned via the queue');
    expect(d()).toEqual({ 'l2-fwd/mac-learned': 1n, 'l2-fwd/mac-move': 0n, 'l2-fwd/learn-queue-full': 0n });
    // Seen on worker 0 now: moved inline.
    await send('w0a', [frame(station, 1)]);
    expect(where(1, station)).toBe('w0a');
    // And back on worker 1's other interface: moved through the queue.
    await send('w1b', [frame(station, 2)], 50);
    await waitFor(() => where(1, station) === 'w1b', 2000, 'the move via the queue');
    expect(d()).toEqual({ 'l2-fwd/mac-learned': 1n, 'l2-fwd/mac-move': 2n, 'l2-fwd/learn-queue-full': 0n });
    expectNoLeak();
  });

  it('learns thousands of stations on both workers at once, exactly, within the limit', async () => {
    pgOn('s0', 0);
    pgOn('s1', 1);
    pgOn('sink', 0);
    l2.createBridgeDomain({ id: 2, macLimit: 3000, uuFlood: false });
    for (const m of ['s0', 's1', 'sink']) l2.addBridgeMember(2, { interface: m });
    const d = errorDeltas('l2-fwd/mac-learned', 'l2-fwd/mac-limit', 'l2-fwd/table-full');
    // 2000 distinct sources per interface: 02:00:<side>:00:00:00 + k, at once on both workers.
    for (const [name, side] of [['s0', 0xa0], ['s1', 0xb0]] as const) {
      pg.addStream(name, {
        name: `many-${name}`,
        count: 4000,
        rate: 20000, // at most ~2000 learn events before the first drain (100 ms): within the 4096-event queue
        template: { srcMac: `02:00:${side.toString(16)}:00:00:00`, dstMac: '02:00:00:00:ff:ff' },
        fields: [{ field: 'offset', offset: 8, width: 4, start: side * 0x1000000, count: 2000 }],
        enabled: true,
      });
    }
    await pg.waitStream('many-s0');
    await pg.waitStream('many-s1');
    await waitFor(() => l2.showBridgeDomain(2)[0]!.learned === 3000, 3000, '3000 learned');
    await waitFor(() => engine.buffers(true).inFlight === 0, 3000, 'buffers back');
    const entries = l2.showL2fib(2);
    expect(entries).toHaveLength(3000);
    for (const e of entries) expect(e.interface).toBe(e.mac.startsWith('02:00:a0') ? 's0' : 's1');
    const delta = d();
    expect(delta['l2-fwd/mac-learned']).toBe(3000n);
    expect(delta['l2-fwd/table-full']).toBe(0n);
    expect(delta['l2-fwd/mac-limit']).toBeGreaterThan(0n);
    expect(l2.clearL2fib(2)).toBe(3000);
    expect(l2.showBridgeDomain(2)[0]!.learned).toBe(0);
    expectNoLeak();
  });

  it('grows the MAC table while both workers forward: 40000 stations learned exactly, then forwarded to', async () => {
    pgOn('g0', 0);
    pgOn('g1', 1);
    pgOn('gs', 0);
    l2.createBridgeDomain({ id: 3, uuFlood: false });
    for (const m of ['g0', 'g1', 'gs']) l2.addBridgeMember(3, { interface: m });
    const start = l2.l2fibTable();
    expect(start).toMatchObject({ buckets: 4096, capacity: 524288 });
    expect(start.entries).toBeLessThan(10); // what earlier tests left
    const d = errorDeltas('l2-fwd/mac-learned', 'l2-fwd/table-full', 'l2-fwd/learn-queue-full');
    // 20000 sources per interface, worker 0 learning inline at full speed while worker 1 reads
    // the table and queues its own (rate-limited to fit its queue between drains).
    const streams = [['g0', 0xc0, undefined], ['g1', 0xd0, 20000]] as const;
    for (const [name, side, rate] of streams)
      pg.addStream(name, {
        name: `grow-${name}`,
        count: 20000,
        rate,
        template: { srcMac: `02:00:${side.toString(16)}:00:00:00`, dstMac: '02:00:00:00:ff:ff' },
        fields: [{ field: 'offset', offset: 8, width: 4, start: side * 0x1000000, count: 20000 }],
        enabled: true,
      });
    for (const [name] of streams) await pg.waitStream(`grow-${name}`);
    await waitFor(() => l2.showBridgeDomain(3)[0]!.learned === 40000, 5000, '40000 learned');
    await waitFor(() => engine.buffers(true).inFlight === 0, 3000, 'buffers back');
    expect(d()).toEqual({ 'l2-fwd/mac-learned': 40000n, 'l2-fwd/table-full': 0n, 'l2-fwd/learn-queue-full': 0n });
    // Doubled before passing half full: 4096 -> 8192 -> 16384 -> 32768 buckets.
    expect(l2.l2fibTable()).toEqual({ entries: start.entries + 40000, buckets: 32768, slots: 131072, capacity: 524288, grows: start.grows + 3 });
    const entries = l2.showL2fib(3);
    expect(entries).toHaveLength(40000);
    for (const e of entries) expect(e.interface).toBe(e.mac.startsWith('02:00:c0') ? 'g0' : 'g1');
    // Every station is found after the moves: frames to 500 of each side leave on its port only.
    for (const n of ['g0', 'g1']) pg.capture(n, 1000);
    const to = (side: number, k: number) => `02:00:${side.toString(16)}:00:${((k >> 8) & 0xff).toString(16).padStart(2, '0')}:${(k & 0xff).toString(16).padStart(2, '0')}`;
    const ks = Array.from({ length: 500 }, (_, i) => i * 40);
    const frames = ks.flatMap((k) => [0xc0, 0xd0].map((side) => ethernet({ src: '02:00:00:00:0e:0e', dst: to(side, k) }, ipv4Udp({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 1 }))));
    pg.addStream('gs', { name: 'to-stations', packets: frames, count: frames.length, enabled: true });
    await pg.waitStream('to-stations');
    await waitFor(() => engine.buffers(true).inFlight === 0, 3000, 'buffers back');
    const dst = (f: Buffer) => [...f.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
    expect(pg.captured('g0').map(dst)).toEqual(ks.map((k) => to(0xc0, k)));
    expect(pg.captured('g1').map(dst)).toEqual(ks.map((k) => to(0xd0, k)));
    expect(l2.clearL2fib(3)).toBe(40001); // and the sender, learned on gs
    expect(l2.l2fibTable().entries).toBe(start.entries);
    expectNoLeak();
  });

  it('keeps idle workers asleep while bridge domains with learned MACs exist', async () => {
    // The bridge domains and entries of the tests above are still there: aging and learn-queue
    // draining run, but rarely enough that an idle worker stays (nearly) asleep.
    expect(l2.showBridgeDomain().length).toBeGreaterThan(0);
    expect(l2.showL2fib().length).toBeGreaterThan(0);
    await sleep(1200); // past the fast-drain second of the traffic above
    const before = engine.workers().map((w) => threadCpuSeconds(w.tid));
    await sleep(2000);
    const after = engine.workers().map((w) => threadCpuSeconds(w.tid));
    after.forEach((a, i) => expect(a - before[i]!, `worker ${i} CPU seconds`).toBeLessThan(0.1));
  });
});
