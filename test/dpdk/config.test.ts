// DPDK through the declarative config and the command registry (native/dpdk/dpdk.feature.ts):
// the `dpdk:` section starts EAL, `type: dpdk` interfaces are created, changed and deleted by
// difference, `show dpdk` reports them; bad sections fail validation with the field named.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../native/dpdk/dpdk.feature.js';
import * as dpdk from '../../native/dpdk/dpdk.js';
import { validateConfig } from '../../src/config.js';
import { Dataplane } from '../../src/dataplane.js';
import { expectNoLeak, waitFor } from '../helpers/dataplane.js';

let dp: Dataplane;
beforeAll(() => {
  dp = Dataplane.start({ workers: { count: 1 } });
});
afterAll(() => dp.stop());

const base = {
  workers: { count: 1 },
  dpdk: { logLevel: 'notice' as const, vdevs: ['net_null7,size=64'] },
  interfaces: [
    { type: 'pg', name: 'pgIn' },
    { type: 'pg', name: 'pgOut' },
    { type: 'dpdk', name: 'ring0', port: 'net_ring0', rxMode: 'adaptive' },
  ],
  xconnect: [
    { rx: 'pgIn', tx: 'ring0', bidirectional: false },
    { rx: 'ring0', tx: 'pgOut', bidirectional: false },
  ],
};

describe('dpdk in the config', () => {
  it('refuses bad dpdk sections and interfaces, naming the field, before anything runs', () => {
    const bad = (c: object) => () => validateConfig(c);
    expect(bad({ interfaces: [{ type: 'dpdk', name: 'd0', port: 'net_null0' }] })).toThrow(/interfaces\[0\]\.type: a dpdk interface needs the dpdk section/);
    expect(bad({ dpdk: {}, interfaces: [{ type: 'dpdk', name: 'd0', port: 'net_null0', rxMode: 'interrupt' }] })).toThrow(/interfaces\[0\]\.rxMode: DPDK ports have no rx interrupts/);
    expect(bad({ dpdk: {}, interfaces: [{ type: 'dpdk', name: 'd0', port: 'net_null0', rxQueues: 2, workers: [0] }] })).toThrow(/interfaces\[0\]\.workers: lists 1 workers for 2 rx queues/);
    expect(
      bad({ dpdk: {}, interfaces: [{ type: 'dpdk', name: 'd0', port: 'net_null0' }, { type: 'dpdk', name: 'd1', port: 'net_null0' }] }),
    ).toThrow(/interfaces\[1\]\.port: port "net_null0" is already interfaces\[0\]/);
    expect(bad({ dpdk: { socketMemoryMb: [64] } })).toThrow(/dpdk\.socketMemoryMb: needs hugepages/);
    expect(bad({ dpdk: { logLevel: 'chatty' } })).toThrow(/dpdk\.logLevel: /);
    expect(dpdk.dpdkStatus().initialised).toBe(false);
  });

  it('starts EAL, creates the port and forwards through it, and shows it', async () => {
    const r = await dp.apply(base);
    expect(r.changes[0]).toMatch(/^dpdk: initialise EAL --no-huge --no-shconf/);
    expect(r.changes).toContain('create interface ring0 (dpdk, rxMode adaptive)');
    await waitFor(() => dp.interfaces.get('ring0').linkUp, 3000, 'ring0 link');
    dp.pg.capture('pgOut', 10);
    dp.pg.addStream('pgIn', { name: 's', size: 200, count: 100, enabled: true });
    await dp.pg.waitStream('s');
    await waitFor(() => dp.interfaces.counters('pgOut').txPackets === 100n, 3000, 'pgOut got 100');
    expect(dp.interfaces.counters('ring0').rxPackets).toBe(100n);
    const show = (await dp.command('show dpdk')) as ReturnType<typeof dpdk.showDpdk>;
    expect(show.ports.find((p) => p.name === 'net_ring0')).toMatchObject({ interface: 'ring0', driver: 'net_ring' });
    expect(show.ports.find((p) => p.name === 'net_null7')).toMatchObject({ interface: null, driver: 'net_null' });
    expect(dpdk.formatShowDpdk(show)).toMatch(/port \d+ net_ring0 \(net_ring, vdev\) .* -> ring0/);
    expectNoLeak();
  });

  it('changes by difference: a new EAL argument needs a restart and changes nothing; a removed port goes', async () => {
    await expect(dp.apply({ ...base, dpdk: { ...base.dpdk, memoryMb: 256 } })).rejects.toThrow(/^dpdk: EAL is already initialised.*restart the process/);
    expect(dp.interfaces.get('ring0').driver).toBe('dpdk');
    const r = await dp.apply({ ...base, interfaces: base.interfaces.slice(0, 2), xconnect: [] });
    expect(r.changes).toContain('delete interface ring0 (dpdk)');
    expect(dpdk.showDpdk().ports.find((p) => p.name === 'net_ring0')).toBeUndefined();
    expect(dp.buffers(true).held).toBe(0);
  });
});
