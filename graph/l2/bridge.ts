// Bridge domains: settings, members (split-horizon group, learning, BVI), static MACs, the
// BVI interface, and the show/clear views (`show bridge-domain [id] [detail]`, `show l2fib`,
// `clear l2fib`). Every argument is validated here first; errors name the field.
import { z } from 'zod';
import { addon } from '../../src/addon.js';
import type { InterfaceRef } from '../../src/engine.js';
import { native } from '../../src/errors.js';
import { parseOrThrow } from '../../src/validate.js';
import type { TagRewriteInfo } from './vlan.js';

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
/** The MAC table's capacity (entries); a bridge domain's macLimit cannot exceed it. */
export const MAC_TABLE_CAPACITY = 524288;
export const MAX_BRIDGE_DOMAIN_ID = 16777215;

const InterfaceRefSchema = z.union([z.string().min(1), z.number().int().min(0)]);
const BridgeDomainId = z.number().int().min(1).max(MAX_BRIDGE_DOMAIN_ID);

export const BridgeDomainSettingsSchema = z
  .object({
    /** Learn source MACs (per interface too: BridgeMember.learn). Default true. */
    learn: z.boolean().optional(),
    /** Forward known unicast by the MAC table; off drops every unicast frame. Default true. */
    forward: z.boolean().optional(),
    /** Flood unicast frames to unknown MACs. Default true. */
    uuFlood: z.boolean().optional(),
    /** Flood broadcast and multicast frames. Default true. */
    flood: z.boolean().optional(),
    /** Seconds a learned MAC lives unseen; 0: never ages. Default 300. */
    macAge: z.number().int().min(0).max(1_000_000).optional(),
    /** Learned MACs at most (static ones do not count); 0: only the table's capacity. Default 0. */
    macLimit: z.number().int().min(0).max(MAC_TABLE_CAPACITY).optional(),
  })
  .strict();
export type BridgeDomainSettings = z.input<typeof BridgeDomainSettingsSchema>;

export const BridgeDomainSchema = BridgeDomainSettingsSchema.extend({ id: BridgeDomainId }).strict();
export type BridgeDomainSpec = z.input<typeof BridgeDomainSchema>;

export const BridgeMemberSchema = z
  .object({
    interface: InterfaceRefSchema,
    /** Members sharing a non-zero group never exchange frames (flooded or forwarded). */
    splitHorizonGroup: z.number().int().min(0).max(255).default(0),
    /** The bridge domain's BVI (a BVI interface, see createBvi); at most one per domain. */
    bvi: z.boolean().default(false),
    /** Learn source MACs received on this member. Default: true, false for the BVI. */
    learn: z.boolean().optional(),
  })
  .strict();
export type BridgeMember = z.input<typeof BridgeMemberSchema>;

export const StaticMacSchema = z
  .object({
    mac: z.string().regex(MAC, 'is not a MAC address (aa:bb:cc:dd:ee:ff)'),
    interface: InterfaceRefSchema,
  })
  .strict();
export type StaticMac = z.input<typeof StaticMacSchema>;

export const BviSchema = z
  .object({
    name: z.string().min(1).max(63).regex(/^[A-Za-z0-9_./:-]+$/, 'may hold letters, digits and _ . / : -'),
    mac: z.string().regex(MAC, 'is not a MAC address (aa:bb:cc:dd:ee:ff)').optional(),
    mtu: z.number().int().min(68).max(9216).optional(),
  })
  .strict();
export type BviSpec = z.input<typeof BviSchema>;

export interface BridgeMemberInfo {
  interface: string;
  index: number;
  splitHorizonGroup: number;
  bvi: boolean;
  learn: boolean;
  tagRewrite?: TagRewriteInfo | null;
}
export interface BridgeDomainInfo {
  id: number;
  index: number;
  learn: boolean;
  forward: boolean;
  uuFlood: boolean;
  flood: boolean;
  macAge: number;
  macLimit: number;
  learned: number;
  static: number;
  bvi: string | null;
  members: BridgeMemberInfo[];
}
export interface L2FibEntry {
  bridgeDomain: number;
  mac: string;
  interface: string;
  index: number;
  static: boolean;
  bvi: boolean;
  /** Seconds since the station was last seen (aging granularity ~1 s); null when static. */
  age: number | null;
}
export interface L2InterfaceConfig {
  bridgeDomain: number | null;
  splitHorizonGroup: number;
  learn: boolean;
  bvi: boolean;
  tagRewrite: TagRewriteInfo | null;
}

interface L2Raw {
  l2BridgeCreate(o: Record<string, unknown>): number;
  l2BridgeSet(id: number, o: Record<string, unknown>): void;
  l2BridgeDelete(id: number): void;
  l2BridgeMemberAdd(id: number, intf: InterfaceRef, o: Record<string, unknown>): void;
  l2BridgeMemberRemove(intf: InterfaceRef): void;
  l2StaticMacAdd(id: number, mac: string, intf: InterfaceRef): void;
  l2StaticMacDelete(id: number, mac: string): void;
  l2Bridges(id?: number): BridgeDomainInfo[];
  l2Fib(id?: number): L2FibEntry[];
  l2FibClear(id?: number): number;
  l2FibTable(): { entries: number; buckets: number; slots: number; capacity: number; grows: number };
  l2InterfaceConfig(intf: InterfaceRef): L2InterfaceConfig;
  bviCreate(o: Record<string, unknown>): number;
}
const raw = () => addon() as unknown as L2Raw;

function checkId(id: number, field = 'id'): number {
  return parseOrThrow(BridgeDomainId, id, field);
}

/** Creates a bridge domain; returns its internal index. */
export function createBridgeDomain(spec: BridgeDomainSpec): number {
  const s = parseOrThrow(BridgeDomainSchema, spec, '');
  return native(() => raw().l2BridgeCreate(s));
}

/** Changes the settings given; the others keep their value. */
export function setBridgeDomain(id: number, settings: BridgeDomainSettings): void {
  checkId(id);
  const s = parseOrThrow(BridgeDomainSettingsSchema, settings, '');
  native(() => raw().l2BridgeSet(id, s));
}

/** Deletes an empty bridge domain (members must be removed first) and its MAC entries. */
export function deleteBridgeDomain(id: number): void {
  checkId(id);
  native(() => raw().l2BridgeDelete(id));
}

/** Adds a member, or updates it when it is already in this domain; moves it from another. */
export function addBridgeMember(id: number, member: BridgeMember): void {
  checkId(id);
  const m = parseOrThrow(BridgeMemberSchema, member, '');
  native(() => raw().l2BridgeMemberAdd(id, m.interface, { splitHorizonGroup: m.splitHorizonGroup, bvi: m.bvi, learn: m.learn }));
}

/** Takes an interface out of its bridge domain (back to L3); its MAC entries go too. */
export function removeBridgeMember(intf: InterfaceRef): void {
  native(() => raw().l2BridgeMemberRemove(parseOrThrow(InterfaceRefSchema, intf, 'interface')));
}

/** A static MAC: never learned over, never aged; the interface must be a member. */
export function addStaticMac(id: number, entry: StaticMac): void {
  checkId(id);
  const e = parseOrThrow(StaticMacSchema, entry, '');
  native(() => raw().l2StaticMacAdd(id, e.mac.toLowerCase(), e.interface));
}

export function deleteStaticMac(id: number, mac: string): void {
  checkId(id);
  const m = parseOrThrow(StaticMacSchema.shape.mac, mac, 'mac');
  native(() => raw().l2StaticMacDelete(id, m.toLowerCase()));
}

/** Creates a BVI (admin down, like every new interface); returns its index. */
export function createBvi(spec: BviSpec): number {
  const s = parseOrThrow(BviSchema, spec, '');
  return native(() => raw().bviCreate(s));
}

/** `show bridge-domain [id] [detail]`: members only with detail (with their tag rewrite). */
export function showBridgeDomain(id?: number, opts: { detail?: boolean } = {}): BridgeDomainInfo[] {
  if (id !== undefined) checkId(id);
  const rows = native(() => raw().l2Bridges(id));
  if (!opts.detail) return rows.map((r) => ({ ...r, members: [] }));
  return rows.map((r) => ({
    ...r,
    members: r.members.map((m) => ({ ...m, tagRewrite: native(() => raw().l2InterfaceConfig(m.index)).tagRewrite })),
  }));
}

/** `show l2fib [bd]`: every entry, sorted by bridge domain and MAC. */
export function showL2fib(id?: number): L2FibEntry[] {
  if (id !== undefined) checkId(id);
  return native(() => raw().l2Fib(id));
}

/**
 * The MAC table's size: entries of every bridge domain, buckets of four slots now, the most it
 * can hold, and how often it has doubled (it starts at 4096 buckets and doubles before it
 * passes half full, up to 131072).
 */
export function l2fibTable(): { entries: number; buckets: number; slots: number; capacity: number; grows: number } {
  return native(() => raw().l2FibTable());
}

/** `clear l2fib [bd]`: removes learned entries (static ones stay); returns how many. */
export function clearL2fib(id?: number): number {
  if (id !== undefined) checkId(id);
  return native(() => raw().l2FibClear(id));
}

/** An interface's L2 settings: membership, split horizon, learning, BVI, tag rewrite. */
export function l2InterfaceConfig(intf: InterfaceRef): L2InterfaceConfig {
  return native(() => raw().l2InterfaceConfig(parseOrThrow(InterfaceRefSchema, intf, 'interface')));
}

const onOff = (b: boolean) => (b ? 'on' : 'off');

/** Text for `show bridge-domain`, VPP's layout. */
export function formatBridgeDomains(rows: BridgeDomainInfo[], detail = false): string {
  if (rows.length === 0) return 'no bridge domains';
  const head = '  BD-ID   Index   Learning   U-Forwrd   UU-Flood   Flooding   MAC-Age   MAC-Limit   Learned   Static   BVI-Intf';
  const out: string[] = [];
  for (const r of rows) {
    out.push(head);
    out.push(
      `  ${String(r.id).padEnd(7)} ${String(r.index).padEnd(7)} ${onOff(r.learn).padEnd(10)} ${onOff(r.forward).padEnd(10)} ` +
        `${onOff(r.uuFlood).padEnd(10)} ${onOff(r.flood).padEnd(10)} ${(r.macAge ? `${r.macAge}s` : 'off').padEnd(9)} ` +
        `${(r.macLimit ? String(r.macLimit) : 'none').padEnd(11)} ${String(r.learned).padEnd(9)} ${String(r.static).padEnd(8)} ${r.bvi ?? 'N/A'}`,
    );
    if (detail) {
      out.push('', `  ${'Interface'.padEnd(24)} If-idx  SHG  BVI  Learn  VLAN-Tag-Rewrite`);
      for (const m of r.members) {
        const vtr = m.tagRewrite ? `${m.tagRewrite.op} ${m.tagRewrite.push.map((t) => `${t.type} ${t.vlan}`).join(' ')}`.trim() : 'none';
        out.push(`  ${m.interface.padEnd(24)} ${String(m.index).padEnd(7)} ${String(m.splitHorizonGroup).padEnd(4)} ${(m.bvi ? '*' : '-').padEnd(4)} ${onOff(m.learn).padEnd(6)} ${vtr}`);
      }
      out.push('');
    }
  }
  return out.join('\n');
}

/** Text for `show l2fib`. */
export function formatL2fib(rows: L2FibEntry[]): string {
  const out = [`  ${'Mac-Address'.padEnd(19)} ${'BD-ID'.padEnd(7)} ${'Interface'.padEnd(24)} ${'Type'.padEnd(8)} Age`];
  for (const e of rows)
    out.push(
      `  ${e.mac.padEnd(19)} ${String(e.bridgeDomain).padEnd(7)} ${e.interface.padEnd(24)} ${(e.bvi ? 'bvi' : e.static ? 'static' : 'learned').padEnd(8)} ${e.age === null ? '-' : `${Math.floor(e.age)}s`}`,
    );
  out.push(`${rows.length} l2fib entries`);
  return out.join('\n');
}
