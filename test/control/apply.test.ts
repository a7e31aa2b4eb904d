// Apply by difference on a live dataplane: only what changed is touched (native calls are
// counted, untouched interfaces keep their index and counters), an invalid config changes
// nothing, a step that fails midway is reverted, and restart-only settings are refused.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addon } from '../../src/addon.js';
import type { Config } from '../../src/config.js';
import { Dataplane } from '../../src/dataplane.js';
import { expectNoLeak } from '../helpers/dataplane.js';

let dp: Dataplane;
beforeAll(() => {
  dp = Dataplane.start({ workers: { count: 1 }, buffers: { count: 16384 } });
});
afterAll(() => dp.stop());

const MUTATORS = ['pgCreate', 'deleteInterface', 'setInterfaceState', 'xconnect', 'pgStream', 'pgStreamDelete', 'pgStreamEnable', 'setRxMode', 'setRxPlacement'] as const;

/** Counts every native call that changes state while fn runs: name -> args of each call. */
async function nativeCalls(fn: () => Promise<unknown>): Promise<string[]> {
  const a = addon() as unknown as Record<string, (...x: unknown[]) => unknown>;
  const calls: string[] = [];
  const originals = MUTATORS.map((m) => [m, a[m]!] as const);
  for (const [m, orig] of originals)
    vi.spyOn(a, m).mockImplementation((...args: unknown[]) => {
      calls.push(`${m}(${args.map((x) => JSON.stringify(x)).join(', ')})`);
      return orig.apply(a, args);
    });
  try {
    await fn();
  } finally {
    vi.restoreAllMocks();
  }
  return calls;
}

const stream = (name: string, count: number) => ({ name, size: 64, count, enabled: true });
const base = (): Record<string, unknown> => ({
  interfaces: [
    { type: 'pg', name: 'a0', streams: [stream('sa', 500)] },
    { type: 'pg', name: 'a1' },
    { type: 'pg', name: 'b0', mtu: 1500 },
  ],
  xconnect: [{ rx: 'a0', tx: 'a1' }],
});
function snapshot() {
  return dp.interfaces.list().map((i) => ({ name: i.name, index: i.index, mtu: i.mtu, adminUp: i.adminUp, mode: i.mode, peer: i.xconnectPeer, counters: dp.interfaces.counters(i.name) }));
}

describe('apply by difference', () => {
  it('creates everything on the first apply, brings interfaces up last (traffic sources after the rest), forwards', async () => {
    const r = await dp.apply(base());
    expect(r.changes).toEqual([
      'create interface a0 (pg)', 'create interface a1 (pg)', 'create interface b0 (pg, mtu 1500)',
      'xconnect a0 -> a1', 'xconnect a1 -> a0',
      // a0's stream starts when a0 is up: a1 must already be up, or its first vector is dropped.
      'set interface state a1 up', 'set interface state b0 up', 'set interface state a0 up',
    ]);
    await dp.pg.waitStream('sa');
    expect(dp.interfaces.counters('a1').txPackets).toBe(500n);
    // Interfaces came up after the cross-connect: not one packet was dropped at start.
    expect(dp.interfaces.counters('a0').drops).toBe(0n);
    expect(dp.interfaces.get('b0').mtu).toBe(1500);
    expectNoLeak();
  });

  it('applying the same config touches nothing', async () => {
    const before = snapshot();
    let r;
    const calls = await nativeCalls(async () => (r = await dp.apply(base())));
    expect(r!.changes).toEqual([]);
    expect(calls).toEqual([]);
    expect(snapshot()).toEqual(before);
  });

  it('touches only what changed: untouched interfaces keep index, state and counters', async () => {
    const before = snapshot();
    const next = base();
    (next.interfaces as Record<string, unknown>[])[2]!.mtu = 9000;
    (next.interfaces as Record<string, unknown>[]).push({ type: 'pg', name: 'c0', state: 'down' });
    let r;
    const calls = await nativeCalls(async () => (r = await dp.apply(next)));
    expect(r!.changes).toEqual(['set interface mtu b0 9000', 'create interface c0 (pg)']);
    const b0 = before.find((i) => i.name === 'b0')!.index;
    expect(calls).toEqual([`setInterfaceState(${b0}, {"mtu":9000})`, 'pgCreate({"name":"c0"})']);
    const after = snapshot();
    for (const name of ['a0', 'a1']) expect(after.find((i) => i.name === name)).toEqual(before.find((i) => i.name === name));
    expect(after.find((i) => i.name === 'c0')).toMatchObject({ adminUp: false, mode: 'l3' });
    expect(dp.config().interfaces!.map((i) => i.name)).toEqual(['a0', 'a1', 'b0', 'c0']);
  });

  it('changes a stream in place without re-creating its interface', async () => {
    const before = snapshot();
    const next = base();
    (next.interfaces as Record<string, unknown>[])[2]!.mtu = 9000;
    (next.interfaces as Record<string, unknown>[]).push({ type: 'pg', name: 'c0', state: 'down' });
    (next.interfaces as Record<string, unknown>[])[0]!.streams = [stream('sa', 300)];
    let r;
    const calls = await nativeCalls(async () => (r = await dp.apply(next)));
    expect(r!.changes).toEqual(['pg a0: delete stream sa', 'pg a0: add stream sa']);
    expect(calls.map((c) => c.split('(')[0])).toEqual(['pgStreamDelete', 'pgStream']);
    await dp.pg.waitStream('sa');
    const a0 = snapshot().find((i) => i.name === 'a0')!;
    expect(a0.index).toBe(before.find((i) => i.name === 'a0')!.index);
    expect(a0.counters.rxPackets).toBe(800n); // counters kept: 500 before + 300 now
    expectNoLeak();
  });

  it('an invalid config changes nothing and names the field', async () => {
    const before = snapshot();
    const running = dp.config();
    const bad = { ...base(), xconnect: [{ rx: 'a0', tx: 'ghost' }], interfaces: [...(base().interfaces as object[]), { type: 'pg', name: 'x9', mtu: 5 }] };
    let err: unknown;
    const calls = await nativeCalls(async () => {
      err = await dp.apply(bad).catch((e) => e);
    });
    expect(String((err as Error).message)).toMatch(/interfaces\[3\]\.mtu: Number must be greater than or equal to 68/);
    expect(calls).toEqual([]);
    const bad2 = { ...dp.config(), xconnect: [{ rx: 'a0', tx: 'ghost' }] };
    await expect(dp.apply(bad2)).rejects.toThrow("xconnect[0].tx: no interface 'ghost'");
    expect(snapshot()).toEqual(before);
    expect(dp.config()).toEqual(running);
  });

  it('a step that fails midway is reverted: the dataplane is as before', async () => {
    const before = snapshot();
    const running = dp.config();
    const next = dp.config() as Config;
    next.interfaces!.push({ type: 'pg', name: 'd0', state: 'up' });
    next.interfaces!.find((i) => i.name === 'b0')!.mtu = 2000;
    next.xconnect = [{ rx: 'a0', tx: 'a1', bidirectional: true }, { rx: 'c0', tx: 'd0', bidirectional: true }];
    // pg has one rx queue: queue 7 passes validation (queues are the driver's) but fails natively.
    next.interfaces!.find((i) => i.name === 'c0')!.rxPlacement = [{ queue: 7, worker: 0 }];
    await expect(dp.apply(next)).rejects.toThrow(
      /^interfaces\[3\]\.rxPlacement\[0\]\.queue: c0 has no rx queue 7 \(while: set interface rx-placement c0 queue 7 worker 0\); nothing was changed$/,
    );
    expect(snapshot()).toEqual(before);
    expect(dp.interfaces.list().some((i) => i.name === 'd0')).toBe(false);
    expect(dp.config()).toEqual(running);
  });

  it('deletes in reverse: the cross-connect goes before its interface', async () => {
    const next = dp.config();
    next.interfaces = next.interfaces!.filter((i) => i.name !== 'a1');
    next.xconnect = [];
    const r = await dp.apply(next);
    expect(r.changes).toEqual(['remove xconnect a0 -> a1', 'remove xconnect a1 -> a0', 'delete interface a1 (pg)']);
    expect(dp.interfaces.get('a0').mode).toBe('l3');
    expect(dp.interfaces.list().some((i) => i.name === 'a1')).toBe(false);
  });

  it('refuses engine settings that need a restart, and changes nothing', async () => {
    const before = snapshot();
    await expect(dp.apply({ ...dp.config(), workers: { count: 2 } })).rejects.toThrow(
      'apply: workers.count: changing it from 1 to 2 needs a restart of the dataplane (quiver start); apply changes nothing',
    );
    await expect(dp.apply({ ...dp.config(), buffers: { count: 32768 } })).rejects.toThrow(/^apply: buffers\.count: changing it from 16384 to 32768 needs a restart/);
    expect(snapshot()).toEqual(before);
  });

  it('dry run plans without touching', async () => {
    const next = dp.config();
    next.interfaces!.push({ type: 'pg', name: 'e0', state: 'up' });
    let r;
    const calls = await nativeCalls(async () => (r = await dp.apply(next, { dryRun: true })));
    expect(r!.changes).toEqual(['create interface e0 (pg)', 'set interface state e0 up']);
    expect(calls).toEqual([]);
    expect(dp.interfaces.list().some((i) => i.name === 'e0')).toBe(false);
  });

  it('Dataplane methods validate their arguments and name the field', () => {
    expect(() => dp.xconnect('a0', 'a0')).toThrow('tx: cannot cross-connect a0 to itself');
    expect(() => dp.xconnect({} as never, 'a0')).toThrow('rx: must be an interface name or index');
    expect(() => dp.interfaces.setRxPlacement('a0', 0, 5)).toThrow('worker: 5 does not exist (1 workers)');
    expect(() => dp.interfaces.setRxMode('a0', 'all', 'fast' as never)).toThrow(/^mode: Invalid enum value/);
    expect(() => dp.trace.add('nope', 1)).toThrow("node: no node 'nope'");
    expect(() => dp.trace.add('pg-input', 0)).toThrow(/^count: Number must be greater than or equal to 1/);
    expect(() => dp.interfaces.createPg({ name: 'bad name' })).toThrow(/^name: may hold/);
    expect(() => dp.pcap.start({ file: '/tmp/x.pcap', interface: 'ghost' })).toThrow("interface: no interface 'ghost'");
    expect(() => Dataplane.start()).toThrow('dataplane: already started in this process (one dataplane per process)');
  });
});
