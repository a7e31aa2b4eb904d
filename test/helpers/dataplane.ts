// Shared test helpers: start/stop the engine around a file, assert exact buffer accounting.
import { afterAll, beforeAll, expect } from 'vitest';
import * as engine from '../../src/engine.js';

/** Starts the engine before the file's tests and stops it after. */
export function useEngine(config: engine.EngineConfig = {}): void {
  beforeAll(() => engine.start({ buffers: 16384, ...config }));
  afterAll(() => {
    if (engine.running()) engine.stop();
  });
}

/** After traffic stopped: every buffer is free, cached or held by a driver ring. */
export function expectNoLeak(): void {
  const b = engine.buffers(true);
  expect(b.inFlight, `buffers in flight: ${JSON.stringify(b)}`).toBe(0);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until true or throws after timeoutMs. */
export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
