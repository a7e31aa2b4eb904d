// L3 routing configuration: tables (VRFs), interface addresses and table binding, routes
// (single, and in bulk from packed prefixes), neighbors, knobs, show views and the dataplane's
// own ping. Every argument is validated here first, and errors name the field.
import { z } from 'zod';
import { addon, type Addon } from '../../src/addon.js';
import type { InterfaceRef } from '../../src/engine.js';
import { QuiverError, native } from '../../src/errors.js';
import { parseOrThrow } from '../../src/validate.js';
import { type Family, formatIp4, formatIp6, maskWords, parseIp, parsePrefix, prefixProblem } from './prefix.js';

export * from './prefix.js';

// --- raw addon signatures (declared here, not in src/addon.ts) ---
interface IpRaw {
  ipTableAdd(id: number, opts: { name?: string; ecmpHash?: string }): void;
  ipTableDelete(id: number): void;
  ipTableSet(id: number, opts: { name?: string; ecmpHash?: string }): void;
  ipTables(): TableInfo[];
  ipInterfaceTable(intf: InterfaceRef, table: number): void;
  ipAddressAdd(intf: InterfaceRef, address: string, announce: boolean): void;
  ipAddressDelete(intf: InterfaceRef, address: string): void;
  ipInterfaces(): InterfaceL3[];
  ipRoutesAdd(table: number, family: Family, prefixes: Uint32Array, routes: RouteTarget[], index?: Uint32Array): number;
  ipRoutesDelete(table: number, family: Family, prefixes: Uint32Array): number;
  ipFibLookup(table: number, family: Family, addresses: Uint32Array): Uint32Array;
  ipFib(table: number, family: Family, opts: { prefix?: string; limit?: number }): FibView;
  ipNeighbors(family: Family): NeighborInfo[];
  ipNeighborAdd(intf: InterfaceRef, address: string, mac: string): void;
  ipNeighborDelete(intf: InterfaceRef, address: string): void;
  ipConfig(settings: IpSettings): Required<IpSettings> & { neighborLearnDroppedLimit: number };
  ipPingOpen(identifier: number): number;
  ipPingClose(session: number): void;
  ipPingReply(session: number, seq: number): number;
  ipPingSend(table: number, dst: string, src: string, identifier: number, seq: number, size: number): { tsc: number; source: string };
}
const raw = () => addon() as unknown as IpRaw & Addon;

// --- schemas ---

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
export const InterfaceRefSchema = z.union([z.string().min(1), z.number().int().min(0)]);
export const TableIdSchema = z.number().int().min(0).max(0xffffffff);

export const TableSchema = z
  .object({
    id: TableIdSchema,
    name: z.string().max(64).optional(),
    /** ECMP flow hash: the 5-tuple, or the same with addresses and ports ordered so both directions of a flow take one path. */
    ecmpHash: z.enum(['five-tuple', 'symmetric']).default('five-tuple'),
  })
  .strict();
export type Table = z.input<typeof TableSchema>;

const ipAddress = z.string().superRefine((s, ctx) => {
  if (!parseIp(s)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `'${s}' is not an IPv4 or IPv6 address` });
});
const interfacePrefix = z.string().superRefine((s, ctx) => {
  const bad = prefixProblem(s, true);
  if (bad) ctx.addIssue({ code: z.ZodIssueCode.custom, message: bad });
});

export const AddressSchema = z
  .object({
    interface: InterfaceRefSchema,
    /** "198.18.0.1/24" or "2001:db8::1/64". */
    address: interfacePrefix,
    /** Send a gratuitous ARP when an IPv4 address is added to an up interface (default true). */
    announce: z.boolean().default(true),
  })
  .strict();

export const PathSchema = z
  .object({
    /** Next-hop address; without `interface` it is resolved recursively through the table. */
    via: z.string().optional(),
    /** Egress interface; alone it makes the prefix attached (hosts resolved by ARP/ND). */
    interface: InterfaceRefSchema.optional(),
  })
  .strict();

export const RouteTargetSchema = z
  .object({
    kind: z.enum(['forward', 'drop', 'unreachable', 'local']).default('forward'),
    paths: z.array(PathSchema).max(16, 'at most 16 next hops (ECMP)').default([]),
  })
  .strict();
export type RouteTarget = z.input<typeof RouteTargetSchema>;

function checkTarget(t: z.output<typeof RouteTargetSchema>, family: Family | null, ctx: z.RefinementCtx, at: (string | number)[] = []): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...at, ...path], message });
  if (t.kind === 'forward' && t.paths.length === 0) issue(['paths'], 'a forward route needs at least one next hop');
  if (t.kind !== 'forward' && t.paths.length > 0) issue(['paths'], `a ${t.kind} route has no next hops`);
  t.paths.forEach((p, i) => {
    if (p.via === undefined && p.interface === undefined) issue(['paths', i], 'give via, interface or both');
    if (p.via === undefined) return;
    const ip = parseIp(p.via);
    if (!ip) issue(['paths', i, 'via'], `'${p.via}' is not an IP address`);
    else if (family && ip.family !== family) issue(['paths', i, 'via'], `'${p.via}' is not an ${family === 'ip4' ? 'IPv4' : 'IPv6'} address`);
    else if (ip.family === 'ip6' && ip.words[0]! >>> 22 === 0x3fa && p.interface === undefined)
      issue(['paths', i, 'interface'], 'a link-local next hop needs its interface');
  });
}

export const RouteSchema = z
  .object({
    table: TableIdSchema.default(0),
    /** "10.0.0.0/8", "2001:db8:1::/48"; host bits must be zero. */
    prefix: z.string(),
    kind: z.enum(['forward', 'drop', 'unreachable', 'local']).default('forward'),
    paths: z.array(PathSchema).max(16, 'at most 16 next hops (ECMP)').default([]),
  })
  .strict()
  .superRefine((r, ctx) => {
    const bad = prefixProblem(r.prefix, false);
    if (bad) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['prefix'], message: bad });
      return;
    }
    checkTarget(r, parsePrefix(r.prefix).family, ctx);
  });
export type Route = z.input<typeof RouteSchema>;

export const RouteKeySchema = z
  .object({ table: TableIdSchema.default(0), prefix: z.string() })
  .strict()
  .superRefine((r, ctx) => {
    const bad = prefixProblem(r.prefix, false);
    if (bad) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['prefix'], message: bad });
  });

export const BulkRoutesSchema = z
  .object({
    table: TableIdSchema.default(0),
    family: z.enum(['ip4', 'ip6']),
    /** Packed prefixes (packPrefixes): [addr, len] or [w0, w1, w2, w3, len] per route. */
    prefixes: z.custom<Uint32Array>((v) => v instanceof Uint32Array, 'must be a Uint32Array'),
    /** Where the routes go; routeIndex[i] picks one for prefix i (default: all the first). */
    routes: z.array(RouteTargetSchema).min(1),
    routeIndex: z.custom<Uint32Array>((v) => v instanceof Uint32Array, 'must be a Uint32Array').optional(),
  })
  .strict()
  .superRefine((b, ctx) => b.routes.forEach((t, i) => checkTarget(t, b.family, ctx, ['routes', i])));

export const NeighborSchema = z
  .object({
    interface: InterfaceRefSchema,
    address: ipAddress,
    mac: z.string().regex(MAC, 'is not a MAC address (aa:bb:cc:dd:ee:ff)'),
  })
  .strict();

export const IpSettingsSchema = z
  .object({
    /** Learned (dynamic) neighbors at most; new ones beyond are not learned (counted). */
    neighborLimit: z.number().int().min(1).max(10_000_000).optional(),
    /** A learned neighbor not heard from for this long is forgotten (re-resolved if in use). */
    neighborAgeSeconds: z.number().positive().max(31_536_000).optional(),
    /** How long a packet may wait for ARP/ND before it is dropped (hold-timeout). */
    holdMs: z.number().int().min(1).max(60_000).optional(),
    /** ICMP errors per second per worker, and the burst above that. */
    icmpRate: z.number().int().min(0).max(1_000_000).optional(),
    icmpBurst: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict();
export type IpSettings = z.input<typeof IpSettingsSchema>;

// --- views ---

export interface TableInfo {
  id: number;
  name: string;
  ecmpHash: 'five-tuple' | 'symmetric';
  interfaces: number;
  ip4Routes: number;
  ip6Routes: number;
  ip4Bytes: number;
  ip6Bytes: number;
  ip4Plies: number;
}
export interface InterfaceL3 {
  interface: string;
  index: number;
  table: number;
  addresses: string[];
  linkLocal: string | null;
}
export interface ResolvedAdjacency {
  adjacency: number;
  kind: 'unreachable' | 'drop' | 'local' | 'glean' | 'incomplete' | 'rewrite';
  interface?: string;
  nextHop?: string;
  mac?: string;
}
export interface FibEntry {
  prefix: string;
  source: 'api' | 'interface' | 'special';
  kind: 'forward' | 'unreachable' | 'drop' | 'multicast' | 'broadcast' | 'local' | 'unresolved' | 'reserved';
  loadBalance: number;
  paths?: { via?: string; attached?: boolean; interface?: string; dead?: boolean }[];
  resolved?: ResolvedAdjacency[];
}
export interface FibView {
  table: number;
  family: Family;
  routes: number;
  entries: FibEntry[];
}
export interface NeighborInfo {
  interface: string;
  address: string;
  mac: string | null;
  state: 'incomplete' | 'reachable' | 'static';
  ageSeconds: number;
  routes: number;
}

// --- tables ---

export function addTable(t: Table): void {
  const x = parseOrThrow(TableSchema, t, '');
  native(() => raw().ipTableAdd(x.id, { name: x.name, ecmpHash: x.ecmpHash }));
}
/** Changes a table's name or ECMP hash (every load-balance set of the table follows). */
export function setTable(t: Table): void {
  const x = parseOrThrow(TableSchema, t, '');
  native(() => raw().ipTableSet(x.id, { name: x.name, ecmpHash: x.ecmpHash }));
}
export function deleteTable(id: number): void {
  parseOrThrow(TableIdSchema, id, 'id');
  native(() => raw().ipTableDelete(id));
}
export function tables(): TableInfo[] {
  return native(() => raw().ipTables());
}

// --- interfaces ---

/** Binds an interface (both families) to a table; it must have no addresses yet. */
export function setInterfaceTable(intf: InterfaceRef, table: number): void {
  parseOrThrow(TableIdSchema, table, 'table');
  native(() => raw().ipInterfaceTable(intf, table));
}
export function addAddress(intf: InterfaceRef, address: string, opts: { announce?: boolean } = {}): void {
  const x = parseOrThrow(AddressSchema, { interface: intf, address, ...opts }, '');
  native(() => raw().ipAddressAdd(x.interface, x.address, x.announce));
}
export function deleteAddress(intf: InterfaceRef, address: string): void {
  const x = parseOrThrow(AddressSchema, { interface: intf, address }, '');
  native(() => raw().ipAddressDelete(x.interface, x.address));
}
export function interfaces(): InterfaceL3[] {
  return native(() => raw().ipInterfaces());
}

// --- routes ---

/** Adds or replaces the route for a prefix (its next hops are replaced as a whole). */
export function addRoute(route: Route): void {
  const r = parseOrThrow(RouteSchema, route, '');
  const p = parsePrefix(r.prefix);
  const packed = Uint32Array.from([...p.words, p.len]);
  native(() => raw().ipRoutesAdd(r.table, p.family, packed, [{ kind: r.kind, paths: r.paths }]));
}

/** Removes a route; false when the table had no such route. */
export function deleteRoute(key: { table?: number; prefix: string }): boolean {
  const r = parseOrThrow(RouteKeySchema, key, '');
  const p = parsePrefix(r.prefix);
  return native(() => raw().ipRoutesDelete(r.table, p.family, Uint32Array.from([...p.words, p.len]))) === 1;
}

/**
 * Many routes in one call (100k+): prefixes packed with packPrefixes (or built directly as a
 * Uint32Array), each pointing at one of a few route targets. Validated whole, then applied.
 */
export function addRoutes(bulk: z.input<typeof BulkRoutesSchema>): number {
  const b = parseOrThrow(BulkRoutesSchema, bulk, '');
  return native(() => raw().ipRoutesAdd(b.table, b.family, b.prefixes, b.routes, b.routeIndex));
}
export function deleteRoutes(bulk: { table?: number; family: Family; prefixes: Uint32Array }): number {
  const b = parseOrThrow(BulkRoutesSchema.innerType().pick({ table: true, family: true, prefixes: true }).strict(), bulk, '');
  return native(() => raw().ipRoutesDelete(b.table, b.family, b.prefixes));
}

/** The packet path's lookup for many addresses (packAddresses): load-balance index each. */
export function fibLookup(table: number, family: Family, addresses: Uint32Array): Uint32Array {
  return native(() => raw().ipFibLookup(table, family, addresses));
}

/**
 * `show ip fib [table N] [prefix]`: routes sorted by prefix (at most `limit`), or with
 * `prefix` the exact route ("10.0.0.0/8") or the one an address matches ("10.1.2.3").
 */
export function fib(opts: { table?: number; family?: Family; prefix?: string; limit?: number } = {}): FibView {
  const table = opts.table ?? 0;
  parseOrThrow(TableIdSchema, table, 'table');
  let family = opts.family;
  if (opts.prefix !== undefined) {
    const ip = parseIp(opts.prefix.split('/')[0]!);
    if (!ip) throw new QuiverError('prefix', `'${opts.prefix}' is not an address or prefix`);
    if (family && family !== ip.family) throw new QuiverError('prefix', `'${opts.prefix}' is not an ${family} address`);
    family = ip.family;
  }
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 0)) throw new QuiverError('limit', 'must be a whole number >= 0');
  return native(() => raw().ipFib(table, family ?? 'ip4', { prefix: opts.prefix, limit: opts.limit }));
}

// --- neighbors ---

export function neighbors(family: Family = 'ip4'): NeighborInfo[] {
  return native(() => raw().ipNeighbors(family));
}
/** A static neighbor: never aged, never overwritten by what is learned. */
export function addNeighbor(n: z.input<typeof NeighborSchema>): void {
  const x = parseOrThrow(NeighborSchema, n, '');
  native(() => raw().ipNeighborAdd(x.interface, x.address, x.mac));
}
export function deleteNeighbor(n: { interface: InterfaceRef; address: string }): void {
  const x = parseOrThrow(NeighborSchema.pick({ interface: true, address: true }).strict(), n, '');
  native(() => raw().ipNeighborDelete(x.interface, x.address));
}

export function configure(settings: IpSettings = {}): Required<IpSettings> & { neighborLearnDroppedLimit: number } {
  const s = parseOrThrow(IpSettingsSchema, settings, '');
  return native(() => raw().ipConfig(s));
}

// --- ping ---

export const PingSchema = z
  .object({
    table: TableIdSchema.default(0),
    destination: ipAddress,
    source: ipAddress.optional(),
    count: z.number().int().min(1).max(1000).default(3),
    size: z.number().int().min(0).max(1400).default(56),
    intervalMs: z.number().int().min(1).max(60_000).default(1000),
    timeoutMs: z.number().int().min(1).max(60_000).default(1000),
  })
  .strict();
export interface PingResult {
  source: string;
  sent: number;
  received: number;
  /** Round-trip time per sequence number in ms; null when no reply came back in time. */
  rttMs: (number | null)[];
}

let nextIdent = (process.pid * 7919) & 0xffff;

/** Echo requests from the dataplane itself (not the host stack). */
export async function ping(opts: z.input<typeof PingSchema>): Promise<PingResult> {
  const o = parseOrThrow(PingSchema, opts, '');
  if (o.source && parseIp(o.source)!.family !== parseIp(o.destination)!.family)
    throw new QuiverError('source', `'${o.source}' is not of the destination's family`);
  const ident = (nextIdent = (nextIdent + 1) & 0xffff);
  const hz = addon().version().tscHz;
  const session = native(() => raw().ipPingOpen(ident));
  const sentAt: number[] = [];
  let source = '';
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    for (let seq = 0; seq < o.count; seq++) {
      const s = native(() => raw().ipPingSend(o.table, o.destination, o.source ?? '', ident, seq, o.size));
      source = s.source;
      sentAt.push(s.tsc);
      if (seq + 1 < o.count) await sleep(o.intervalMs);
    }
    const until = Date.now() + o.timeoutMs;
    const reply = (seq: number) => raw().ipPingReply(session, seq);
    while (Date.now() < until && sentAt.some((_, seq) => reply(seq) === 0)) await sleep(5);
    const rttMs = sentAt.map((t, seq) => {
      const r = reply(seq);
      return r > t ? ((r - t) / hz) * 1000 : null;
    });
    return { source, sent: o.count, received: rttMs.filter((x) => x !== null).length, rttMs };
  } finally {
    raw().ipPingClose(session);
  }
}

/** The masked form of a prefix string ("10.1.2.3/8" -> "10.0.0.0/8"), for callers that accept host bits. */
export function canonicalPrefix(p: string): string {
  const x = parsePrefix(p);
  const w = maskWords(x.words, x.len);
  return `${x.family === 'ip4' ? formatIp4(w[0]!) : formatIp6(w)}/${x.len}`;
}
