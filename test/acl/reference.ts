// A naive reference ACL evaluator, written from the rule semantics in graph/acl/README.md and
// independently of the C++ (no boxes, no trees, no shared parser): parse the packet, then try
// every rule in order with address masks and plain comparisons. The differential test holds
// the classifier to it.
import type { AclRule } from '../../graph/acl/acl.js';

export type RefPacket =
  | { malformed: true }
  | { malformed: false; family: 4 | 6; src: number[]; dst: number[]; proto: number; l4: boolean; sport: number; dport: number; flags: number };

const u16 = (b: Buffer, o: number) => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Buffer, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

function l4Fields(family: 4 | 6, proto: number, b: Buffer, off: number): { ok: boolean; sport: number; dport: number; flags: number } {
  const left = b.length - off;
  if (proto === 6) return left >= 14 ? { ok: true, sport: u16(b, off), dport: u16(b, off + 2), flags: b[off + 13]! } : { ok: false, sport: 0, dport: 0, flags: 0 };
  if (proto === 17 || proto === 132) return left >= 4 ? { ok: true, sport: u16(b, off), dport: u16(b, off + 2), flags: 0 } : { ok: false, sport: 0, dport: 0, flags: 0 };
  if (proto === 1 || proto === 58) {
    if (left < 4) return { ok: false, sport: 0, dport: 0, flags: 0 };
    const type = b[off]!;
    // Query messages carry an identifier after the checksum: they must hold 8 bytes.
    const query = family === 4 ? proto === 1 && [0, 8, 13, 14, 15, 16, 17, 18].includes(type) : proto === 58 && (type === 128 || type === 129);
    if (query && left < 8) return { ok: false, sport: 0, dport: 0, flags: 0 };
    return { ok: true, sport: type, dport: b[off + 1]!, flags: 0 };
  }
  return { ok: true, sport: 0, dport: 0, flags: 0 };
}

export function parsePacket(b: Buffer): RefPacket {
  const bad: RefPacket = { malformed: true };
  if (b.length === 0) return bad;
  const version = b[0]! >> 4;
  if (version === 4) {
    if (b.length < 20) return bad;
    const ihl = (b[0]! & 15) * 4;
    if (ihl < 20 || ihl > b.length) return bad;
    const proto = b[9]!;
    const src = [u32(b, 12)], dst = [u32(b, 16)];
    const fragOffset = u16(b, 6) & 0x1fff;
    if (fragOffset !== 0) return { malformed: false, family: 4, src, dst, proto, l4: false, sport: 0, dport: 0, flags: 0 };
    const f = l4Fields(4, proto, b, ihl);
    if (!f.ok) return bad;
    return { malformed: false, family: 4, src, dst, proto, l4: true, sport: f.sport, dport: f.dport, flags: f.flags };
  }
  if (version === 6) {
    if (b.length < 40) return bad;
    const src = [0, 1, 2, 3].map((i) => u32(b, 8 + 4 * i));
    const dst = [0, 1, 2, 3].map((i) => u32(b, 24 + 4 * i));
    let next = b[6]!;
    let off = 40;
    let first = true;
    let count = 0;
    while ([0, 43, 44, 60, 51].includes(next)) {
      if (count === 8) return bad; // too many extension headers
      count++;
      if (off + 8 > b.length) return bad;
      let len: number;
      if (next === 44) {
        len = 8;
        if (u16(b, off + 2) >> 3 !== 0) first = false;
      } else if (next === 51) {
        len = (b[off + 1]! + 2) * 4;
      } else {
        len = (b[off + 1]! + 1) * 8;
      }
      if (off + len > b.length) return bad;
      next = b[off]!;
      off += len;
    }
    if (!first) return { malformed: false, family: 6, src, dst, proto: next, l4: false, sport: 0, dport: 0, flags: 0 };
    const f = l4Fields(6, next, b, off);
    if (!f.ok) return bad;
    return { malformed: false, family: 6, src, dst, proto: next, l4: true, sport: f.sport, dport: f.dport, flags: f.flags };
  }
  return bad;
}

// --- rules ---

interface RefRule {
  family: 0 | 4 | 6;
  src?: { net: number[]; mask: number[] };
  dst?: { net: number[]; mask: number[] };
  proto: number | null;
  sport?: [number, number];
  dport?: [number, number];
  flagMask: number;
  flagValue: number;
  needsL4: boolean;
}

const PROTO: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132 };
const FLAG: Record<string, number> = { fin: 1, syn: 2, rst: 4, psh: 8, ack: 16, urg: 32, ece: 64, cwr: 128 };

function addressWords(text: string): { family: 4 | 6; words: number[] } {
  if (text.includes(':')) {
    // Expand "::" and read eight 16-bit groups.
    const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    const g = groups.map((x) => parseInt(x, 16));
    return { family: 6, words: [0, 1, 2, 3].map((i) => ((g[2 * i]! << 16) | g[2 * i + 1]!) >>> 0) };
  }
  const o = text.split('.').map(Number);
  return { family: 4, words: [((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0] };
}

function prefixOf(p: string): { family: 4 | 6; net: number[]; mask: number[] } {
  const [addr, len] = p.split('/');
  const a = addressWords(addr!);
  const bits = len === undefined ? a.words.length * 32 : Number(len);
  const mask = a.words.map((_, i) => {
    const n = Math.max(0, Math.min(32, bits - 32 * i));
    return n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  });
  return { family: a.family, net: a.words.map((w, i) => (w & mask[i]!) >>> 0), mask };
}

function rangeOf(v: number | string | [number, number]): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (typeof v === 'string') {
    const [a, b] = v.split('-').map(Number);
    return [a!, b!];
  }
  return v;
}

function flagsOf(v: number | string[]): number {
  return typeof v === 'number' ? v : v.reduce((a, f) => a | FLAG[f]!, 0);
}

export function compileRule(r: AclRule): RefRule {
  const src = r.src !== undefined ? prefixOf(r.src as string) : undefined;
  const dst = r.dst !== undefined ? prefixOf(r.dst as string) : undefined;
  const proto = r.protocol === undefined || r.protocol === 'any' ? null : typeof r.protocol === 'number' ? r.protocol : PROTO[r.protocol as string]!;
  // A field constrains only when it excludes something.
  const port = (v: unknown, max: number) => {
    if (v === undefined) return undefined;
    const x = rangeOf(v as number);
    return x[0] === 0 && x[1] === max ? undefined : x;
  };
  const sport = r.srcPort !== undefined ? port(r.srcPort, 65535) : port(r.icmpType, 255);
  const dport = r.dstPort !== undefined ? port(r.dstPort, 65535) : port(r.icmpCode, 255);
  const flagMask = r.tcpFlags ? flagsOf(r.tcpFlags.mask as number) : 0;
  const flagValue = r.tcpFlags ? flagsOf(r.tcpFlags.value as number) : 0;
  return {
    family: (r.ipVersion ?? src?.family ?? dst?.family ?? 0) as 0 | 4 | 6,
    src,
    dst,
    proto,
    sport,
    dport,
    flagMask,
    flagValue,
    needsL4: sport !== undefined || dport !== undefined || flagMask !== 0,
  };
}

function prefixMatch(p: { net: number[]; mask: number[] }, addr: number[]): boolean {
  return p.net.every((n, i) => ((addr[i]! & p.mask[i]!) >>> 0) === n);
}

export function ruleMatches(r: RefRule, p: RefPacket & { malformed: false }): boolean {
  if (r.family !== 0 && r.family !== p.family) return false;
  if (r.src && !prefixMatch(r.src, p.src)) return false;
  if (r.dst && !prefixMatch(r.dst, p.dst)) return false;
  if (r.proto !== null && r.proto !== p.proto) return false;
  if (r.needsL4 && !p.l4) return false;
  if (r.sport && (p.sport < r.sport[0] || p.sport > r.sport[1])) return false;
  if (r.dport && (p.dport < r.dport[0] || p.dport > r.dport[1])) return false;
  if ((p.flags & r.flagMask) !== r.flagValue) return false;
  return true;
}

/** First matching rule, -1 none, -2 malformed: the same convention as acl.classify(). */
export function evaluate(rules: RefRule[], packet: Buffer): number {
  const p = parsePacket(packet);
  if (p.malformed) return -2;
  for (let i = 0; i < rules.length; i++) if (ruleMatches(rules[i]!, p)) return i;
  return -1;
}
