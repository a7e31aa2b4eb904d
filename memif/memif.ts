// memif interfaces in the dataplane: create/delete, `show memif` details and counters. Every
// argument is validated here (errors name the field); the addon validates again.
// For quiverctl and the config: createMemif, deleteMemif, showMemif, formatShowMemif,
// memifCounters, MemifSchema (the config shape), waitMemifConnected.
import { z } from 'zod';
import { addon } from '../src/addon.js';
import * as engine from '../src/engine.js';
import { QuiverError, native } from '../src/errors.js';
import type { InterfaceCounters } from '../src/stats.js';
import { parseOrThrow } from '../src/validate.js';

interface MemifRaw {
  memifCreate(opts: Record<string, unknown>): number;
}
const raw = (): MemifRaw => addon() as unknown as MemifRaw;

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export const MemifSchema = z
  .object({
    name: z.string().min(1).max(63).regex(/^[A-Za-z0-9_./:-]+$/, 'may hold letters, digits and _ . / : -'),
    role: z.enum(['server', 'client']),
    socket: z
      .string()
      .min(2)
      .max(107)
      .refine((s) => s.startsWith('/') || s.startsWith('@'), 'must be an absolute path or @name (abstract namespace)'),
    id: z.number().int().min(0).max(0xffffffff).default(0),
    secret: z.string().max(24).optional(),
    mode: z.enum(['ethernet', 'ip']).default('ethernet'),
    log2RingSize: z.number().int().min(1).max(14).default(10),
    bufferSize: z.number().int().min(128).max(65535).default(2048),
    rxQueues: z.number().int().min(1).max(256).default(1),
    txQueues: z.number().int().min(1).max(256).default(1),
    interfaceName: z.string().max(31).optional(),
    cacheLine: z.union([z.literal(64), z.literal(128)]).default(64),
    allowUnsealedRegions: z.boolean().default(false),
    mac: z.string().regex(MAC, 'is not a MAC address (aa:bb:cc:dd:ee:ff)').optional(),
    mtu: z.number().int().min(68).max(9216).default(1500),
    rxMode: z.enum(['polling', 'interrupt', 'adaptive']).optional(),
    worker: z.number().int().min(0).optional(),
  })
  .strict();
export type MemifConfig = z.input<typeof MemifSchema>;

export interface MemifRing {
  direction: 'rx' | 'tx';
  queue: number;
  size: number;
  region: number;
  offset: number;
  head: number;
  tail: number;
  cursor: number;
  interrupts: 'masked' | 'enabled';
}
export interface MemifDetails {
  index: number;
  name: string;
  adminUp: boolean;
  linkUp: boolean;
  role: 'server' | 'client';
  socket: string;
  id: number;
  state: 'down' | 'listening' | 'connecting' | 'handshake' | 'connected';
  mode: 'ethernet' | 'ip';
  secret: boolean;
  interfaceName: string;
  log2RingSize: number;
  bufferSize: number;
  rxQueues: number;
  txQueues: number;
  cacheLine: number;
  zeroCopy: boolean;
  peer: { name: string; interfaceName: string } | null;
  regions: { index: number; size: number; sealed: boolean }[];
  rings: MemifRing[];
  negotiated?: { log2RingSize: number };
  counters: {
    connects: number;
    disconnects: number;
    connectAttempts: number;
    violations: number;
    controlErrors: Record<string, number>;
  };
  /** Latest failure: a connection that ended or a connect attempt that failed. */
  lastError: string | null;
  /** Why the last connection (or handshake) ended; "peer: ..." when the peer said so. */
  lastDisconnect: string | null;
}

/** Creates a memif interface (admin down, as every new interface); returns its index. */
export function createMemif(config: MemifConfig): number {
  const c = parseOrThrow(MemifSchema, config, '');
  if (c.secret !== undefined && Buffer.byteLength(c.secret) > 24) throw new QuiverError('secret', 'longer than 24 bytes');
  if (Buffer.byteLength(c.socket) > 107) throw new QuiverError('socket', 'longer than 107 bytes');
  return native(() => raw().memifCreate(c));
}

export function deleteMemif(ref: engine.InterfaceRef): void {
  const i = engine.findInterface(ref);
  if (i.driver !== 'memif') throw new QuiverError('interface', `'${i.name}' is not a memif interface`);
  engine.deleteInterface(i.index);
}

/** `show memif`: every memif, or the one named. */
export function showMemif(ref?: engine.InterfaceRef): MemifDetails[] {
  const all = engine.interfaces().filter((i) => i.driver === 'memif');
  const pick = ref === undefined ? all : all.filter((i) => (typeof ref === 'number' ? i.index === ref : i.name === ref));
  if (ref !== undefined && pick.length === 0) throw new QuiverError('interface', `no memif interface ${typeof ref === 'number' ? ref : `'${ref}'`}`);
  return pick.map((i) => ({ index: i.index, name: i.name, adminUp: i.adminUp, linkUp: i.linkUp, ...(i.details as object) }) as MemifDetails);
}

export type MemifCounters = InterfaceCounters & MemifDetails['counters'];
/** Interface counters from the stats segment plus the memif connection counters. */
export function memifCounters(ref: engine.InterfaceRef): MemifCounters {
  const d = showMemif(ref)[0]!;
  const c = engine.statsSegment().interfaceCounters(d.index);
  return { ...c, ...d.counters };
}

/** Resolves when the memif is connected (link up), rejects after timeoutMs with its last error.
 * A server may still find no free slot for a moment: the client posts its receive buffers
 * after CONNECTED (DPDK on its first receive burst); see waitMemifReady. */
export async function waitMemifConnected(ref: engine.InterfaceRef, timeoutMs = 5000): Promise<MemifDetails> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const d = showMemif(ref)[0]!;
    if (d.state === 'connected' && d.linkUp) return d;
    if (Date.now() > until)
      throw new QuiverError('memif', `'${d.name}' not connected within ${timeoutMs} ms (state ${d.state}${d.lastError ? `, last error: ${d.lastError}` : ''})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Connected, and the client has offered receive slots (a transmit ring has room). */
export async function waitMemifReady(ref: engine.InterfaceRef, timeoutMs = 5000): Promise<MemifDetails> {
  const until = Date.now() + timeoutMs;
  await waitMemifConnected(ref, timeoutMs);
  for (;;) {
    const d = showMemif(ref)[0]!;
    const tx = d.rings.filter((r) => r.direction === 'tx');
    const room = (r: MemifRing) => (d.role === 'server' ? (r.head - r.tail) & 0xffff : r.size - ((r.head - r.tail) & 0xffff));
    if (d.state === 'connected' && tx.length > 0 && tx.every((r) => room(r) > 0)) return d;
    if (Date.now() > until) throw new QuiverError('memif', `'${d.name}' has no transmit room within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The text of `quiverctl show memif`, in the shape of VPP's `show memif`. */
export function formatShowMemif(list: MemifDetails[]): string {
  const out: string[] = [];
  for (const d of list) {
    out.push(`${d.name} (index ${d.index}): ${d.role} id ${d.id} socket ${d.socket}`);
    out.push(`  state ${d.state}, admin ${d.adminUp ? 'up' : 'down'}, link ${d.linkUp ? 'up' : 'down'}, mode ${d.mode}${d.secret ? ', secret set' : ''}`);
    out.push(`  ${d.rxQueues} rx / ${d.txQueues} tx queues, ring 2^${d.negotiated?.log2RingSize ?? d.log2RingSize}, buffer ${d.bufferSize} bytes, copy mode`);
    if (d.peer) out.push(`  peer "${d.peer.name}" interface "${d.peer.interfaceName}"`);
    for (const r of d.regions) out.push(`  region ${r.index}: ${r.size} bytes${r.sealed ? '' : ' (not sealed)'}`);
    for (const r of d.rings)
      out.push(`  ${r.direction} queue ${r.queue}: ring ${r.size} region ${r.region} offset ${r.offset} head ${r.head} tail ${r.tail} interrupts ${r.interrupts}`);
    const c = d.counters;
    out.push(`  connects ${c.connects}, disconnects ${c.disconnects}, violations ${c.violations}`);
    for (const [k, v] of Object.entries(c.controlErrors)) out.push(`  control error ${k}: ${v}`);
    if (d.lastDisconnect) out.push(`  last disconnect: ${d.lastDisconnect}`);
    if (d.lastError && d.lastError !== d.lastDisconnect) out.push(`  last error: ${d.lastError}`);
  }
  return out.join('\n');
}
