// Shared helpers of the L3 tests: pg interfaces in L3 mode with addresses, sending frames and
// collecting what leaves, error counters.
import { expect } from 'vitest';
import * as engine from '../../src/engine.js';
import * as ip from '../../graph/ip/ip.js';
import * as pg from '../../graph/pg/pg.js';
import { waitFor } from '../helpers/dataplane.js';

/** A pg interface, up, with addresses (no gratuitous ARP), capturing what it transmits. */
export function l3Interface(name: string, addresses: string[] = [], table?: number): string {
  pg.createPgInterface({ name });
  engine.setInterfaceState(name, { adminUp: true });
  if (table !== undefined) ip.setInterfaceTable(name, table);
  for (const a of addresses) ip.addAddress(name, a, { announce: false });
  pg.capture(name, 100000);
  return engine.findInterface(name).mac;
}

let streams = 0;
/** Sends the frames once each, in order, and waits until pg has sent them all. */
export async function send(intf: string, frames: Buffer[]): Promise<void> {
  const name = `s${++streams}`;
  pg.addStream(intf, { name, packets: frames, count: frames.length, enabled: true });
  await pg.waitStream(name);
  pg.deleteStream(name);
}

/** Waits until `intf` has transmitted at least n frames since its last clear; returns them all. */
export async function out(intf: string, n: number, timeoutMs = 3000): Promise<Buffer[]> {
  await waitFor(() => pg.captured(intf).length >= n, timeoutMs, `${n} frames out of ${intf} (got ${pg.captured(intf).length})`);
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

/** Counter deltas around an action. */
export async function deltas<T>(counters: [string, string][], fn: () => Promise<T>): Promise<{ result: T; delta: bigint[] }> {
  const before = counters.map(([n, e]) => errorCount(n, e));
  const result = await fn();
  return { result, delta: counters.map(([n, e], i) => errorCount(n, e) - before[i]!) };
}

export function expectFrames(got: Buffer[], want: Buffer[]): void {
  expect(got.map((b) => b.toString('hex'))).toEqual(want.map((b) => b.toString('hex')));
}

/** The same frames in any order (packets that took different paths through the graph). */
export function expectFrameSet(got: Buffer[], want: Buffer[]): void {
  expect(got.map((b) => b.toString('hex')).sort()).toEqual(want.map((b) => b.toString('hex')).sort());
}
