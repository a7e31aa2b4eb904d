// Text for the operator, in VPP's layouts. Each function takes the JSON a command returns
// (numbers, not bigints), so quiverctl formats what the management API answered.
import type { RawTraceRecord } from '../addon.js';

/** bigint -> number (counters stay far below 2^53 in practice), deeply. */
export function jsonSafe<T>(value: T): JsonSafe<T> {
  return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)));
}
export type JsonSafe<T> = T extends bigint
  ? number
  : T extends (infer U)[]
    ? JsonSafe<U>[]
    : T extends object
      ? { [K in keyof T]: JsonSafe<T[K]> }
      : T;

export interface InterfaceRow {
  index: number;
  name: string;
  driver: string;
  adminUp: boolean;
  linkUp: boolean;
  mtu: number;
  mac: string;
  mode: string;
  xconnectPeer: string | null;
  rxQueues: { queue: number; worker: number; mode: string; interruptFd: boolean }[];
  counters: Record<string, number>;
  details: Record<string, unknown>;
}

const COUNTER_LABELS: [string, string][] = [
  ['rxPackets', 'rx packets'], ['rxBytes', 'rx bytes'], ['txPackets', 'tx packets'], ['txBytes', 'tx bytes'],
  ['drops', 'drops'], ['punts', 'punt'], ['rxErrors', 'rx-error'], ['txErrors', 'tx-error'],
  ['rxNoBuffer', 'rx-no-buffer'], ['txNoSpace', 'tx-no-space'],
];

export function interfaceState(i: Pick<InterfaceRow, 'adminUp' | 'linkUp' | 'driver'>): string {
  return i.adminUp ? (i.linkUp || i.driver === 'pg' ? 'up' : 'no-link') : 'down';
}

/** VPP's `show interface`: one block per interface, non-zero counters only. */
export function formatInterfaceTable(rows: InterfaceRow[]): string {
  const head = `${'Name'.padEnd(20)}${'Idx'.padStart(5)}${'State'.padStart(9)}${'MTU'.padStart(7)}  ${'Counter'.padEnd(14)}${'Count'.padStart(16)}`;
  const lines = [head];
  for (const i of rows) {
    const left = `${i.name.padEnd(20)}${String(i.index).padStart(5)}${interfaceState(i).padStart(9)}${String(i.mtu).padStart(7)}  `;
    const shown = COUNTER_LABELS.filter(([k]) => (i.counters[k] ?? 0) > 0);
    if (shown.length === 0) lines.push(left.trimEnd());
    shown.forEach(([k, label], n) => lines.push(`${n === 0 ? left : ' '.repeat(left.length)}${label.padEnd(14)}${String(i.counters[k]).padStart(16)}`));
  }
  return lines.join('\n');
}

/** `show interface NAME`: the table row plus driver, mode, mac and queues. */
export function formatInterfaceDetail(i: InterfaceRow): string {
  const lines = [formatInterfaceTable([i])];
  lines.push(`  driver ${i.driver}, mac ${i.mac}, link ${i.linkUp ? 'up' : 'down'}`);
  lines.push(`  mode ${i.mode}${i.xconnectPeer ? ` -> ${i.xconnectPeer}` : ''}`);
  for (const q of i.rxQueues) lines.push(`  rx queue ${q.queue}: worker ${q.worker}, ${q.mode}${q.interruptFd ? '' : ' (no interrupt fd)'}`);
  const details = Object.entries(i.details ?? {});
  if (details.length) lines.push(...details.map(([k, v]) => `  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`));
  return lines.join('\n');
}

export interface PlacementRow {
  worker: number;
  node: string;
  interface: string;
  queue: number;
  mode: string;
}

/** VPP's `show interface rx-placement`. */
export function formatRxPlacement(rows: PlacementRow[], workers: number): string {
  const lines: string[] = [];
  for (let w = 0; w < workers; w++) {
    lines.push(`Thread ${w} (quiver-wk${w}):`);
    const mine = rows.filter((r) => r.worker === w);
    if (mine.length === 0) lines.push('  (no rx queues)');
    for (const node of [...new Set(mine.map((r) => r.node))]) {
      lines.push(`  node ${node}:`);
      for (const r of mine.filter((x) => x.node === node)) lines.push(`    ${r.interface} queue ${r.queue} (${r.mode})`);
    }
  }
  return lines.join('\n');
}

export interface ErrorRow {
  node: string;
  name: string;
  text: string;
  severity: string;
  count: number;
}

/** VPP's `show errors`. */
export function formatErrors(rows: ErrorRow[]): string {
  if (rows.length === 0) return 'no errors counted';
  const nodeW = Math.max(20, ...rows.map((e) => e.node.length + 2));
  const reasonW = Math.max(30, ...rows.map((e) => e.text.length + e.name.length + 5));
  const lines = [`${'Count'.padStart(12)}  ${'Node'.padEnd(nodeW)}${'Reason'.padEnd(reasonW)}Severity`];
  for (const e of rows) lines.push(`${String(e.count).padStart(12)}  ${e.node.padEnd(nodeW)}${`${e.text} (${e.name})`.padEnd(reasonW)}${e.severity}`);
  return lines.join('\n');
}

export interface BuffersView {
  total: number;
  free: number;
  cached: number;
  cachedPerWorker: number[];
  held: number;
  inFlight: number;
  allocFailures: number;
  hugepages: boolean;
  slotSize: number;
  bytes: number;
}

export function formatBuffers(b: BuffersView): string {
  const mib = (b.bytes / 1048576).toFixed(1);
  return [
    `Pool: ${b.total} buffers of ${b.slotSize} bytes (${mib} MiB, ${b.hugepages ? 'hugepages' : '4 KiB pages'})`,
    `${'free'.padEnd(22)}${String(b.free).padStart(12)}`,
    `${'cached by workers'.padEnd(22)}${String(b.cached).padStart(12)}   ${b.cachedPerWorker.map((c, w) => `wk${w} ${c}`).join(', ')}`,
    `${'held by driver rings'.padEnd(22)}${String(b.held).padStart(12)}`,
    `${'in flight'.padEnd(22)}${String(b.inFlight).padStart(12)}`,
    `${'allocation failures'.padEnd(22)}${String(b.allocFailures).padStart(12)}`,
  ].join('\n');
}

/** VPP's `show trace`: packets per thread, a timestamped line per node. */
export function formatTrace(records: RawTraceRecord[]): string {
  if (records.length === 0) return 'No packets in trace buffer';
  const lines: string[] = [];
  for (const w of [...new Set(records.map((r) => r.worker))].sort((a, b) => a - b)) {
    lines.push(`------------------- Start of thread ${w} quiver-wk${w} -------------------`);
    for (const r of records.filter((x) => x.worker === w)) {
      lines.push(`Packet ${r.packet}`, '');
      for (const e of r.entries) {
        lines.push(`${clock(e.seconds)}: ${e.node}`);
        for (const t of (e.text || '').split('\n')) if (t) lines.push(`  ${t}`);
      }
      lines.push('');
    }
  }
  return lines.join('\n').trimEnd();
}

function clock(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${s.toFixed(6).padStart(9, '0')}`;
}
