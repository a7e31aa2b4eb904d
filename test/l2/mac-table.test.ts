// The MAC table's insert, displacement, erase and growth, outside the engine: mac_table_check.cc
// is built with graph/l2/l2_fib.cc and run; it checks the invariants lookups depend on after
// each phase (every key found with its value, no phantom keys, `spilled` counts exact) and
// reports how full a fixed-size table got before an insert failed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'qv-mactable-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('MAC table (l2_fib.cc)', () => {
  it('keeps every key findable through displacement, erase and growth; fills past 60 % before an insert fails', () => {
    const bin = join(dir, 'mac_table_check');
    const root = join(__dirname, '..', '..');
    execFileSync('g++', ['-std=gnu++20', '-O2', '-march=native', '-o', bin, join(root, 'test/l2/mac_table_check.cc'),
      join(root, 'graph/l2/l2_fib.cc'), join(root, 'native/epoch.cc')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const out = JSON.parse(execFileSync(bin, { encoding: 'utf8' })) as Record<string, number | boolean>;
    expect(out.ok).toBe(true);
    // Two 4-way buckets per key and no displacement fail from ~35 % load on; one level of
    // displacement takes a table to ~75 %.
    expect(out.fillLoad).toBeGreaterThan(0.6);
    expect(out.refillLoad).toBeGreaterThan(0.6);
    expect(out).toMatchObject({ grownEntries: 8000, grownBuckets: 4096, grows: 6 });
  }, 60_000);
});
