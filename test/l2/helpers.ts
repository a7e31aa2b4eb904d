// Helpers for the l2 tests: pg interfaces, sending frames and waiting until every buffer has
// left the graph, and counter deltas.
import { expect } from 'vitest';
import * as engine from '../../src/engine.js';
import type { InterfaceCounters } from '../../src/stats.js';
import * as pg from '../../graph/pg/pg.js';
import { waitFor } from '../helpers/dataplane.js';

let streams = 0;

/** Creates pg interfaces (admin up) with a capture of what they transmit. */
export function pgUp(...names: string[]): void {
  for (const n of names) {
    pg.createPgInterface({ name: n });
    engine.setInterfaceState(n, { adminUp: true });
    pg.capture(n, 1000);
  }
}

/** Clears the captures of these interfaces. */
export function clearCaptures(...names: string[]): void {
  for (const n of names) pg.capture(n, 1000);
}

/** Sends frames on a pg interface and returns once every buffer has left the graph. */
export async function send(intf: string, frames: Buffer[], count = frames.length): Promise<void> {
  const name = `s${++streams}`;
  pg.addStream(intf, { name, packets: frames, count, enabled: true });
  await pg.waitStream(name);
  await waitFor(() => engine.buffers(true).inFlight === 0, 5000, 'all buffers back in the pool');
  pg.deleteStream(name);
}

export function errorCount(node: string, name: string): bigint {
  const e = engine.statsSegment().errors(true).find((x) => x.node === node && x.name === name);
  if (!e) throw new Error(`no error counter ${node}/${name}`);
  return e.count;
}

/** Counter deltas: snapshot(), then delta() after traffic. */
export function errorDeltas(...keys: string[]): () => Record<string, bigint> {
  const read = () => Object.fromEntries(keys.map((k) => [k, errorCount(k.split('/')[0]!, k.split('/')[1]!)]));
  const before = read();
  return () => {
    const now = read();
    return Object.fromEntries(keys.map((k) => [k, now[k]! - before[k]!]));
  };
}

export function arcPackets(from: string, to: string): bigint {
  const a = engine.statsSegment().arcs().find((x) => x.from === from && x.to === to);
  if (!a) throw new Error(`no arc ${from} -> ${to}`);
  return a.packets;
}

export function ifCounters(name: string): InterfaceCounters {
  return engine.statsSegment().interfaceCounters(engine.findInterface(name).index);
}

/** Expects exactly these frames (in order) captured on intf. */
export function expectFrames(intf: string, frames: Buffer[]): void {
  const got = pg.captured(intf);
  expect(got.map((f) => f.toString('hex')), `frames on ${intf}`).toEqual(frames.map((f) => f.toString('hex')));
}
