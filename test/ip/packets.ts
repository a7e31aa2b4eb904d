// Hand-written IPv4/IPv6/ARP/ICMP/ND builders for the L3 tests, independent of the code under
// test (checksums computed here from the RFC definitions).
import { checksum, ethernet, ip4, mac } from '../helpers/packets.js';

export { checksum, ethernet, ip4, mac };

export function ip6(s: string): Buffer {
  const halves = s.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const groups = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

export interface Ip4Opts {
  src: string;
  dst: string;
  proto: number;
  payload: Buffer;
  ttl?: number;
  id?: number;
  tos?: number;
  df?: boolean;
  options?: Buffer; // multiple of 4 bytes
  fragOffset?: number;
  moreFragments?: boolean;
}
export function ipv4(o: Ip4Opts): Buffer {
  const opt = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + opt.length);
  h[0] = 0x40 | ((20 + opt.length) / 4);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(h.length + o.payload.length, 2);
  h.writeUInt16BE(o.id ?? 0, 4);
  h.writeUInt16BE((o.df ? 0x4000 : 0) | (o.moreFragments ? 0x2000 : 0) | (o.fragOffset ?? 0), 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto;
  ip4(o.src).copy(h, 12);
  ip4(o.dst).copy(h, 16);
  opt.copy(h, 20);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, o.payload]);
}

export function udp4(o: { src: string; dst: string; sport: number; dport: number; payload?: Buffer; ttl?: number; id?: number; df?: boolean }): Buffer {
  const payload = o.payload ?? Buffer.alloc(18, 0x5a);
  const u = Buffer.alloc(8);
  u.writeUInt16BE(o.sport, 0);
  u.writeUInt16BE(o.dport, 2);
  u.writeUInt16BE(8 + payload.length, 4);
  const pseudo = Buffer.concat([ip4(o.src), ip4(o.dst), Buffer.from([0, 17]), u.subarray(4, 6)]);
  u.writeUInt16BE(checksum(Buffer.concat([pseudo, u, payload])) || 0xffff, 6);
  return ipv4({ src: o.src, dst: o.dst, proto: 17, payload: Buffer.concat([u, payload]), ttl: o.ttl, id: o.id, df: o.df });
}

export function tcp4(o: { src: string; dst: string; sport: number; dport: number; ttl?: number }): Buffer {
  const t = Buffer.alloc(20);
  t.writeUInt16BE(o.sport, 0);
  t.writeUInt16BE(o.dport, 2);
  t[12] = 0x50;
  t[13] = 0x02; // SYN
  t.writeUInt16BE(65535, 14);
  const pseudo = Buffer.concat([ip4(o.src), ip4(o.dst), Buffer.from([0, 6, 0, 20])]);
  t.writeUInt16BE(checksum(Buffer.concat([pseudo, t])), 16);
  return ipv4({ src: o.src, dst: o.dst, proto: 6, payload: t, ttl: o.ttl });
}

export function icmp4(type: number, code: number, rest: Buffer, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = type;
  h[1] = code;
  rest.copy(h, 4);
  const m = Buffer.concat([h, body]);
  m.writeUInt16BE(checksum(m), 2);
  return m;
}
export function echo4(type: 8 | 0, id: number, seq: number, data: Buffer): Buffer {
  const r = Buffer.alloc(4);
  r.writeUInt16BE(id, 0);
  r.writeUInt16BE(seq, 2);
  return icmp4(type, 0, r, data);
}

/** The ICMP error Quiver sends about `orig` (an IPv4 packet): quote up to 548 bytes. */
export function icmp4Error(o: { src: string; dst: string; type: number; code: number; mtu?: number; orig: Buffer }): Buffer {
  const rest = Buffer.alloc(4);
  if (o.mtu !== undefined) rest.writeUInt16BE(o.mtu, 2);
  const quote = o.orig.subarray(0, Math.min(o.orig.length, 576 - 28));
  return ipv4({ src: o.src, dst: o.dst, proto: 1, ttl: 64, payload: icmp4(o.type, o.code, rest, quote) });
}

/** The same IPv4 packet with TTL decremented and the checksum recomputed from scratch. */
export function decTtl(p: Buffer): Buffer {
  const q = Buffer.from(p);
  const ihl = (q[0]! & 0xf) * 4;
  q[8] = q[8]! - 1;
  q.writeUInt16BE(0, 10);
  q.writeUInt16BE(checksum(q.subarray(0, ihl)), 10);
  return q;
}

export function arp(o: { op: 1 | 2; senderMac: string; senderIp: string; targetMac?: string; targetIp: string }): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(o.op, 6);
  mac(o.senderMac).copy(a, 8);
  ip4(o.senderIp).copy(a, 14);
  mac(o.targetMac ?? '00:00:00:00:00:00').copy(a, 18);
  ip4(o.targetIp).copy(a, 24);
  return a;
}

// --- IPv6 ---

export function ipv6(o: { src: string; dst: string; nh: number; payload: Buffer; hlim?: number; tc?: number; flow?: number }): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE((6 << 28) | ((o.tc ?? 0) << 20) | (o.flow ?? 0), 0);
  h.writeUInt16BE(o.payload.length, 4);
  h[6] = o.nh;
  h[7] = o.hlim ?? 64;
  ip6(o.src).copy(h, 8);
  ip6(o.dst).copy(h, 24);
  return Buffer.concat([h, o.payload]);
}

function pseudo6(src: string, dst: string, len: number, nh: number): Buffer {
  const p = Buffer.alloc(40);
  ip6(src).copy(p, 0);
  ip6(dst).copy(p, 16);
  p.writeUInt32BE(len, 32);
  p[39] = nh;
  return p;
}

export function icmp6(o: { src: string; dst: string; type: number; code: number; rest?: Buffer; body?: Buffer; hlim?: number }): Buffer {
  const h = Buffer.alloc(8);
  h[0] = o.type;
  h[1] = o.code;
  (o.rest ?? Buffer.alloc(4)).copy(h, 4);
  const m = Buffer.concat([h, o.body ?? Buffer.alloc(0)]);
  m.writeUInt16BE(checksum(Buffer.concat([pseudo6(o.src, o.dst, m.length, 58), m])), 2);
  return ipv6({ src: o.src, dst: o.dst, nh: 58, payload: m, hlim: o.hlim });
}

export function echo6(o: { src: string; dst: string; type: 128 | 129; id: number; seq: number; data: Buffer; hlim?: number }): Buffer {
  const r = Buffer.alloc(4);
  r.writeUInt16BE(o.id, 0);
  r.writeUInt16BE(o.seq, 2);
  return icmp6({ src: o.src, dst: o.dst, type: o.type, code: 0, rest: r, body: o.data, hlim: o.hlim });
}

export function udp6(o: { src: string; dst: string; sport: number; dport: number; payload?: Buffer; hlim?: number }): Buffer {
  const payload = o.payload ?? Buffer.alloc(18, 0x5a);
  const u = Buffer.alloc(8);
  u.writeUInt16BE(o.sport, 0);
  u.writeUInt16BE(o.dport, 2);
  u.writeUInt16BE(8 + payload.length, 4);
  u.writeUInt16BE(checksum(Buffer.concat([pseudo6(o.src, o.dst, 8 + payload.length, 17), u, payload])) || 0xffff, 6);
  return ipv6({ src: o.src, dst: o.dst, nh: 17, payload: Buffer.concat([u, payload]), hlim: o.hlim });
}

/** The ICMPv6 error Quiver sends about `orig`: quote up to 1232 bytes. */
export function icmp6Error(o: { src: string; dst: string; type: number; code: number; data?: number; orig: Buffer }): Buffer {
  const rest = Buffer.alloc(4);
  rest.writeUInt32BE(o.data ?? 0, 0);
  return icmp6({ src: o.src, dst: o.dst, type: o.type, code: o.code, rest, body: o.orig.subarray(0, Math.min(o.orig.length, 1280 - 48)), hlim: 64 });
}

export function decHlim(p: Buffer): Buffer {
  const q = Buffer.from(p);
  q[7] = q[7]! - 1;
  return q;
}

/** Neighbor solicitation (with a source link-layer option unless src is ::). */
export function ns(o: { src: string; dst: string; target: string; srcMac?: string; hlim?: number }): Buffer {
  const body = Buffer.concat([ip6(o.target), o.srcMac ? Buffer.concat([Buffer.from([1, 1]), mac(o.srcMac)]) : Buffer.alloc(0)]);
  return icmp6({ src: o.src, dst: o.dst, type: 135, code: 0, body, hlim: o.hlim ?? 255 });
}
/** Neighbor advertisement with a target link-layer option. */
export function na(o: { src: string; dst: string; target: string; mac: string; flags: number; hlim?: number }): Buffer {
  const rest = Buffer.alloc(4);
  rest.writeUInt32BE(o.flags >>> 0, 0);
  const body = Buffer.concat([ip6(o.target), Buffer.from([2, 1]), mac(o.mac)]);
  return icmp6({ src: o.src, dst: o.dst, type: 136, code: 0, rest, body, hlim: o.hlim ?? 255 });
}
export const NA_ROUTER = 0x80000000, NA_SOLICITED = 0x40000000, NA_OVERRIDE = 0x20000000;

export function solicitedNode(addr: string): string {
  const b = ip6(addr);
  return `ff02::1:ff${b[13]!.toString(16).padStart(2, '0')}:${b.readUInt16BE(14).toString(16)}`;
}
export function multicastMac(addr: string): string {
  const b = ip6(addr);
  return ['33', '33', ...[12, 13, 14, 15].map((i) => b[i]!.toString(16).padStart(2, '0'))].join(':');
}
/** EUI-64 link-local address of a MAC, in RFC 5952 form. */
export function linkLocal(m: string): string {
  const b = mac(m);
  const g = [((b[0]! ^ 2) << 8) | b[1]!, (b[2]! << 8) | 0xff, 0xfe00 | b[3]!, (b[4]! << 8) | b[5]!];
  while (g.length && g[0] === 0) g.shift(); // leading zero groups join the '::'
  return `fe80::${g.map((x) => x.toString(16)).join(':')}`;
}
