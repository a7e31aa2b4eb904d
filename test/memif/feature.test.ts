// memif through the declarative config and the command registry (memif/memif.feature.ts):
// a server and a client interface from one config forward pg traffic; `show memif` reports
// them; a duplicate (socket, id, role) is refused before anything changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../memif/memif.feature.js';
import type { MemifDetails } from '../../memif/memif.js';
import { command } from '../../src/feature.js';
import { Dataplane } from '../../src/dataplane.js';
import { expectNoLeak, waitFor } from '../helpers/dataplane.js';
import { tempDir } from './helpers.js';

const tmp = tempDir();
let dp: Dataplane;
beforeAll(() => {
  dp = Dataplane.start({ workers: { count: 1 }, buffers: { count: 16384 } });
});
afterAll(() => {
  dp.stop();
  tmp.cleanup();
});

describe('memif in the config and quiverctl', () => {
  it('creates both roles from a config, forwards, and shows them', async () => {
    const socket = `${tmp.dir}/cfg.sock`;
    const config = {
      interfaces: [
        { type: 'pg', name: 'cp0', streams: [{ name: 'cs', size: 100, count: 200, rate: 20000, enabled: false }] },
        { type: 'pg', name: 'cp1' },
        { type: 'memif', name: 'cm-s', role: 'server', socket, id: 4, mtu: 9000 },
        { type: 'memif', name: 'cm-c', role: 'client', socket, id: 4, log2RingSize: 11, rxMode: 'interrupt' },
      ],
      xconnect: [{ rx: 'cp0', tx: 'cm-s' }, { rx: 'cm-c', tx: 'cp1' }],
    };
    const r = await dp.apply(config);
    expect(r.changes).toEqual(expect.arrayContaining(['set interface state cm-s up', 'set interface state cm-c up']));
    // Traffic once connected: frames routed to a memif before its peer is there are dropped.
    await waitFor(() => ((dp.interfaces.get('cm-c').details as { state: string }).state === 'connected'), 5000, 'memif pair connected');
    dp.pg.enableStream('cs');
    await waitFor(() => dp.interfaces.counters('cp1').txPackets === 200n, 10000, '200 frames through the memif pair');
    const list = (await dp.command('show memif')) as MemifDetails[];
    expect(list.map((d) => [d.name, d.role, d.state, d.id])).toEqual([['cm-s', 'server', 'connected', 4], ['cm-c', 'client', 'connected', 4]]);
    expect(list[1]!.rings.find((x) => x.direction === 'rx')).toMatchObject({ size: 2048, interrupts: 'enabled' });
    expect(dp.interfaces.get('cm-s').mtu).toBe(9000);
    const one = (await dp.command('show memif', { interface: 'cm-c' })) as MemifDetails[];
    expect(one).toHaveLength(1);
    expect(command('show memif')!.format!(one, {})).toMatch(/^cm-c \(index \d+\): client id 4 socket .*cfg\.sock\n\s+state connected/);
    expectNoLeak();
  });

  it('refuses a second interface with the same socket, id and role, changing nothing', async () => {
    const before = dp.interfaces.list().map((i) => i.name);
    const running = dp.config() as { interfaces: unknown[] };
    const bad = { ...running, interfaces: [...running.interfaces, { type: 'memif', name: 'cm-dup', role: 'server', socket: `${tmp.dir}/cfg.sock`, id: 4 }] };
    await expect(dp.apply(bad)).rejects.toThrow(/interfaces\[4\]\.id: server id 4 on .*cfg\.sock is already interfaces\[2\]/);
    await expect(dp.apply({ interfaces: [{ type: 'memif', name: 'x', role: 'server', socket: 'rel.sock' }] })).rejects.toThrow(/interfaces\[0\]\.socket: must be an absolute path/);
    expect(dp.interfaces.list().map((i) => i.name)).toEqual(before);
  });
});
