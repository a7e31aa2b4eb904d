// IPv4 longest-prefix match against a naive reference (a map per prefix length) on random
// tables of 10k overlapping routes: after bulk add, after deleting half, through packets.
import { describe, expect, it } from 'vitest';
import * as ip from '../../graph/ip/ip.js';
import { expectNoLeak, useEngine } from '../helpers/dataplane.js';
import { expectFrames, l3Interface, out, send } from './l3.js';
import { decTtl, ethernet, udp4 } from './packets.js';

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
const mask = (len: number) => (len === 0 ? 0 : (~0 << (32 - len)) >>> 0);

interface R {
  addr: number;
  len: number;
}
/** Overlapping prefixes: addresses drawn near a few bases so short and long ones nest. */
function randomRoutes(n: number, rand: () => number): R[] {
  const bases = Array.from({ length: 8 }, () => (rand() * 2 ** 32) >>> 0);
  const seen = new Set<string>();
  const out: R[] = [];
  while (out.length < n) {
    const len = rand() < 0.05 ? Math.floor(rand() * 8) : 8 + Math.floor(rand() * 25);
    const base = bases[Math.floor(rand() * bases.length)]!;
    const noise = (rand() * 2 ** 32) >>> 0;
    const addr = ((base & mask(Math.floor(rand() * 20))) | (noise & ~mask(Math.floor(rand() * 20)))) >>> 0;
    const r = { addr: (addr & mask(len)) >>> 0, len };
    const k = `${r.addr}/${r.len}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(r);
  }
  return out;
}

class Reference {
  byLen: Map<number, number>[] = Array.from({ length: 33 }, () => new Map());
  add(r: R, value: number): void {
    this.byLen[r.len]!.set(r.addr, value);
  }
  delete(r: R): void {
    this.byLen[r.len]!.delete(r.addr);
  }
  lookup(a: number, miss: number): number {
    for (let len = 32; len >= 0; len--) {
      const v = this.byLen[len]!.get((a & mask(len)) >>> 0);
      if (v !== undefined) return v;
    }
    return miss;
  }
}

function probes(routes: R[], rand: () => number): Uint32Array {
  const a: number[] = [];
  for (const r of routes) {
    const last = (r.addr | ~mask(r.len)) >>> 0;
    a.push(r.addr, last, (r.addr - 1) >>> 0, (last + 1) >>> 0);
  }
  for (let i = 0; i < 20000; i++) a.push((rand() * 2 ** 32) >>> 0);
  return Uint32Array.from(a.filter((x) => x >>> 28 < 0xe)); // multicast/reserved space has special routes
}

const pack = (rs: R[]) => Uint32Array.from(rs.flatMap((r) => [r.addr, r.len]));

describe('ip4 FIB longest-prefix match', () => {
  it('matches a naive reference on 10k random overlapping routes, through adds and deletes', () => {
    ip.addTable({ id: 10 });
    const plies = () => ip.tables().find((t) => t.id === 10)!.ip4Plies;
    const baselinePlies = plies(); // the special 255.255.255.255/32 needs two
    const rand = rng(12345);
    const routes = randomRoutes(10000, rand).filter((r) => r.addr >>> 28 < 0xe);
    // Every route its own next hop, so every route has its own load-balance set.
    const targets = routes.map((_, i) => ({ paths: [{ via: `10.${(i >> 8) & 255}.${i & 255}.1` }] }));
    ip.addRoute({ table: 10, prefix: '10.0.0.0/8', kind: 'drop' }); // recursive next hops resolve through a drop: unresolved, still distinct
    const t0 = performance.now();
    expect(ip.addRoutes({ table: 10, family: 'ip4', prefixes: pack(routes), routes: targets, routeIndex: Uint32Array.from(routes.keys()) })).toBe(routes.length);
    const addMs = performance.now() - t0;
    const view = ip.fib({ table: 10, limit: 20000 });
    expect(view.routes).toBeGreaterThanOrEqual(routes.length);
    const lbOf = new Map(view.entries.map((e) => [e.prefix, e.loadBalance]));
    const ref = new Reference();
    const key = (r: R) => `${ip.formatIp4(r.addr)}/${r.len}`;
    ref.add({ addr: 0x0a000000, len: 8 }, lbOf.get('10.0.0.0/8')!);
    for (const r of routes) ref.add(r, lbOf.get(key(r))!);
    expect(new Set(routes.map((r) => lbOf.get(key(r)))).size).toBe(routes.length);
    const check = () => {
      const q = probes(routes, rand);
      const got = ip.fibLookup(10, 'ip4', q);
      let bad = 0;
      for (let i = 0; i < q.length; i++) if (got[i] !== ref.lookup(q[i]!, 0)) bad++; // 0: unreachable
      return { bad, n: q.length };
    };
    expect(check()).toMatchObject({ bad: 0 });
    expect(plies()).toBeGreaterThan(baselinePlies + 100);
    // Delete a random half: leaves fall back to their covers, emptied plies fold away.
    const gone = routes.filter(() => rand() < 0.5);
    expect(ip.deleteRoutes({ table: 10, family: 'ip4', prefixes: pack(gone) })).toBe(gone.length);
    for (const r of gone) ref.delete(r);
    expect(check()).toMatchObject({ bad: 0 });
    // Everything gone: the table is back to its special routes and no plies.
    const rest = routes.filter((r) => !gone.includes(r));
    ip.deleteRoutes({ table: 10, family: 'ip4', prefixes: pack(rest) });
    ip.deleteRoute({ table: 10, prefix: '10.0.0.0/8' });
    const q = probes(routes, rand);
    expect(Array.from(ip.fibLookup(10, 'ip4', q)).every((x) => x === 0)).toBe(true);
    expect(plies()).toBe(baselinePlies);
    expect(addMs).toBeLessThan(5000);
    ip.deleteTable(10);
  });

  it('forwards packets by the longest match (random routes over 32 next hops)', async () => {
    const mac1 = l3Interface('pg1', ['198.18.1.1/24']);
    const macIn = l3Interface('pg0', ['198.18.0.1/24']);
    const hops = Array.from({ length: 32 }, (_, i) => ({ ip: `198.18.1.${10 + i}`, mac: `02:00:00:01:00:${(10 + i).toString(16).padStart(2, '0')}` }));
    for (const h of hops) ip.addNeighbor({ interface: 'pg1', address: h.ip, mac: h.mac });
    const rand = rng(777);
    const routes = randomRoutes(2000, rand).filter((r) => r.addr >>> 24 !== 198 && r.addr >>> 28 < 0xe && r.len > 0);
    const idx = Uint32Array.from(routes.map(() => Math.floor(rand() * hops.length)));
    ip.addRoutes({ family: 'ip4', prefixes: pack(routes), routes: hops.map((h) => ({ paths: [{ via: h.ip, interface: 'pg1' }] })), routeIndex: idx });
    const ref = new Reference();
    routes.forEach((r, i) => ref.add(r, idx[i]!));
    const dsts = probes(routes, rand).filter((a) => ref.lookup(a, -1) >= 0 && a >>> 24 !== 198).slice(0, 1000);
    const pkts = Array.from(dsts, (d, i) => udp4({ src: '198.18.0.2', dst: ip.formatIp4(d), sport: i, dport: 53 }));
    await send('pg0', pkts.map((p) => ethernet({ dst: macIn, src: '02:00:00:00:00:02' }, p)));
    const got = await out('pg1', pkts.length);
    expectFrames(got, pkts.map((p, i) => ethernet({ dst: hops[ref.lookup(dsts[i]!, -1)]!.mac, src: mac1 }, decTtl(p))));
    expectNoLeak();
  });
});
