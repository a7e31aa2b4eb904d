// IPv4/IPv6 addresses and prefixes in TypeScript, independent of the addon: parsing with
// reasons, formatting, and the packed form the bulk route API takes (host-order 32-bit
// words: [addr, len] per IPv4 route, [w0, w1, w2, w3, len] per IPv6 route).
import { QuiverError } from '../../src/errors.js';

export type Family = 'ip4' | 'ip6';

export interface ParsedIp {
  family: Family;
  /** Host-order 32-bit words: one for IPv4, four for IPv6. */
  words: number[];
}
export interface ParsedPrefix extends ParsedIp {
  len: number;
}

export function parseIp4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const o = m.slice(1).map(Number);
  if (o.some((x, i) => x > 255 || (m[i + 1]!.length > 1 && m[i + 1]![0] === '0'))) return null;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

export function parseIp6(s: string): number[] | null {
  if (s.length < 2 || s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let tail4: number | null = null;
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tail4 = parseIp4(s.slice(lastColon + 1));
    if (tail4 === null) return null;
    text = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const group = (part: string) => (part === '' ? [] : part.split(':'));
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 2 ? fill < 1 : head.length !== 8) return null;
  const groups = [...head, ...Array(halves.length === 2 ? fill : 0).fill('0'), ...rest];
  if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const v = groups.map((g) => parseInt(g, 16));
  const words = [0, 1, 2, 3].map((i) => ((v[2 * i]! << 16) | v[2 * i + 1]!) >>> 0);
  if (tail4 !== null) words[3] = tail4;
  return words;
}

export function parseIp(s: string): ParsedIp | null {
  const v4 = parseIp4(s);
  if (v4 !== null) return { family: 'ip4', words: [v4] };
  const v6 = parseIp6(s);
  return v6 ? { family: 'ip6', words: v6 } : null;
}

/** Why `s` is not a prefix, or null when it is one. */
export function prefixProblem(s: string, hostBitsOk: boolean): string | null {
  const slash = s.indexOf('/');
  if (slash < 0) return `'${s}' has no prefix length (address/length)`;
  const ip = parseIp(s.slice(0, slash));
  if (!ip) return `'${s}' is not an IPv4 or IPv6 prefix`;
  const lenText = s.slice(slash + 1);
  const max = ip.family === 'ip4' ? 32 : 128;
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) return `'${s}' has a bad prefix length (0..${max})`;
  if (!hostBitsOk && !sameWords(maskWords(ip.words, Number(lenText)), ip.words)) return `${s} has host bits set`;
  return null;
}

export function parsePrefix(s: string): ParsedPrefix {
  const slash = s.indexOf('/');
  const ip = parseIp(s.slice(0, slash))!;
  return { ...ip, len: Number(s.slice(slash + 1)) };
}

export function maskWords(words: number[], len: number): number[] {
  return words.map((w, i) => {
    const keep = len - 32 * i;
    if (keep >= 32) return w >>> 0;
    if (keep <= 0) return 0;
    return (w & (~0 << (32 - keep))) >>> 0;
  });
}
function sameWords(a: number[], b: number[]): boolean {
  return a.every((x, i) => x === b[i]);
}

export function formatIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
export function formatIp6(words: ArrayLike<number>): string {
  const g: number[] = [];
  for (let i = 0; i < 4; i++) g.push(words[i]! >>> 16, words[i]! & 0xffff);
  // RFC 5952: the longest run (>= 2) of zero groups becomes '::'.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Packs prefixes for addRoutes/deleteRoutes; every prefix must be of `family`. */
export function packPrefixes(family: Family, prefixes: readonly string[]): Uint32Array {
  const stride = family === 'ip4' ? 2 : 5;
  const out = new Uint32Array(prefixes.length * stride);
  prefixes.forEach((p, i) => {
    const bad = prefixProblem(p, false);
    if (bad) throw new QuiverError(`prefixes[${i}]`, bad);
    const x = parsePrefix(p);
    if (x.family !== family) throw new QuiverError(`prefixes[${i}]`, `${p} is not an ${family === 'ip4' ? 'IPv4' : 'IPv6'} prefix`);
    out.set([...x.words, x.len], i * stride);
  });
  return out;
}

/** Packs addresses for fibLookup: one word (IPv4) or four (IPv6) each. */
export function packAddresses(family: Family, addresses: readonly string[]): Uint32Array {
  const stride = family === 'ip4' ? 1 : 4;
  const out = new Uint32Array(addresses.length * stride);
  addresses.forEach((a, i) => {
    const x = parseIp(a);
    if (!x || x.family !== family) throw new QuiverError(`addresses[${i}]`, `'${a}' is not an ${family === 'ip4' ? 'IPv4' : 'IPv6'} address`);
    out.set(x.words, i * stride);
  });
  return out;
}
