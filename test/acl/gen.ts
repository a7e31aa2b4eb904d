// Hand-written IPv4/IPv6 packet builders and random rule/packet generators for the ACL tests.
import type { AclRule } from '../../graph/acl/acl.js';

/** mulberry32: small, seedable, good enough to spread test cases. */
export function rng(seed: number): { int(n: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    chance: (p) => next() < p,
  };
}

export function ip4Bytes(s: string): Buffer {
  return Buffer.from(s.split('.').map(Number));
}
export function ip6Bytes(s: string): Buffer {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 2 * i));
  return b;
}

export interface L4 {
  proto: number;
  bytes: Buffer;
}
export function tcp(sport: number, dport: number, flags = 0x02, payload = Buffer.alloc(0)): L4 {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(1000, 4);
  h[12] = 5 << 4;
  h[13] = flags;
  h.writeUInt16BE(65535, 14);
  return { proto: 6, bytes: Buffer.concat([h, payload]) };
}
export function udp(sport: number, dport: number, payload = Buffer.alloc(18)): L4 {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return { proto: 17, bytes: Buffer.concat([h, payload]) };
}
export function sctp(sport: number, dport: number): L4 {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  return { proto: 132, bytes: h };
}
export function icmp(type: number, code: number, id = 0, v6 = false, payload = Buffer.alloc(8)): L4 {
  const h = Buffer.alloc(8);
  h[0] = type;
  h[1] = code;
  h.writeUInt16BE(id, 4);
  return { proto: v6 ? 58 : 1, bytes: Buffer.concat([h, payload]) };
}
export function rawL4(proto: number, bytes: Buffer): L4 {
  return { proto, bytes };
}

export interface Ip4Opts {
  src: string;
  dst: string;
  ttl?: number;
  options?: number; // 32-bit words of options (IHL - 5)
  fragOffset?: number; // in 8-byte units
  moreFragments?: boolean;
  id?: number;
  protoOverride?: number;
}
export function ipv4(o: Ip4Opts, l4: L4): Buffer {
  const opt = o.options ?? 0;
  const h = Buffer.alloc(20 + 4 * opt, 0);
  h[0] = 0x40 | (5 + opt);
  h.writeUInt16BE(h.length + l4.bytes.length, 2);
  h.writeUInt16BE(o.id ?? 0, 4);
  h.writeUInt16BE(((o.moreFragments ? 1 : 0) << 13) | (o.fragOffset ?? 0), 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.protoOverride ?? l4.proto;
  ip4Bytes(o.src).copy(h, 12);
  ip4Bytes(o.dst).copy(h, 16);
  for (let i = 20; i < h.length; i++) h[i] = 1; // NOP options
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  h.writeUInt16BE(~sum & 0xffff, 10);
  return Buffer.concat([h, l4.bytes]);
}

export interface Ext {
  type: 0 | 43 | 60 | 44 | 51;
  fragOffset?: number; // fragment header: offset in 8-byte units
  units?: number; // extra 8-byte units (hop-by-hop, routing, dest opts) or 4-byte units (AH)
}
export function ipv6(o: { src: string; dst: string; hopLimit?: number; ext?: Ext[] }, l4: L4): Buffer {
  const ext = o.ext ?? [];
  const parts: Buffer[] = [];
  ext.forEach((e, i) => {
    const next = i + 1 < ext.length ? ext[i + 1]!.type : l4.proto;
    let b: Buffer;
    if (e.type === 44) {
      b = Buffer.alloc(8);
      b.writeUInt16BE(((e.fragOffset ?? 0) << 3) | 1, 2);
    } else if (e.type === 51) {
      b = Buffer.alloc((2 + (e.units ?? 1)) * 4);
      b[1] = e.units ?? 1;
    } else {
      b = Buffer.alloc((1 + (e.units ?? 0)) * 8);
      b[1] = e.units ?? 0;
    }
    b[0] = next;
    parts.push(b);
  });
  const payload = Buffer.concat([...parts, l4.bytes]);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(payload.length, 4);
  h[6] = ext.length ? ext[0]!.type : l4.proto;
  h[7] = o.hopLimit ?? 64;
  ip6Bytes(o.src).copy(h, 8);
  ip6Bytes(o.dst).copy(h, 24);
  return Buffer.concat([h, payload]);
}

// --- random rules and packets ---

// Benchmarking and documentation ranges only (these packets are classified, never sent).
const V4_NETS = ['198.18.0.0', '198.18.1.0', '198.18.128.0', '198.19.0.0', '198.19.7.0', '198.19.255.0', '192.0.2.0'];
const V6_NETS = ['2001:db8::', '2001:db8:1::', '2001:db8:1:2::', '2001:db8:ffff::', '2001:db8:0:0:8000::', '2001:db8:8000::'];

function v4Addr(r: ReturnType<typeof rng>): string {
  const base = ip4Bytes(r.pick(V4_NETS));
  base[3] = r.pick([0, 1, 2, 3, 7, 64, 128, 200, 255]);
  if (r.chance(0.3)) base[2] = r.int(256);
  return Array.from(base).join('.');
}
function v6Addr(r: ReturnType<typeof rng>): string {
  const b = ip6Bytes(r.pick(V6_NETS));
  b[15] = r.pick([0, 1, 2, 3, 0x80, 0xff]);
  if (r.chance(0.3)) b[7] = r.int(256);
  if (r.chance(0.2)) b[11] = r.int(256);
  const g: string[] = [];
  for (let i = 0; i < 8; i++) g.push(b.readUInt16BE(2 * i).toString(16));
  return g.join(':');
}
function portSpec(r: ReturnType<typeof rng>, max: number): number | string | [number, number] {
  const lo = r.pick([0, 1, 22, 53, 80, 443, 1024, 8080, max - 1, r.int(max + 1)].map((x) => Math.min(x, max)));
  const hi = Math.min(max, lo + r.pick([0, 0, 1, 10, 100, 1000, max]));
  if (lo === hi) return r.chance(0.7) ? lo : `${lo}-${hi}`;
  return r.chance(0.5) ? `${lo}-${hi}` : [lo, hi];
}

/** A random rule in the config's written forms, every field exercised. */
export function randomRule(r: ReturnType<typeof rng>): AclRule {
  const rule: AclRule = { action: r.pick(['permit', 'deny', 'permit+reflect'] as const) };
  const family = r.pick([4, 4, 6, 6, 0] as const);
  if (family && r.chance(0.3)) rule.ipVersion = family;
  const plen = (max: number) =>
    r.pick([16, 24, 24, 28, 32, 48, 64, 120, max, max, max / 4 + r.int((3 * max) / 4 + 1)].filter((x) => x <= max));
  if (family === 4) {
    if (r.chance(0.7)) rule.src = `${v4Addr(r)}/${plen(32)}`;
    if (r.chance(0.8)) rule.dst = r.chance(0.1) ? v4Addr(r) : `${v4Addr(r)}/${plen(32)}`;
  } else if (family === 6) {
    if (r.chance(0.7)) rule.src = `${v6Addr(r)}/${plen(128)}`;
    if (r.chance(0.8)) rule.dst = `${v6Addr(r)}/${plen(128)}`;
  }
  // Rules that match (nearly) everything end a list early; keep them rare so late rules matter.
  const wideOpen = !rule.src && !rule.dst;
  const proto = wideOpen
    ? r.pick(['tcp', 'udp', 'icmp', 'icmpv6', 'sctp', 47] as const)
    : r.pick(['tcp', 'tcp', 'udp', 'udp', 'icmp', 'icmpv6', 'sctp', 47, 'any', undefined] as const);
  if (proto !== undefined) rule.protocol = proto;
  if (proto === 'tcp' || proto === 'udp' || proto === 'sctp') {
    if (r.chance(wideOpen ? 0.95 : 0.7)) rule.dstPort = portSpec(r, 65535);
    if (r.chance(0.3)) rule.srcPort = portSpec(r, 65535);
    if (proto === 'tcp' && r.chance(0.25))
      if (r.chance(0.5)) rule.tcpFlags = { value: ['syn'], mask: ['syn', 'ack'] };
      else {
        const mask = r.pick([0x12, 0x17, 0x10, 0x04]);
        rule.tcpFlags = { value: r.pick([0x10, 0x12, 0, 0x04]) & mask, mask };
      }
  }
  if (proto === 'icmp' || proto === 'icmpv6') {
    if (r.chance(0.6)) rule.icmpType = portSpec(r, 255);
    if (r.chance(0.3)) rule.icmpCode = portSpec(r, 255);
  }
  return rule;
}

/** A packet near a rule: its fields taken from the rule or varied, often just off an edge. */
export function randomPacket(r: ReturnType<typeof rng>, near?: AclRule, far = false): Buffer {
  const fam: 4 | 6 = near?.ipVersion ?? ((near?.src ?? near?.dst)?.toString().includes(':') ? 6 : (near?.src ?? near?.dst) ? 4 : r.pick([4, 6] as const));
  const addrNear = (p: unknown) => {
    // Far: documentation addresses no rule prefix (8 bits or longer) of the pools reaches.
    if (far) return fam === 4 ? `203.0.113.${r.int(256)}` : `3fff::${r.int(65536).toString(16)}`;
    if (typeof p !== 'string' || r.chance(0.15)) return fam === 4 ? v4Addr(r) : v6Addr(r);
    const [a, len] = p.split('/');
    const bytes = fam === 4 ? ip4Bytes(a!) : ip6Bytes(a!);
    const bits = len === undefined ? bytes.length * 8 : Number(len);
    // Random host bits, and now and then one flipped bit inside the prefix (just outside).
    for (let bit = bits; bit < bytes.length * 8; bit++) if (r.chance(0.5)) bytes[bit >> 3]! ^= 0x80 >> (bit & 7);
    if (bits > 0 && r.chance(0.15)) {
      const bit = bits - 1 - r.int(Math.min(bits, 4));
      bytes[bit >> 3]! ^= 0x80 >> (bit & 7);
    }
    if (fam === 4) return Array.from(bytes).join('.');
    const g: string[] = [];
    for (let i = 0; i < 8; i++) g.push(bytes.readUInt16BE(2 * i).toString(16));
    return g.join(':');
  };
  const src = addrNear(near?.src);
  const dst = addrNear(near?.dst);
  const inRange = (spec: unknown, max: number) => {
    if (spec === undefined || r.chance(0.1)) return r.int(max + 1);
    const [lo, hi] = typeof spec === 'number' ? [spec, spec] : typeof spec === 'string' ? spec.split('-').map(Number) : (spec as [number, number]);
    const v = r.chance(0.2) ? r.pick([lo! - 1, hi! + 1]) : lo! + r.int(hi! - lo! + 1);
    return Math.max(0, Math.min(max, v));
  };
  let protoName = near?.protocol ?? r.pick(['tcp', 'udp', 'icmp', 'icmpv6', 'sctp', 47]);
  if (protoName === 'any' || r.chance(0.05)) protoName = r.pick(['tcp', 'udp', 'icmp', 'icmpv6', 'sctp', 47, 0]);
  if (far && r.chance(0.5)) protoName = 99; // no rule names it
  let l4: L4;
  switch (protoName) {
    case 'tcp': {
      const flags = near?.tcpFlags && r.chance(0.7) ? r.pick([0x02, 0x12, 0x10, 0x11, 0x04, 0x18]) : r.int(256);
      l4 = tcp(inRange(near?.srcPort, 65535), inRange(near?.dstPort, 65535), flags);
      break;
    }
    case 'udp': l4 = udp(inRange(near?.srcPort, 65535), inRange(near?.dstPort, 65535)); break;
    case 'sctp': l4 = sctp(inRange(near?.srcPort, 65535), inRange(near?.dstPort, 65535)); break;
    case 'icmp':
    case 'icmpv6': l4 = icmp(inRange(near?.icmpType, 255), inRange(near?.icmpCode, 255), r.int(65536), protoName === 'icmpv6'); break;
    default: l4 = rawL4(typeof protoName === 'number' ? protoName : 47, Buffer.alloc(r.int(12)));
  }
  let pkt: Buffer;
  if (fam === 4) {
    const frag = r.chance(0.05) ? 1 + r.int(100) : 0;
    pkt = ipv4({ src, dst, options: r.chance(0.1) ? 1 + r.int(3) : 0, fragOffset: frag, moreFragments: r.chance(0.1) }, l4);
  } else {
    const ext: Ext[] = [];
    if (r.chance(0.15)) for (let i = 1 + r.int(3); i > 0; i--) ext.push({ type: r.pick([0, 43, 60, 51] as const), units: r.int(3) });
    if (r.chance(0.08)) ext.push({ type: 44, fragOffset: r.chance(0.5) ? 0 : 1 + r.int(50) });
    pkt = ipv6({ src, dst, ext }, l4);
  }
  if (r.chance(0.03)) pkt = pkt.subarray(0, r.int(pkt.length)); // cut short anywhere
  return pkt;
}
