// `show runtime` and `show interface` in the layout VPP operators read every day.
import type { Interface } from '../engine.js';
import type { InterfaceCounters, NodeRuntimeStats, StatsSegment } from '../stats.js';

export interface RuntimeRow {
  worker: number;
  name: string;
  type: string;
  calls: number;
  vectors: number;
  idleCalls: number;
  clocksPerPacket: number;
  vectorsPerCall: number;
}

/** Rows with traffic (or every row with all), clocks per packet from the TSC counters. */
export function runtimeRows(stats: StatsSegment, all = false): RuntimeRow[] {
  return stats
    .nodes()
    .filter((n: NodeRuntimeStats) => all || n.calls > 0n)
    .map((n) => ({
      worker: n.worker,
      name: n.name,
      type: n.type,
      calls: Number(n.calls),
      vectors: Number(n.vectors),
      idleCalls: Number(n.idleCalls),
      clocksPerPacket: n.vectors > 0n ? Number(n.clocks) / Number(n.vectors) : n.calls > 0n ? Number(n.clocks) / Number(n.calls) : 0,
      vectorsPerCall: n.calls > 0n ? Number(n.vectors) / Number(n.calls) : 0,
    }));
}

function sci(v: number): string {
  if (v === 0) return '0';
  if (v < 1000) return v.toFixed(2).replace(/\.00$/, '');
  return v.toExponential(2);
}

export interface RuntimeView {
  workers: { id: number; loops: number; idleLoops: number; sleeps: number; wakeups: number }[];
  rows: RuntimeRow[];
}

/** What `show runtime` answers (JSON-safe). */
export function runtimeView(stats: StatsSegment, all = false): RuntimeView {
  const wc = stats.workerCounters();
  return {
    workers: wc.map((c, id) => ({ id, loops: Number(c.loops), idleLoops: Number(c.idleLoops), sleeps: Number(c.sleeps), wakeups: Number(c.wakeups) })),
    rows: runtimeRows(stats, all),
  };
}

/** VPP's `show runtime`: per worker, Name State Calls Vectors Suspends Clocks Vectors/Call. */
export function formatRuntimeView(view: RuntimeView): string {
  const lines: string[] = [];
  for (const c of view.workers) {
    const w = c.id;
    lines.push(`Thread ${w} quiver-wk${w}`);
    lines.push(`  loops ${c.loops}, idle loops ${c.idleLoops}, sleeps ${c.sleeps}, wakeups ${c.wakeups}`);
    lines.push(
      `  ${'Name'.padEnd(28)}${'State'.padStart(10)}${'Calls'.padStart(14)}${'Vectors'.padStart(14)}${'Suspends'.padStart(12)}${'Clocks'.padStart(12)}${'Vectors/Call'.padStart(14)}`,
    );
    for (const r of view.rows.filter((x) => x.worker === w)) {
      const state = r.type === 'input' ? 'polling' : r.type === 'process' ? 'event wait' : 'active';
      lines.push(
        `  ${r.name.padEnd(28)}${state.padStart(10)}${String(r.calls).padStart(14)}${String(r.vectors).padStart(14)}${String(r.idleCalls).padStart(12)}${sci(r.clocksPerPacket).padStart(12)}${r.vectorsPerCall.toFixed(2).padStart(14)}`,
      );
    }
  }
  return lines.join('\n');
}

export function formatRuntime(stats: StatsSegment, all = false): string {
  return formatRuntimeView(runtimeView(stats, all));
}

export function formatInterfaces(list: Interface[], counters: (index: number) => InterfaceCounters): string {
  const lines = [
    `${'Name'.padEnd(20)}${'Idx'.padStart(5)}${'State'.padStart(8)}${'MTU'.padStart(7)}  ${'Counter'.padEnd(14)}${'Count'.padStart(16)}`,
  ];
  for (const i of list) {
    const c = counters(i.index);
    const state = i.adminUp ? (i.linkUp || i.driver === 'pg' ? 'up' : 'no-link') : 'down';
    const rows: [string, bigint][] = [
      ['rx packets', c.rxPackets], ['rx bytes', c.rxBytes], ['tx packets', c.txPackets], ['tx bytes', c.txBytes],
      ['drops', c.drops], ['punt', c.punts], ['rx-error', c.rxErrors], ['tx-error', c.txErrors], ['rx-no-buffer', c.rxNoBuffer],
      ['tx-no-space', c.txNoSpace],
    ];
    const shown = rows.filter(([, v]) => v > 0n);
    const head = `${i.name.padEnd(20)}${String(i.index).padStart(5)}${state.padStart(8)}${String(i.mtu).padStart(7)}  `;
    if (shown.length === 0) lines.push(head);
    shown.forEach(([k, v], n) => lines.push(`${n === 0 ? head : ' '.repeat(head.length)}${k.padEnd(14)}${String(v).padStart(16)}`));
  }
  return lines.join('\n');
}
