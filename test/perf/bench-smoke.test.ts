// Benchmarks are not tests; this only proves each one still runs end to end (short --smoke).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/addon.js';

const root = packageRoot();
function smoke(name: string): Record<string, unknown> {
  execFileSync('node', [join(root, 'dist/perf/run.js'), name, '--smoke'], { cwd: root, stdio: 'pipe', timeout: 120_000 });
  return JSON.parse(readFileSync(join(root, 'perf/results', `${name}.smoke.json`), 'utf8'));
}

describe('benchmark smoke', () => {
  it('l2xc runs and reports Mpps and clocks per node', () => {
    const r = smoke('l2xc');
    expect(r.mppsMedian).toBeGreaterThan(0);
    expect(Object.keys(r.clocksPerPacket as object)).toEqual(expect.arrayContaining(['ethernet-input', 'l2-xconnect', 'pg-input']));
  });

  it('api runs autocannon on the management socket and reports requests/s and latency per case', () => {
    const r = smoke('api');
    expect(r.forwardingMppsNoApiLoad).toBeGreaterThan(0);
    for (const c of ['show interface', 'show runtime', 'set interface mtu (apply)']) {
      const row = r[c] as { requestsPerSecond: number; latencyMs: { p50: number; p99: number }; forwardingMpps: number };
      expect(row.requestsPerSecond, c).toBeGreaterThan(0);
      expect(row.latencyMs.p99, c).toBeGreaterThanOrEqual(row.latencyMs.p50);
      expect(row.forwardingMpps, c).toBeGreaterThan(0);
    }
  });

  it('dpdk runs Quiver and testpmd over net_null and net_memif and reports both', () => {
    const r = smoke('dpdk') as unknown as Record<string, { quiver: { mppsMedian: number; nodeClocks: object }; testpmd: { mppsMedian: number; cyclesPerPacket: number } }>;
    for (const k of ['null', 'memif']) {
      expect(r[k]!.quiver.mppsMedian, k).toBeGreaterThan(0);
      expect(r[k]!.testpmd.mppsMedian, k).toBeGreaterThan(0);
      expect(r[k]!.testpmd.cyclesPerPacket, k).toBeGreaterThan(0);
      expect(Object.keys(r[k]!.quiver.nodeClocks), k).toEqual(expect.arrayContaining(['dpdk-input', 'dpdk-tx', 'l2-xconnect']));
    }
  });
});
