// ACL configuration: named ordered rule lists, interface bindings, reflexive sessions.
// Rules are validated here (the error names the rule and field: `rules[412].dstPort: 70000 is
// not a port`), encoded 16 words per rule into one Uint32Array and handed to the addon in a
// single call, so replacing a 10k-rule ACL is one N-API crossing.
import { z } from 'zod';
import { addon } from '../../src/addon.js';
import type { InterfaceRef } from '../../src/engine.js';
import { QuiverError, native } from '../../src/errors.js';
import { parseOrThrow } from '../../src/validate.js';
import { type Prefix, formatAddress, parsePrefix } from './addr.js';

export const RULE_WORDS = 16;

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132 };
const PROTOCOL_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmpv6', 132: 'sctp' };
export const TCP_FLAGS: Record<string, number> = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20, ece: 0x40, cwr: 0x80 };

type Range = [number, number];
type Parse<T> = { ok: true; value: T } | { ok: false; reason: string };
const ok = <T>(value: T): Parse<T> => ({ ok: true, value });
const bad = <T>(reason: string): Parse<T> => ({ ok: false, reason });

/** A number, "lo-hi" or [lo, hi] within 0..max; `what` names the unit in errors. */
function parseRange(v: unknown, max: number, what: string): Parse<Range> {
  const one = (x: unknown) => (Number.isInteger(x) && (x as number) >= 0 && (x as number) <= max ? (x as number) : null);
  let a: unknown, b: unknown;
  if (typeof v === 'number') a = b = v;
  else if (typeof v === 'string' && /^\d+-\d+$/.test(v)) [a, b] = v.split('-').map(Number);
  else if (Array.isArray(v) && v.length === 2) [a, b] = v;
  else return bad(`${JSON.stringify(v)} is not ${what} or a range (80, "1024-65535", [1024, 65535])`);
  const lo = one(a), hi = one(b);
  if (lo === null) return bad(`${JSON.stringify(a)} is not ${what}`);
  if (hi === null) return bad(`${JSON.stringify(b)} is not ${what}`);
  if (lo > hi) return bad(`${lo}-${hi} is an empty range`);
  return ok([lo, hi]);
}

/** null: any protocol. */
function parseProtocol(v: unknown): Parse<number | null> {
  if (v === 'any') return ok(null);
  if (typeof v === 'string' && v in PROTOCOLS) return ok(PROTOCOLS[v]!);
  if (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255) return ok(v as number);
  return bad(`${JSON.stringify(v)} is not any, tcp, udp, icmp, icmpv6, sctp or a protocol number 0..255`);
}

function parseFlags(v: unknown): Parse<number> {
  if (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255) return ok(v as number);
  if (!Array.isArray(v)) return bad(`${JSON.stringify(v)} is not a list of TCP flags or a number 0..255`);
  let bits = 0;
  for (const f of v) {
    if (typeof f !== 'string' || !(f in TCP_FLAGS)) return bad(`${JSON.stringify(f)} is not a TCP flag (${Object.keys(TCP_FLAGS).join(' ')})`);
    bits |= TCP_FLAGS[f]!;
  }
  return ok(bits);
}

function parsePrefixField(v: unknown): Parse<Prefix> {
  const p = parsePrefix(v);
  return typeof p === 'string' ? bad(p) : ok(p);
}

type PortSpec = number | string | [number, number];
type FlagSpec = number | string[];

/** A rule as written in the config; kept as written (the running config prints it back). */
export interface AclRule {
  action: 'permit' | 'deny' | 'permit+reflect';
  ipVersion?: 4 | 6;
  src?: string;
  dst?: string;
  protocol?: 'any' | 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'sctp' | number;
  srcPort?: PortSpec;
  dstPort?: PortSpec;
  tcpFlags?: { value: FlagSpec; mask: FlagSpec };
  icmpType?: PortSpec;
  icmpCode?: PortSpec;
}

const RULE_KEYS = new Set(['action', 'ipVersion', 'src', 'dst', 'protocol', 'srcPort', 'dstPort', 'tcpFlags', 'icmpType', 'icmpCode']);
export interface RuleIssue {
  path: (string | number)[];
  message: string;
}

/**
 * The first problem of one rule, or null. Hand-written rather than a zod object per rule: a
 * 10k-rule ACL validates in milliseconds (zod took ~300 ms), with the same `field: reason` text.
 */
export function ruleIssue(v: unknown): RuleIssue | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { path: [], message: 'must be a rule object' };
  const r = v as Record<string, unknown>;
  for (const k in r) if (!RULE_KEYS.has(k)) return { path: [k], message: 'unknown key' };
  const at = (path: string, message: string): RuleIssue => ({ path: [path], message });
  if (r.action !== 'permit' && r.action !== 'deny' && r.action !== 'permit+reflect')
    return at('action', r.action === undefined ? 'Required' : `${JSON.stringify(r.action)} is not permit, deny or permit+reflect`);
  if (r.ipVersion !== undefined && r.ipVersion !== 4 && r.ipVersion !== 6) return at('ipVersion', `${JSON.stringify(r.ipVersion)} is not 4 or 6`);
  let src: Prefix | undefined, dst: Prefix | undefined, proto: number | null = null;
  if (r.src !== undefined) {
    const x = parsePrefixField(r.src);
    if (!x.ok) return at('src', x.reason);
    src = x.value;
  }
  if (r.dst !== undefined) {
    const x = parsePrefixField(r.dst);
    if (!x.ok) return at('dst', x.reason);
    dst = x.value;
  }
  if (r.protocol !== undefined) {
    const x = parseProtocol(r.protocol);
    if (!x.ok) return at('protocol', x.reason);
    proto = x.value;
  }
  for (const [key, max, what] of [['srcPort', 65535, 'a port'], ['dstPort', 65535, 'a port'], ['icmpType', 255, 'an ICMP type'], ['icmpCode', 255, 'an ICMP code']] as const) {
    if (r[key] === undefined) continue;
    const x = parseRange(r[key], max, what);
    if (!x.ok) return at(key, x.reason);
  }
  let flags: { value: number; mask: number } | undefined;
  if (r.tcpFlags !== undefined) {
    const f = r.tcpFlags as Record<string, unknown>;
    if (typeof f !== 'object' || f === null || Array.isArray(f)) return at('tcpFlags', 'must be { value, mask }');
    for (const k in f) if (k !== 'value' && k !== 'mask') return { path: ['tcpFlags', k], message: 'unknown key' };
    const value = parseFlags(f.value), mask = parseFlags(f.mask);
    if (f.value === undefined) return { path: ['tcpFlags', 'value'], message: 'Required' };
    if (!value.ok) return { path: ['tcpFlags', 'value'], message: value.reason };
    if (f.mask === undefined) return { path: ['tcpFlags', 'mask'], message: 'Required' };
    if (!mask.ok) return { path: ['tcpFlags', 'mask'], message: mask.reason };
    flags = { value: value.value, mask: mask.value };
  }
  // Each field is valid: now how they combine.
  if (src && dst && src.family !== dst.family) return at('dst', `is IPv${dst.family} but src is IPv${src.family}`);
  const fam = src?.family ?? dst?.family;
  if (r.ipVersion && fam && r.ipVersion !== fam) return at(src ? 'src' : 'dst', `is IPv${fam} but ipVersion is ${r.ipVersion}`);
  const ports = proto === 6 || proto === 17 || proto === 132;
  if (r.srcPort !== undefined && !ports) return at('srcPort', 'only with protocol tcp, udp or sctp');
  if (r.dstPort !== undefined && !ports) return at('dstPort', 'only with protocol tcp, udp or sctp');
  const icmp = proto === 1 || proto === 58;
  if (r.icmpType !== undefined && !icmp) return at('icmpType', 'only with protocol icmp or icmpv6');
  if (r.icmpCode !== undefined && !icmp) return at('icmpCode', 'only with protocol icmp or icmpv6');
  if (flags) {
    if (proto !== 6) return at('tcpFlags', 'only with protocol tcp');
    if (flags.value & ~flags.mask) return at('tcpFlags', 'value has flags outside the mask');
  }
  return null;
}

export const RuleSchema = z.custom<AclRule>(() => true).superRefine((v, ctx) => {
  const e = ruleIssue(v);
  if (e) ctx.addIssue({ code: 'custom', path: e.path, message: e.message });
});
const RulesSchema = z
  .array(z.unknown())
  .max(1_000_000)
  .superRefine((rules, ctx) => {
    for (let i = 0; i < rules.length; i++) {
      const e = ruleIssue(rules[i]);
      if (e) ctx.addIssue({ code: 'custom', path: [i, ...e.path], message: e.message });
    }
  }) as unknown as z.ZodType<AclRule[], z.ZodTypeDef, AclRule[]>;

const NAME = /^[A-Za-z0-9_.:/-]{1,64}$/;
export const AclNameSchema = z.string().regex(NAME, 'must be 1 to 64 letters, digits or _ . : / -');

export const AclSchema = z.object({ name: AclNameSchema, rules: RulesSchema }).strict();
export type Acl = z.input<typeof AclSchema>;

const ACTIONS = ['deny', 'permit', 'permit+reflect'] as const;

function must<T>(x: Parse<T>): T {
  if (!x.ok) throw new QuiverError('rules', x.reason); // validated before: unreachable
  return x.value;
}

/** Validated rules -> RULE_WORDS uint32 per rule (graph/acl/rule.h). */
export function encodeRules(rules: AclRule[]): Uint32Array {
  const w = new Uint32Array(rules.length * RULE_WORDS);
  const word = (b: Uint8Array, k: number) => ((b[4 * k]! << 24) | (b[4 * k + 1]! << 16) | (b[4 * k + 2]! << 8) | b[4 * k + 3]!) >>> 0;
  rules.forEach((r, i) => {
    const o = i * RULE_WORDS;
    const src = r.src === undefined ? undefined : must(parsePrefixField(r.src));
    const dst = r.dst === undefined ? undefined : must(parsePrefixField(r.dst));
    const fam = r.ipVersion ?? src?.family ?? dst?.family ?? 0;
    w[o] = ACTIONS.indexOf(r.action) | (fam << 8) | ((src?.length ?? 0) << 16) | ((dst?.length ?? 0) << 24);
    for (let k = 0; k < 4; k++) {
      if (src) w[o + 1 + k] = word(src.bytes, k);
      if (dst) w[o + 5 + k] = word(dst.bytes, k);
    }
    const p = r.protocol === undefined ? null : must(parseProtocol(r.protocol));
    w[o + 9] = p === null ? 0xff00 : p | (p << 8);
    // ICMP type and code ranges ride in the port lanes, as the classifier reads them; a range
    // that excludes nothing constrains nothing, so it covers the whole lane.
    const lane = (v: unknown, max: number, what: string): Range => {
      if (v === undefined) return [0, 65535];
      const x = must(parseRange(v, max, what));
      return x[0] === 0 && x[1] === max ? [0, 65535] : x;
    };
    const s = r.srcPort !== undefined ? lane(r.srcPort, 65535, 'a port') : lane(r.icmpType, 255, 'an ICMP type');
    const d = r.dstPort !== undefined ? lane(r.dstPort, 65535, 'a port') : lane(r.icmpCode, 255, 'an ICMP code');
    w[o + 10] = (s[0] | (s[1] << 16)) >>> 0;
    w[o + 11] = (d[0] | (d[1] << 16)) >>> 0;
    if (r.tcpFlags) w[o + 12] = must(parseFlags(r.tcpFlags.mask)) | (must(parseFlags(r.tcpFlags.value)) << 8);
  });
  return w;
}

/** Encoded words -> rules in a normalized written form (show acl). */
export function decodeRules(w: Uint32Array): AclRule[] {
  const out: AclRule[] = [];
  for (let o = 0; o + RULE_WORDS <= w.length; o += RULE_WORDS) {
    const fam = (w[o]! >> 8) & 0xff;
    const r: AclRule = { action: ACTIONS[w[o]! & 0xff]! };
    if (fam === 4 || fam === 6) r.ipVersion = fam;
    const addr = (base: number, len: number) => {
      const b = new Uint8Array(16);
      for (let k = 0; k < 4; k++) for (let j = 0; j < 4; j++) b[4 * k + j] = (w[base + k]! >>> (24 - 8 * j)) & 0xff;
      return `${formatAddress(fam as 4 | 6, b)}/${len}`;
    };
    const sl = (w[o]! >> 16) & 0xff, dl = w[o]! >>> 24;
    if (sl) r.src = addr(o + 1, sl);
    if (dl) r.dst = addr(o + 5, dl);
    const plo = w[o + 9]! & 0xff, phi = (w[o + 9]! >> 8) & 0xff;
    const proto = plo === phi ? plo : null;
    if (proto !== null) r.protocol = (PROTOCOL_NAMES[proto] as AclRule['protocol']) ?? proto;
    const rng = (x: number): PortSpec => ((x & 0xffff) === x >>> 16 ? x & 0xffff : `${x & 0xffff}-${x >>> 16}`);
    const isFull = (x: number) => (x & 0xffff) === 0 && x >>> 16 === 0xffff;
    const icmp = proto === 1 || proto === 58;
    if (!isFull(w[o + 10]!)) r[icmp ? 'icmpType' : 'srcPort'] = rng(w[o + 10]!);
    if (!isFull(w[o + 11]!)) r[icmp ? 'icmpCode' : 'dstPort'] = rng(w[o + 11]!);
    const names = (bits: number) => Object.keys(TCP_FLAGS).filter((f) => bits & TCP_FLAGS[f]!) as (keyof typeof TCP_FLAGS)[];
    if (w[o + 12]! & 0xff) r.tcpFlags = { value: names((w[o + 12]! >> 8) & 0xff), mask: names(w[o + 12]! & 0xff) };
    out.push(r);
  }
  return out;
}

// --- raw addon entry points (graph/acl/acl_api.cc) ---

export interface ClassifierStats {
  rules: number;
  trees: number;
  nodes: number;
  leaves: number;
  ruleCopies: number;
  maxDepth: number;
  maxLeaf: number;
  bytes: number;
}
export interface AclSummary {
  name: string;
  rules: number;
  buildMs: number;
  stateful: boolean;
  ip4: ClassifierStats;
  ip6: ClassifierStats;
}
interface RawShow extends AclSummary {
  encoded: Uint32Array;
  packets: BigUint64Array;
  bytes: BigUint64Array;
}
export const IF_ACL_COUNTERS = [
  'permitRule', 'denyRule', 'permitDefault', 'denyDefault', 'sessionHit', 'relatedHit', 'sessionCreated', 'sessionRefused', 'malformed', 'nonIp',
] as const;
export type IfAclCounters = Record<(typeof IF_ACL_COUNTERS)[number], bigint>;
export interface AclInterface {
  index: number;
  interface: string;
  input: string[];
  output: string[];
  inputDefault: 'deny' | 'permit';
  outputDefault: 'deny' | 'permit';
  inputCounters: IfAclCounters;
  outputCounters: IfAclCounters;
}
export interface AclSession {
  worker: number;
  interface: string;
  family: 4 | 6;
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  state: 'established' | 'transient' | 'udp' | 'icmp' | 'other';
  tcpFlagsInitiator: number;
  tcpFlagsResponder: number;
  ageSeconds: number;
  idleSeconds: number;
}
export interface SessionConfig {
  maxSessionsPerWorker: number;
  tcpEstablished: number;
  tcpTransient: number;
  udp: number;
  icmp: number;
  other: number;
}
interface AclRaw {
  aclSet(name: string, rules: Uint32Array): AclSummary;
  aclDelete(name: string): void;
  aclBind(intf: InterfaceRef, binding: Record<string, unknown>): void;
  aclClassify(name: string, packets: Buffer, lengths: Uint32Array): Int32Array;
  aclShow(name?: string): RawShow[];
  aclInterfaces(): AclInterface[];
  aclSessions(max?: number): { count: number; sessions: AclSession[] };
  aclSessionConfig(config?: Partial<SessionConfig>): SessionConfig;
  aclClearSessions(intf?: InterfaceRef): void;
  aclClearCounters(name?: string): void;
}
const raw = () => addon() as unknown as AclRaw;

// --- the API ---

/** Creates or replaces (bulk, one call) a named ACL. Validated whole before anything changes. */
export function setAcl(name: string, rules: AclRule[]): AclSummary {
  const a = parseOrThrow(AclSchema, { name, rules }, '');
  return native(() => raw().aclSet(a.name, encodeRules(a.rules)));
}

export function deleteAcl(name: string): void {
  native(() => raw().aclDelete(name));
}

export const BindingSchema = z
  .object({
    input: z.array(AclNameSchema).max(16).default([]),
    output: z.array(AclNameSchema).max(16).default([]),
    inputDefault: z.enum(['deny', 'permit']).default('deny'),
    outputDefault: z.enum(['deny', 'permit']).default('deny'),
  })
  .strict();
export type AclBinding = z.input<typeof BindingSchema>;

/** Replaces an interface's ACL lists (first match wins across them, in order); {} removes them. */
export function applyAcls(intf: InterfaceRef, binding: AclBinding): void {
  const b = parseOrThrow(BindingSchema, binding, '');
  native(() => raw().aclBind(intf, b));
}

/**
 * Classifies raw IPv4/IPv6 packets (from the IP header on) against an ACL without the graph:
 * the first matching rule's index, -1 for no match, -2 for a malformed packet.
 */
export function classify(name: string, packets: Buffer[]): Int32Array {
  const lengths = new Uint32Array(packets.map((p) => p.length));
  return native(() => raw().aclClassify(name, Buffer.concat(packets), lengths));
}

export interface AclDetail extends AclSummary {
  entries: { rule: AclRule; packets: bigint; bytes: bigint }[];
  packets: bigint; // all rules
  bytes: bigint;
}

/** ACLs with rule hits (all, or one by name). */
export function showAcl(name?: string): AclDetail[] {
  const list = native(() => raw().aclShow(name));
  return list.map(({ encoded, packets, bytes, ...summary }) => {
    const rules = decodeRules(encoded);
    return {
      ...summary,
      entries: rules.map((rule, i) => ({ rule, packets: packets[i]!, bytes: bytes[i]! })),
      packets: packets.reduce((a, b) => a + b, 0n),
      bytes: bytes.reduce((a, b) => a + b, 0n),
    };
  });
}

export function aclInterfaces(): AclInterface[] {
  return native(() => raw().aclInterfaces());
}

export function aclSessions(max = 1000): { count: number; sessions: AclSession[] } {
  if (!Number.isInteger(max) || max < 0 || max > 10_000_000) throw new QuiverError('max', 'must be 0..10000000');
  return native(() => raw().aclSessions(max));
}

const seconds = z.number().min(0.001).max(31_536_000);
export const SessionConfigSchema = z
  .object({
    maxSessionsPerWorker: z.number().int().min(1).max(1 << 24).optional(),
    tcpEstablished: seconds.optional(),
    tcpTransient: seconds.optional(),
    udp: seconds.optional(),
    icmp: seconds.optional(),
    other: seconds.optional(),
  })
  .strict();

/** Session table size and idle timeouts in seconds; returns the whole configuration. */
export function setSessionConfig(config: z.input<typeof SessionConfigSchema>): SessionConfig {
  const c = parseOrThrow(SessionConfigSchema, config, 'sessions');
  return native(() => raw().aclSessionConfig(c));
}
export function sessionConfig(): SessionConfig {
  return native(() => raw().aclSessionConfig());
}
export function clearSessions(intf?: InterfaceRef): void {
  native(() => raw().aclClearSessions(intf));
}
export function clearAclCounters(name?: string): void {
  native(() => raw().aclClearCounters(name));
}
