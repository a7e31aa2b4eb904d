// EAL failures are config errors that say why, never an abort; after one, DPDK refuses a
// second attempt (EAL keeps what it parsed) and says so, and the engine still runs without it.
import { describe, expect, it } from 'vitest';
import * as pg from '../../graph/pg/pg.js';
import * as dpdk from '../../native/dpdk/dpdk.js';
import * as engine from '../../src/engine.js';
import { expectNoLeak } from '../helpers/dataplane.js';

describe('dpdk EAL errors', () => {
  it('refuses arguments that would exit the process or cannot work, naming the field', () => {
    expect(() => dpdk.initDpdk({ args: ['--no-telemetry', '--help'] })).toThrow(/^dpdk.args\[1\]: would exit the process/);
    expect(() => dpdk.initDpdk({ args: ['--in-memory'] })).toThrow(/^dpdk.args\[0\]: --in-memory needs hugepages: true/);
    expect(() => dpdk.initDpdk({ vdevs: ['net null0'] })).toThrow(/^dpdk.vdevs\[0\]: is not a device argument string/);
    expect(() => dpdk.initDpdk({ allow: ['00:04'] })).toThrow(/^dpdk.allow\[0\]: is not a PCI address/);
    expect(() => dpdk.initDpdk({ bogus: 1 } as never)).toThrow(/^dpdk.bogus: unknown key/);
    expect(dpdk.dpdkStatus().initialised).toBe(false);
  });

  it('reports what EAL rejected, then refuses to retry in the same process', () => {
    expect(() => dpdk.initDpdk({ args: ['--bogus-option'] })).toThrow(/^dpdk.args: EAL initialisation failed: quiver: unrecognized option '--bogus-option'$/);
    const st = dpdk.dpdkStatus();
    expect(st.initialised).toBe(false);
    expect(st.lastFailure).toMatch(/unrecognized option '--bogus-option'/);
    expect(() => dpdk.initDpdk({})).toThrow(/^dpdk: EAL initialisation already failed in this process \(quiver: unrecognized option .*restart the process/);
    expect(dpdk.dpdkLog()).toMatch(/unrecognized option '--bogus-option'/);
  });

  it('leaves the engine working without DPDK', async () => {
    engine.start({ buffers: 4096 });
    try {
      expect(() => dpdk.createDpdkInterface({ name: 'd0', port: 'net_null0' })).toThrow(/^dpdk: EAL is not initialised/);
      pg.createPgInterface({ name: 'p0' });
      engine.setInterfaceState('p0', { adminUp: true });
      pg.addStream('p0', { name: 's', size: 64, count: 10, enabled: true });
      await pg.waitStream('s');
      expect(engine.statsSegment().interfaceCounters(engine.findInterface('p0').index).rxPackets).toBe(10n);
      expectNoLeak();
    } finally {
      engine.stop();
    }
  });
});
