// pg helpers for the ACL tests: send frames, collect what an interface transmitted, error
// counter deltas, byte-exact comparison.
import { expect } from 'vitest';
import * as pg from '../../graph/pg/pg.js';
import * as engine from '../../src/engine.js';
import { waitFor } from '../helpers/dataplane.js';

let streams = 0;
/** Sends the frames once each, in order, and waits until pg has sent them all. */
export async function send(intf: string, frames: Buffer[]): Promise<void> {
  const name = `acl${++streams}`;
  pg.addStream(intf, { name, packets: frames, count: frames.length, enabled: true });
  await pg.waitStream(name);
  pg.deleteStream(name);
}

/**
 * What `intf` transmitted: waits for `n` frames, then a little longer to catch any extra
 * frame that must not be there.
 */
export async function captured(intf: string, n: number): Promise<Buffer[]> {
  await waitFor(() => pg.captured(intf).length >= n, 3000, `${n} frames out of ${intf} (got ${pg.captured(intf).length})`);
  await new Promise((r) => setTimeout(r, 30));
  return pg.captured(intf);
}

export function clear(...intfs: string[]): void {
  for (const i of intfs) pg.capture(i, 100000);
}

export function errorCount(node: string, name: string): bigint {
  const e = engine.statsSegment().errors(true).find((x) => x.node === node && x.name === name);
  if (!e) throw new Error(`no error counter ${node}/${name}`);
  return e.count;
}

/** Error counter deltas around fn, as numbers. */
export async function deltas(counters: [string, string][], fn: () => Promise<unknown>): Promise<number[]> {
  const before = counters.map(([n, e]) => errorCount(n, e));
  await fn();
  return counters.map(([n, e], i) => Number(errorCount(n, e) - before[i]!));
}

export function expectFrames(got: Buffer[], want: Buffer[]): void {
  expect(got.map((b) => b.toString('hex'))).toEqual(want.map((b) => b.toString('hex')));
}

