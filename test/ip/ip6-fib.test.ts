// IPv6 longest-prefix match against a naive reference (a map per prefix length) on random
// tables of 10k overlapping routes, through adds and deletes, and through packets.
import { describe, expect, it } from 'vitest';
import * as ip from '../../graph/ip/ip.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { expectFrames, l3Interface, out, send } from './l3.js';
import { decHlim, ethernet, udp6 } from './packets.js';

useEngine();

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const ALL = (1n << 128n) - 1n;
const MASKS = Array.from({ length: 129 }, (_, len) => (len === 0 ? 0n : (ALL << BigInt(128 - len)) & ALL));
const mask = (len: number) => MASKS[len]!;
const rand128 = (r: () => number) => [0, 1, 2, 3].reduce((a) => (a << 32n) | BigInt((r() * 2 ** 32) >>> 0), 0n);
const words = (a: bigint) => [3, 2, 1, 0].map((i) => Number((a >> BigInt(32 * i)) & 0xffffffffn));
const text = (a: bigint) => ip.formatIp6(words(a));

interface R {
  addr: bigint;
  len: number;
}
/** Prefixes nested around a few bases; never in fe80::/10 or ff00::/8 (special routes). */
function randomRoutes(n: number, r: () => number): R[] {
  const bases = Array.from({ length: 6 }, () => (0x2001n << 112n) | (rand128(r) & ((1n << 112n) - 1n)));
  const seen = new Set<string>();
  const out: R[] = [];
  while (out.length < n) {
    const u = r();
    const len = u < 0.05 ? Math.floor(r() * 16) : u < 0.7 ? 16 + Math.floor(r() * 49) : 65 + Math.floor(r() * 64);
    const keep = mask(Math.floor(r() * 80));
    const a = ((bases[Math.floor(r() * bases.length)]! & keep) | (rand128(r) & ~keep & ALL)) & mask(len);
    if (a >> 120n === 0xffn || a >> 118n === 0x3fan) continue;
    const k = `${a}/${len}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ addr: a, len });
  }
  return out;
}

class Reference {
  byLen: Map<bigint, number>[] = Array.from({ length: 129 }, () => new Map());
  add(x: R, v: number): void {
    this.byLen[x.len]!.set(x.addr, v);
  }
  delete(x: R): void {
    this.byLen[x.len]!.delete(x.addr);
  }
  lookup(a: bigint, miss: number): number {
    for (let len = 128; len >= 0; len--) {
      const m = this.byLen[len]!;
      if (m.size === 0) continue;
      const v = m.get(a & MASKS[len]!);
      if (v !== undefined) return v;
    }
    return miss;
  }
}

const pack = (rs: R[]) => Uint32Array.from(rs.flatMap((x) => [...words(x.addr), x.len]));
function probes(routes: R[], r: () => number, sample = 3000): bigint[] {
  const a: bigint[] = [];
  for (const x of routes.filter(() => r() < sample / routes.length)) {
    const last = x.addr | (~mask(x.len) & ALL);
    a.push(x.addr, last, (x.addr - 1n) & ALL, (last + 1n) & ALL);
  }
  for (let i = 0; i < 5000; i++) a.push(rand128(r));
  return a.filter((x) => x >> 120n !== 0xffn && x >> 118n !== 0x3fan);
}

describe('ip6 FIB longest-prefix match', () => {
  it('matches a naive reference on 10k random overlapping routes, through adds and deletes', () => {
    ip.addTable({ id: 6 });
    const r = rng(4242);
    const routes = randomRoutes(10000, r);
    const targets = routes.map((_, i) => ({ kind: 'forward' as const, paths: [{ via: `2001:db8:ffff::${(i + 1).toString(16)}` }] }));
    expect(ip.addRoutes({ table: 6, family: 'ip6', prefixes: pack(routes), routes: targets, routeIndex: Uint32Array.from(routes.keys()) })).toBe(routes.length);
    const lbOf = new Map(ip.fib({ table: 6, family: 'ip6', limit: 20000 }).entries.map((e) => [e.prefix, e.loadBalance]));
    const ref = new Reference();
    for (const x of routes) ref.add(x, lbOf.get(`${text(x.addr)}/${x.len}`)!);
    expect(new Set(ref.byLen.flatMap((m) => [...m.values()])).size).toBe(routes.length);
    const check = () => {
      const q = probes(routes, r);
      const got = ip.fibLookup(6, 'ip6', Uint32Array.from(q.flatMap(words)));
      return q.filter((a, i) => got[i] !== ref.lookup(a, 0)).length;
    };
    expect(check()).toBe(0);
    const gone = routes.filter(() => r() < 0.5);
    expect(ip.deleteRoutes({ table: 6, family: 'ip6', prefixes: pack(gone) })).toBe(gone.length);
    for (const x of gone) ref.delete(x);
    expect(check()).toBe(0);
    const kept = routes.filter((x) => !gone.includes(x));
    ip.deleteRoutes({ table: 6, family: 'ip6', prefixes: pack(kept) });
    expect(ip.fib({ table: 6, family: 'ip6' }).routes).toBe(4); // ::/0, ff00::/8, ff02::/16, fe80::/10
    ip.deleteTable(6);
  });

  it('forwards packets by the longest match (random routes over 16 next hops)', async () => {
    const macIn = l3Interface('pg0', ['2001:db8::1/64']);
    const mac1 = l3Interface('pg1', ['2001:db8:1::1/64']);
    const hops = Array.from({ length: 16 }, (_, i) => ({ ip: `2001:db8:1::${(i + 16).toString(16)}`, mac: `02:00:00:06:00:${(i + 16).toString(16)}` }));
    for (const h of hops) ip.addNeighbor({ interface: 'pg1', address: h.ip, mac: h.mac });
    const r = rng(99);
    const routes = randomRoutes(2000, r).filter((x) => x.len > 0 && x.addr >> 96n !== 0x20010db8n);
    const idx = Uint32Array.from(routes.map(() => Math.floor(r() * hops.length)));
    ip.addRoutes({ family: 'ip6', prefixes: pack(routes), routes: hops.map((h) => ({ paths: [{ via: h.ip, interface: 'pg1' }] })), routeIndex: idx });
    const ref = new Reference();
    routes.forEach((x, i) => ref.add(x, idx[i]!));
    const dsts = probes(routes, r).filter((a) => ref.lookup(a, -1) >= 0 && a >> 96n !== 0x20010db8n).slice(0, 600);
    const pkts = dsts.map((d, i) => udp6({ src: '2001:db8::2', dst: text(d), sport: i, dport: 53 }));
    await send('pg0', pkts.map((p) => ethernet({ dst: macIn, src: '02:00:00:00:00:02', type: 0x86dd }, p)));
    expectFrames(await out('pg1', pkts.length), pkts.map((p, i) => ethernet({ dst: hops[ref.lookup(dsts[i]!, -1)]!.mac, src: mac1, type: 0x86dd }, decHlim(p))));
    expectNoLeak();
  });
});
