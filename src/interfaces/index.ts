// Interfaces common to every driver: create (by driver, validated), delete, admin state, MTU,
// MAC, rx mode per queue, rx placement, link state, counters; `show interface rx-placement`.
import { z } from 'zod';
import * as engine from '../engine.js';
import type { InterfaceRef } from '../engine.js';
import { QuiverError } from '../errors.js';
import type { InterfaceCounters } from '../stats.js';
import { parseOrThrow } from '../validate.js';
import { AfPacketSchema, createAfPacketInterface } from './af_packet.js';
import { AfXdpSchema, createAfXdpInterface } from './af_xdp.js';
import { MacAddress, Mtu, RxModeOption } from './common.js';
import { TapSchema, createTapInterface } from './tap.js';

export { AfPacketSchema, createAfPacketInterface } from './af_packet.js';
export { AfXdpSchema, createAfXdpInterface } from './af_xdp.js';
export { TapSchema, createTapInterface } from './tap.js';

export const InterfaceSpecSchema = z.discriminatedUnion('driver', [
  AfXdpSchema.extend({ driver: z.literal('af_xdp') }),
  AfPacketSchema.extend({ driver: z.literal('af_packet') }),
  TapSchema.extend({ driver: z.literal('tap') }),
]);
export type InterfaceSpec = z.input<typeof InterfaceSpecSchema>;

/** Creates an interface of any Linux-facing driver; returns its index. */
export function createInterface(spec: InterfaceSpec): number {
  const s = parseOrThrow(InterfaceSpecSchema, spec, '');
  const { driver, ...opts } = s;
  switch (driver) {
    case 'af_xdp': return createAfXdpInterface(opts as z.input<typeof AfXdpSchema>);
    case 'af_packet': return createAfPacketInterface(opts as z.input<typeof AfPacketSchema>);
    case 'tap': return createTapInterface(opts as z.input<typeof TapSchema>);
  }
}

export function deleteInterface(ref: InterfaceRef): void {
  engine.deleteInterface(ref);
}

export function setAdminState(ref: InterfaceRef, up: boolean): void {
  engine.setInterfaceState(ref, { adminUp: up });
}

export function setMtu(ref: InterfaceRef, mtu: number): void {
  engine.setInterfaceState(ref, { mtu: parseOrThrow(Mtu, mtu, 'mtu') });
}

export function setMac(ref: InterfaceRef, mac: string): void {
  engine.setInterfaceState(ref, { mac: parseOrThrow(MacAddress, mac, 'mac') });
}

export function setRxMode(ref: InterfaceRef, queue: number | 'all', mode: z.infer<typeof RxModeOption>): void {
  engine.setRxMode(ref, queue, parseOrThrow(RxModeOption, mode, 'mode'));
}

export function setRxPlacement(ref: InterfaceRef, queue: number, worker: number): void {
  if (!Number.isInteger(queue) || queue < 0) throw new QuiverError('queue', `${queue} is not a queue number`);
  if (!Number.isInteger(worker) || worker < 0) throw new QuiverError('worker', `${worker} is not a worker number`);
  engine.setRxPlacement(ref, queue, worker);
}

export interface LinkState {
  adminUp: boolean;
  linkUp: boolean;
  /** Link transitions seen since creation (a vanished device counts as one). */
  linkChanges: number;
}
export function linkState(ref: InterfaceRef): LinkState {
  const i = engine.findInterface(ref);
  return { adminUp: i.adminUp, linkUp: i.linkUp, linkChanges: i.linkChanges };
}

export function interfaceCounters(ref: InterfaceRef): InterfaceCounters {
  return engine.statsSegment().interfaceCounters(engine.findInterface(ref).index);
}

export interface RxPlacementRow {
  interface: string;
  driver: string;
  queue: number;
  worker: number;
  mode: string;
}
/** Which worker polls which queue, in which mode (`show interface rx-placement`). */
export function rxPlacement(): RxPlacementRow[] {
  return engine
    .interfaces()
    .flatMap((i) => i.rxQueues.map((q) => ({ interface: i.name, driver: i.driver, queue: q.queue, worker: q.worker, mode: q.mode })))
    .sort((a, b) => a.worker - b.worker || a.interface.localeCompare(b.interface) || a.queue - b.queue);
}

/** VPP's layout: per worker, the queues it polls. */
export function formatRxPlacement(rows: RxPlacementRow[] = rxPlacement()): string {
  const lines: string[] = [];
  let worker = -1;
  for (const r of rows) {
    if (r.worker !== worker) {
      worker = r.worker;
      lines.push(`Thread ${worker} (quiver-wk${worker}):`);
    }
    lines.push(`  ${r.interface} queue ${r.queue} (${r.mode})`);
  }
  return lines.join('\n');
}
