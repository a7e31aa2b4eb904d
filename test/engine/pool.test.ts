// The buffer pool: memfd fallback without hugepages, hugepages when reserved, exact counts.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import * as engine from '../../src/engine.js';
import { xconnectPair } from '../../graph/l2/xconnect.js';
import * as pg from '../../graph/pg/pg.js';
import { expectNoLeak } from '../helpers/dataplane.js';

const HP = '/proc/sys/vm/nr_hugepages';
afterEach(() => {
  if (engine.running()) engine.stop();
});

describe('buffer pool', () => {
  it('works from a memfd with 4 KiB pages when hugepages are off', async () => {
    engine.start({ buffers: 4096, hugepages: 'off' });
    const b = engine.buffers(true);
    expect(b).toMatchObject({ total: 4096, free: 4096, inFlight: 0, hugepages: false });
    pg.createPgInterface({ name: 'p0' });
    pg.createPgInterface({ name: 'p1' });
    engine.setInterfaceState('p0', { adminUp: true });
    engine.setInterfaceState('p1', { adminUp: true });
    xconnectPair('p0', 'p1');
    pg.addStream('p0', { name: 's', size: 1500, count: 100_000, enabled: true });
    await pg.waitStream('s');
    expectNoLeak();
    expect(engine.buffers(true).free).toBe(4096);
  });

  it('uses 2 MiB hugepages when they are reserved, and restores the reservation', () => {
    const saved = readFileSync(HP, 'utf8').trim();
    try {
      writeFileSync(HP, String(Number(saved) + 16));
      engine.start({ buffers: 4096, hugepages: 'on' });
      expect(engine.buffers().hugepages).toBe(true);
      engine.stop();
    } finally {
      writeFileSync(HP, saved);
    }
  });

  it("refuses hugepages 'on' when none are free, naming the field", () => {
    const saved = readFileSync(HP, 'utf8').trim();
    try {
      writeFileSync(HP, '0');
      expect(() => engine.start({ buffers: 4096, hugepages: 'on' })).toThrow(/^buffers.hugepages: 'on' but/);
      expect(engine.running()).toBe(false);
    } finally {
      writeFileSync(HP, saved);
    }
  });

  it('validates the engine configuration', () => {
    expect(() => engine.start({ workers: 0 })).toThrow(/^engine.workers: /);
    expect(() => engine.start({ buffers: 10 })).toThrow(/^engine.buffers: /);
    expect(() => engine.start({ workers: 2, cores: [0] })).toThrow(/^cores: lists 1 cores for 2 workers/);
    expect(() => engine.start({ cores: [99] })).toThrow(/^workers.cores\[0\]: core 99 does not exist/);
    expect(() => engine.start({ turbo: true } as never)).toThrow(/^engine.turbo: unknown key/);
  });
});
