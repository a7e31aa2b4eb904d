// The rate sampler behind show graph: packets per second from two samples of monotonic
// counters, per arc, error and interface; a counter that went backwards (clear) reads 0.
import { describe, expect, it } from 'vitest';
import { ArcRateSampler, arcKey } from '../../src/show/rates.js';
import type { StatsSegment } from '../../src/stats.js';

/** A stats segment whose counters grow at known rates with the real clock. */
function fakeStats(t0: number, offset = { value: 0n }) {
  const at = (pps: number) => BigInt(Math.floor(((performance.now() - t0) / 1000) * pps)) + offset.value;
  return {
    arcs: () => [
      { from: 'a', to: 'b', resolved: true, packets: at(10000) },
      { from: 'a', to: 'error-drop', resolved: false, packets: at(300) },
      { from: 'a', to: 'error-drop', resolved: true, packets: at(200) }, // two nexts alias error-drop
    ],
    errors: () => [{ node: 'a', name: 'bad', text: 'bad frame', severity: 'error', count: at(500) }],
    interfaceCounters: () => ({ rxPackets: at(10500), txPackets: at(10000), drops: at(500) }),
  } as unknown as StatsSegment;
}

describe('rate sampler', () => {
  it('measures packets per second over the window, summing arcs that alias', async () => {
    const t0 = performance.now();
    const s = new ArcRateSampler(() => fakeStats(t0), () => [3], 200);
    const r = await s.current(300);
    s.stop();
    expect(r.window).toBeGreaterThan(0.15); // the 200 ms tick came first
    expect(r.arcs.get(arcKey('a', 'b'))).toBeGreaterThan(9000);
    expect(r.arcs.get(arcKey('a', 'b'))).toBeLessThan(11000);
    expect(r.arcs.get(arcKey('a', 'error-drop'))).toBeGreaterThan(450);
    expect(r.arcs.get(arcKey('a', 'error-drop'))).toBeLessThan(550);
    expect(r.errors.get(arcKey('a', 'bad'))).toBeGreaterThan(450);
    expect(r.interfaces.get(3)!.rx).toBeGreaterThan(9500);
    expect(r.interfaces.get(3)!.drops).toBeLessThan(550);
  });

  it('knows no rate from one sample, and reads a cleared counter as 0, not negative', async () => {
    const offset = { value: 1_000_000n };
    const t0 = performance.now();
    const s = new ArcRateSampler(() => fakeStats(t0, offset), () => [], 40);
    expect((await s.current()).window).toBe(0);
    offset.value = 0n; // counters cleared
    await new Promise((r) => setTimeout(r, 60));
    const r = await s.current();
    expect(r.window).toBeGreaterThan(0);
    expect(r.arcs.get(arcKey('a', 'b'))).toBe(0);
    s.stop();
  });
});
