// `show graph`: the node graph as it runs. Nodes, arcs with the packets (total and per
// second) that crossed them, interfaces where packets enter and leave, and drop arcs with
// their reasons. As text, as Graphviz DOT, and (quiverctl) SVG through Debian's `dot`.
import type { Interface } from '../engine.js';
import { interfaceType } from '../feature.js';
import type { Rates } from './rates.js';
import { arcKey } from './rates.js';
import type { StatsSegment } from '../stats.js';

export interface GraphNode {
  name: string;
  kind: 'input' | 'internal' | 'process' | 'drop' | 'rx' | 'tx';
  packets: number;
  pps: number;
  calls: number;
  clocksPerPacket: number;
}
export interface DropReason {
  name: string;
  text: string;
  severity: string;
  count: number;
  pps: number;
}
export interface GraphArc {
  from: string;
  to: string;
  packets: number;
  pps: number;
  drop: boolean;
  reasons: DropReason[];
}
export interface GraphView {
  /** Seconds the rates were measured over (0: not yet known). */
  window: number;
  all: boolean;
  nodes: GraphNode[];
  arcs: GraphArc[];
}

const DROP_NODES = new Set(['error-drop', 'error-punt']);
const ifNode = (name: string, dir: 'rx' | 'tx') => `${name} ${dir}`;

export function graphView(stats: StatsSegment, interfaces: Interface[], rates: Rates, all = false): GraphView {
  const dir = stats.directory();
  const perNode = new Map<string, { calls: number; vectors: number; clocks: number }>();
  for (const n of stats.nodes()) {
    const a = perNode.get(n.name) ?? { calls: 0, vectors: 0, clocks: 0 };
    a.calls += Number(n.calls) - Number(n.idleCalls);
    a.vectors += Number(n.vectors);
    a.clocks += Number(n.clocks);
    perNode.set(n.name, a);
  }
  const errors = stats.errors(true);
  const arcs = new Map<string, GraphArc>();
  for (const a of stats.arcs()) {
    const k = arcKey(a.from, a.to);
    const x = arcs.get(k) ?? { from: a.from, to: a.to, packets: 0, pps: rates.arcs.get(k) ?? 0, drop: DROP_NODES.has(a.to), reasons: [] };
    x.packets += Number(a.packets);
    arcs.set(k, x);
  }
  for (const x of arcs.values()) {
    if (!x.drop) continue;
    x.reasons = errors
      .filter((e) => e.node === x.from && e.count > 0n)
      .map((e) => ({ name: e.name, text: e.text, severity: e.severity, count: Number(e.count), pps: rates.errors.get(arcKey(e.node, e.name)) ?? 0 }))
      .sort((p, q) => q.count - p.count);
  }
  // Interfaces: where packets enter (rx -> the driver's input node) and leave (output node -> tx).
  const names = new Set(dir.nodes.map((n) => n.name));
  for (const i of interfaces) {
    const c = stats.interfaceCounters(i.index);
    const r = rates.interfaces.get(i.index);
    const t = interfaceType(i.driver);
    const input = t?.nodes?.input ?? `${i.driver}-input`;
    const output = t?.nodes?.output ?? `${i.driver}-output`;
    if (names.has(input) && (all || c.rxPackets > 0n))
      arcs.set(arcKey(ifNode(i.name, 'rx'), input), { from: ifNode(i.name, 'rx'), to: input, packets: Number(c.rxPackets), pps: r?.rx ?? 0, drop: false, reasons: [] });
    if (names.has(output) && (all || c.txPackets > 0n))
      arcs.set(arcKey(output, ifNode(i.name, 'tx')), { from: output, to: ifNode(i.name, 'tx'), packets: Number(c.txPackets), pps: r?.tx ?? 0, drop: false, reasons: [] });
  }
  const shownArcs = [...arcs.values()].filter((a) => all || a.packets > 0);
  const touched = new Set(shownArcs.flatMap((a) => [a.from, a.to]));
  const nodes: GraphNode[] = [];
  const inflow = (name: string) => shownArcs.filter((a) => a.to === name).reduce((s, a) => s + a.pps, 0);
  const outflow = (name: string) => shownArcs.filter((a) => a.from === name).reduce((s, a) => s + a.pps, 0);
  for (const n of dir.nodes) {
    const s = perNode.get(n.name) ?? { calls: 0, vectors: 0, clocks: 0 };
    if (!all && !touched.has(n.name) && s.vectors === 0) continue;
    const kind = DROP_NODES.has(n.name) ? 'drop' : n.type;
    nodes.push({
      name: n.name, kind, packets: s.vectors, calls: s.calls,
      pps: n.type === 'input' ? outflow(n.name) : inflow(n.name),
      clocksPerPacket: s.vectors > 0 ? s.clocks / s.vectors : 0,
    });
  }
  for (const i of interfaces) {
    for (const d of ['rx', 'tx'] as const) {
      const name = ifNode(i.name, d);
      const a = shownArcs.find((x) => (d === 'rx' ? x.from : x.to) === name);
      if (a) nodes.push({ name, kind: d, packets: a.packets, pps: a.pps, calls: 0, clocksPerPacket: 0 });
    }
  }
  return { window: rates.window, all, nodes, arcs: shownArcs };
}

export function formatRate(pps: number): string {
  if (pps >= 1e6) return `${(pps / 1e6).toFixed(2)} Mpps`;
  if (pps >= 1e3) return `${(pps / 1e3).toFixed(1)} kpps`;
  return `${pps.toFixed(0)} pps`;
}

/** Nodes in flow order: interfaces rx, input nodes, then breadth first along the arcs. */
function flowOrder(g: GraphView): GraphNode[] {
  const rank = new Map<string, number>();
  const queue = g.nodes.filter((n) => n.kind === 'rx' || n.kind === 'input').map((n) => n.name);
  for (const n of g.nodes) if (n.kind === 'rx') rank.set(n.name, -1);
  queue.forEach((n) => rank.has(n) || rank.set(n, 0));
  for (let k = 0; k < queue.length; k++) {
    const from = queue[k]!;
    for (const a of g.arcs.filter((x) => x.from === from))
      if (!rank.has(a.to)) {
        rank.set(a.to, rank.get(from)! + 1);
        queue.push(a.to);
      }
  }
  const last = (n: GraphNode) => (n.kind === 'drop' ? 1e6 : n.kind === 'tx' ? 1e5 : (rank.get(n.name) ?? 1e4));
  return [...g.nodes].sort((a, b) => last(a) - last(b) || a.name.localeCompare(b.name));
}

export function formatGraphText(g: GraphView): string {
  const rate = (pps: number) => (g.window > 0 ? formatRate(pps) : '-');
  const lines = [
    `Node graph: ${g.nodes.length} nodes, ${g.arcs.length} arcs${g.all ? '' : ' that carried traffic (--all for every one)'}; ` +
      (g.window > 0 ? `rates over the last ${g.window.toFixed(2)} s` : 'rates not measured yet'),
    '',
  ];
  const kindLabel: Record<GraphNode['kind'], string> = { input: 'input', internal: 'internal', process: 'process', drop: 'drop', rx: 'interface rx', tx: 'interface tx' };
  for (const n of flowOrder(g)) {
    const clk = n.clocksPerPacket > 0 ? `${n.clocksPerPacket.toFixed(1)} clocks/pkt` : '';
    lines.push(`${n.name.padEnd(30)}${kindLabel[n.kind].padEnd(14)}${rate(n.pps).padStart(12)}  ${String(n.packets).padStart(14)} pkts  ${clk}`.trimEnd());
    for (const a of g.arcs.filter((x) => x.from === n.name).sort((p, q) => q.packets - p.packets)) {
      lines.push(`  -> ${a.to.padEnd(25)}${(a.drop ? 'DROP' : '').padEnd(14)}${rate(a.pps).padStart(12)}  ${String(a.packets).padStart(14)} pkts`);
      for (const r of a.reasons) lines.push(`       ${`${r.name}: ${r.text}`.padEnd(48)}${rate(r.pps).padStart(12)}  ${String(r.count).padStart(14)}`);
    }
  }
  return lines.join('\n').trimEnd();
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const PALETTE = {
  input: { fill: '#d9f2e3', line: '#2f855a' },
  internal: { fill: '#e6eefc', line: '#2b5797' },
  process: { fill: '#f3e8fd', line: '#6b46c1' },
  drop: { fill: '#fde2e1', line: '#c53030' },
  rx: { fill: '#fff4d6', line: '#b7791f' },
  tx: { fill: '#fff4d6', line: '#b7791f' },
};

/** Graphviz DOT: left to right, arc width by rate, drop arcs red with their reasons. */
export function graphToDot(g: GraphView): string {
  const max = Math.max(1, ...g.arcs.map((a) => (g.window > 0 ? a.pps : a.packets)));
  const weight = (a: GraphArc) => 1 + 5 * (Math.log10(1 + (g.window > 0 ? a.pps : a.packets)) / Math.log10(1 + max));
  const rate = (pps: number, total: number) => (g.window > 0 ? formatRate(pps) : `${total} pkts`);
  const title = `quiver node graph · ${g.window > 0 ? `packets per second over ${g.window.toFixed(1)} s` : 'total packets'}`;
  const out = [
    'digraph quiver {',
    `  graph [rankdir=LR, bgcolor="white", fontname="Helvetica", fontsize=16, labelloc=t, label=<<b>${esc(title)}</b>>, nodesep=0.35, ranksep=0.7, pad=0.3];`,
    '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, penwidth=1.4, margin="0.18,0.08"];',
    '  edge [fontname="Helvetica", fontsize=10, arrowsize=0.7];',
  ];
  for (const n of g.nodes) {
    const c = PALETTE[n.kind];
    const sub =
      n.kind === 'rx' || n.kind === 'tx'
        ? `interface ${n.kind}`
        : n.kind === 'drop'
          ? `${n.packets} packets dropped`
          : `${n.kind}${n.clocksPerPacket > 0 ? ` · ${n.clocksPerPacket.toFixed(1)} clk/pkt` : ''}`;
    const shape = n.kind === 'rx' || n.kind === 'tx' ? ', shape=cds' : n.kind === 'drop' ? ', shape=octagon' : '';
    const label = `<<b>${esc(n.name)}</b><br/><font point-size="9" color="#4a5568">${esc(sub)}</font>>`;
    out.push(`  "${esc(n.name)}" [label=${label}, fillcolor="${c.fill}", color="${c.line}"${shape}];`);
  }
  for (const a of g.arcs) {
    const lines = [`<b>${esc(rate(a.pps, a.packets))}</b>`];
    for (const r of a.reasons.slice(0, 6)) lines.push(`${esc(r.name)}: ${esc(rate(r.pps, r.count))}`);
    if (a.reasons.length > 6) lines.push(`+${a.reasons.length - 6} more`);
    const color = a.drop ? '#c53030' : a.packets > 0 ? '#2d3748' : '#a0aec0';
    const style = a.packets > 0 ? (a.drop ? 'bold' : 'solid') : 'dashed';
    out.push(
      `  "${esc(a.from)}" -> "${esc(a.to)}" [label=<${lines.join('<br/>')}>, color="${color}", fontcolor="${color}", penwidth=${weight(a).toFixed(2)}, style=${style}];`,
    );
  }
  out.push('}');
  return out.join('\n');
}
