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

/** A number, "lo-hi" or [lo, hi] within 0..max; `what` names the unit in errors. */
function range(max: number, what: string) {
  return z.unknown().transform((v, ctx): Range => {
    const fail = (m: string) => {
      ctx.addIssue({ code: 'custom', message: m });
      return z.NEVER;
    };
    const one = (x: unknown): number | null => (Number.isInteger(x) && (x as number) >= 0 && (x as number) <= max ? (x as number) : null);
    let lo: number | null, hi: number | null;
    if (typeof v === 'number') {
      lo = hi = one(v);
      if (lo === null) return fail(`${v} is not ${what}`);
    } else if (typeof v === 'string' && /^\d+-\d+$/.test(v)) {
      const [a, b] = v.split('-').map(Number);
      lo = one(a);
      hi = one(b);
      if (lo === null) return fail(`${a} is not ${what}`);
      if (hi === null) return fail(`${b} is not ${what}`);
    } else if (Array.isArray(v) && v.length === 2) {
      lo = one(v[0]);
      hi = one(v[1]);
      if (lo === null) return fail(`${JSON.stringify(v[0])} is not ${what}`);
      if (hi === null) return fail(`${JSON.stringify(v[1])} is not ${what}`);
    } else {
      return fail(`${JSON.stringify(v)} is not ${what} or a range (80, "1024-65535", [1024, 65535])`);
    }
    if (lo! > hi!) return fail(`${lo}-${hi} is an empty range`);
    return [lo!, hi!];
  });
}

const prefix = z.unknown().transform((v, ctx): Prefix => {
  const p = parsePrefix(v);
  if (typeof p === 'string') {
    ctx.addIssue({ code: 'custom', message: p });
    return z.NEVER;
  }
  return p;
});

const protocol = z.unknown().transform((v, ctx): number | null => {
  if (v === 'any') return null;
  if (typeof v === 'string' && v in PROTOCOLS) return PROTOCOLS[v]!;
  if (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255) return v as number;
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not any, tcp, udp, icmp, icmpv6, sctp or a protocol number 0..255` });
  return z.NEVER;
});

const flagSet = z.unknown().transform((v, ctx): number => {
  if (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255) return v as number;
  if (Array.isArray(v)) {
    let bits = 0;
    for (const f of v) {
      if (typeof f !== 'string' || !(f in TCP_FLAGS)) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(f)} is not a TCP flag (${Object.keys(TCP_FLAGS).join(' ')})` });
        return z.NEVER;
      }
      bits |= TCP_FLAGS[f]!;
    }
    return bits;
  }
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a list of TCP flags or a number 0..255` });
  return z.NEVER;
});

export const RuleSchema = z
  .object({
    action: z.enum(['permit', 'deny', 'permit+reflect']),
    ipVersion: z.union([z.literal(4), z.literal(6)]).optional(),
    src: prefix.optional(),
    dst: prefix.optional(),
    protocol: protocol.optional(),
    srcPort: range(65535, 'a port').optional(),
    dstPort: range(65535, 'a port').optional(),
    tcpFlags: z.object({ value: flagSet, mask: flagSet }).strict().optional(),
    icmpType: range(255, 'an ICMP type').optional(),
    icmpCode: range(255, 'an ICMP code').optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const fail = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    const proto = r.protocol ?? null;
    if (r.src && r.dst && r.src.family !== r.dst.family) fail('dst', `is IPv${r.dst.family} but src is IPv${r.src.family}`);
    const fam = r.src?.family ?? r.dst?.family;
    if (r.ipVersion && fam && r.ipVersion !== fam) fail(r.src ? 'src' : 'dst', `is IPv${fam} but ipVersion is ${r.ipVersion}`);
    const ports = proto === 6 || proto === 17 || proto === 132;
    if (r.srcPort && !ports) fail('srcPort', 'only with protocol tcp, udp or sctp');
    if (r.dstPort && !ports) fail('dstPort', 'only with protocol tcp, udp or sctp');
    const icmp = proto === 1 || proto === 58;
    if (r.icmpType && !icmp) fail('icmpType', 'only with protocol icmp or icmpv6');
    if (r.icmpCode && !icmp) fail('icmpCode', 'only with protocol icmp or icmpv6');
    if (r.tcpFlags) {
      if (proto !== 6) fail('tcpFlags', 'only with protocol tcp');
      else if (r.tcpFlags.value & ~r.tcpFlags.mask) fail('tcpFlags', 'value has flags outside the mask');
    }
  });
export type AclRule = z.input<typeof RuleSchema>;
type ParsedRule = z.output<typeof RuleSchema>;

const NAME = /^[A-Za-z0-9_.:/-]{1,64}$/;
export const AclNameSchema = z.string().regex(NAME, 'must be 1 to 64 letters, digits or _ . : / -');

export const AclSchema = z.object({ name: AclNameSchema, rules: z.array(RuleSchema).max(1_000_000) }).strict();
export type Acl = z.input<typeof AclSchema>;

const ACTIONS = ['deny', 'permit', 'permit+reflect'] as const;

/** Validated rules -> kRuleWords uint32 per rule (graph/acl/rule.h). */
export function encodeRules(rules: ParsedRule[]): Uint32Array {
  const w = new Uint32Array(rules.length * RULE_WORDS);
  rules.forEach((r, i) => {
    const o = i * RULE_WORDS;
    const fam = r.ipVersion ?? r.src?.family ?? r.dst?.family ?? 0;
    w[o] = ACTIONS.indexOf(r.action) | (fam << 8) | ((r.src?.length ?? 0) << 16) | ((r.dst?.length ?? 0) << 24);
    for (let k = 0; k < 4; k++) {
      if (r.src) w[o + 1 + k] = ((r.src.bytes[4 * k]! << 24) | (r.src.bytes[4 * k + 1]! << 16) | (r.src.bytes[4 * k + 2]! << 8) | r.src.bytes[4 * k + 3]!) >>> 0;
      if (r.dst) w[o + 5 + k] = ((r.dst.bytes[4 * k]! << 24) | (r.dst.bytes[4 * k + 1]! << 16) | (r.dst.bytes[4 * k + 2]! << 8) | r.dst.bytes[4 * k + 3]!) >>> 0;
    }
    const p = r.protocol ?? null;
    w[o + 9] = p === null ? 0xff00 : p | (p << 8);
    // ICMP type and code ranges ride in the port lanes, as the classifier reads them; a
    // range that excludes nothing (0-255) constrains nothing, so it covers the whole lane.
    const lane = (x: Range | undefined, max: number): Range => (!x || (x[0] === 0 && x[1] === max) ? [0, 65535] : x);
    const s = r.srcPort ? lane(r.srcPort, 65535) : lane(r.icmpType, 255);
    const d = r.dstPort ? lane(r.dstPort, 65535) : lane(r.icmpCode, 255);
    w[o + 10] = (s[0] | (s[1] << 16)) >>> 0;
    w[o + 11] = (d[0] | (d[1] << 16)) >>> 0;
    if (r.tcpFlags) w[o + 12] = r.tcpFlags.mask | (r.tcpFlags.value << 8);
  });
  return w;
}

/** Encoded words -> rules in their normalized written form (show acl, diffs). */
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
    const rng = (x: number): [number, number] | number => ((x & 0xffff) === x >>> 16 ? x & 0xffff : [x & 0xffff, x >>> 16]);
    const isFull = (x: number) => (x & 0xffff) === 0 && x >>> 16 === 0xffff;
    if (!isFull(w[o + 10]!)) r[proto === 1 || proto === 58 ? 'icmpType' : 'srcPort'] = rng(w[o + 10]!);
    if (!isFull(w[o + 11]!)) r[proto === 1 || proto === 58 ? 'icmpCode' : 'dstPort'] = rng(w[o + 11]!);
    if (w[o + 12]! & 0xff) r.tcpFlags = { mask: w[o + 12]! & 0xff, value: (w[o + 12]! >> 8) & 0xff };
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
