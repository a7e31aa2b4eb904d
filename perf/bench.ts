// Shared benchmark plumbing: repeated runs, medians, per-node clocks/packet, JSON results.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/addon.js';
import type { StatsSegment } from '../src/stats.js';

export interface BenchOptions {
  runs: number;
  seconds: number;
  smoke: boolean;
  log: (line: string) => void;
}

export interface Scenario {
  name: string;
  description: string;
  run(opts: BenchOptions): Promise<Record<string, unknown>>;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Clocks per packet of every node that handled packets, summed over workers. */
export function clocksPerNode(stats: StatsSegment): Record<string, number> {
  const acc = new Map<string, { clocks: bigint; vectors: bigint }>();
  for (const n of stats.nodes()) {
    if (n.vectors === 0n) continue;
    const a = acc.get(n.name) ?? { clocks: 0n, vectors: 0n };
    a.clocks += n.clocks;
    a.vectors += n.vectors;
    acc.set(n.name, a);
  }
  const out: Record<string, number> = {};
  for (const [k, v] of acc) out[k] = Number(v.clocks) / Number(v.vectors);
  return out;
}

/**
 * Each node's clocks per packet delivered at the end of the path (its total clocks / delivered):
 * a node a packet visits twice counts twice (as interface-output once did on a tunnel's path), so
 * the per-node figures add up to the path's cost.
 */
export function clocksPerDelivered(stats: StatsSegment, delivered: bigint): Record<string, number> {
  const out: Record<string, number> = {};
  if (delivered === 0n) return out;
  for (const n of stats.nodes()) {
    if (n.vectors === 0n) continue;
    out[n.name] = (out[n.name] ?? 0) + Number(n.clocks) / Number(delivered);
  }
  return out;
}

/** Median of each node's clocks/packet across runs. */
export function medianClocks(runs: Record<string, number>[]): Record<string, number> {
  const names = new Set(runs.flatMap((r) => Object.keys(r)));
  const out: Record<string, number> = {};
  for (const n of names) out[n] = median(runs.map((r) => r[n] ?? 0));
  return out;
}

export function printClocks(log: (l: string) => void, clocks: Record<string, number>): void {
  for (const [n, c] of Object.entries(clocks).sort((a, b) => b[1] - a[1])) log(`    ${n.padEnd(24)} ${c.toFixed(2).padStart(8)} clocks/packet`);
}

export function writeResult(name: string, result: Record<string, unknown>): string {
  const dir = join(packageRoot(), 'perf', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ scenario: name, date: new Date().toISOString(), ...result }, null, 2) + '\n');
  return file;
}
