// Operator text for `show ip fib`, `show ip6 fib`, `show ip neighbors`, `show ip interface`,
// `show ip table` and `ping`, in the layout VPP users read.
import type { FibEntry, FibView, InterfaceL3, NeighborInfo, PingResult, ResolvedAdjacency, TableInfo } from './ip.js';

function adjacencyText(a: ResolvedAdjacency): string {
  switch (a.kind) {
    case 'rewrite': return `${a.nextHop} ${a.interface} ${a.mac}`;
    case 'incomplete': return `${a.nextHop} ${a.interface} (incomplete)`;
    case 'glean': return `glean ${a.interface}`;
    default: return a.kind;
  }
}

function entryLines(e: FibEntry): string[] {
  const head = `${e.prefix}`;
  if (e.kind !== 'forward') return [`${head}`, `  ${e.kind} [${e.source}]`];
  const lines = [`${head}`, `  load-balance ${e.loadBalance}, ${e.resolved?.length ?? 0} path(s) [${e.source}]`];
  for (const p of e.paths ?? []) {
    const what = p.attached ? `attached ${p.interface}` : `via ${p.via}${p.interface ? ` ${p.interface}` : ''}`;
    lines.push(`    ${what}${p.dead ? ' (interface gone)' : ''}`);
  }
  for (const a of e.resolved ?? []) lines.push(`      [${a.adjacency}] ${adjacencyText(a)}`);
  return lines;
}

export function formatFib(v: FibView): string {
  const shown = v.entries.length < v.routes ? ` (showing ${v.entries.length})` : '';
  const lines = [`${v.family === 'ip4' ? 'ipv4' : 'ipv6'} table ${v.table}: ${v.routes} routes${shown}`];
  for (const e of v.entries) lines.push(...entryLines(e));
  return lines.join('\n');
}

export function formatNeighbors(list: NeighborInfo[]): string {
  if (!list.length) return 'no neighbors';
  const rows = [['Interface', 'Address', 'MAC', 'State', 'Age (s)', 'Routes']];
  for (const n of list) rows.push([n.interface, n.address, n.mac ?? '-', n.state, n.state === 'static' ? '-' : n.ageSeconds.toFixed(1), String(n.routes)]);
  return table(rows);
}

export function formatInterfacesL3(list: InterfaceL3[]): string {
  const lines: string[] = [];
  for (const i of list) {
    if (!i.addresses.length && i.table === 0) continue;
    lines.push(`${i.interface} (table ${i.table})`);
    for (const a of i.addresses) lines.push(`  ${a}`);
    if (i.linkLocal) lines.push(`  ${i.linkLocal} (link-local)`);
  }
  return lines.length ? lines.join('\n') : 'no interface has an address';
}

export function formatTables(list: TableInfo[]): string {
  const rows = [['Table', 'Name', 'ECMP hash', 'Interfaces', 'IPv4 routes', 'IPv6 routes', 'FIB MiB']];
  for (const t of list)
    rows.push([String(t.id), t.name || '-', t.ecmpHash, String(t.interfaces), String(t.ip4Routes), String(t.ip6Routes), ((t.ip4Bytes + t.ip6Bytes) / 2 ** 20).toFixed(1)]);
  return table(rows);
}

export function formatPing(destination: string, r: PingResult): string {
  const lines = r.rttMs.map((t, seq) => (t === null ? `seq ${seq}: no reply` : `${destination}: seq ${seq} time ${t.toFixed(3)} ms`));
  const ok = r.rttMs.filter((x): x is number => x !== null);
  lines.push(`${r.sent} sent from ${r.source}, ${r.received} received, ${(((r.sent - r.received) / r.sent) * 100).toFixed(0)}% loss`);
  if (ok.length) lines.push(`rtt min/avg/max ${Math.min(...ok).toFixed(3)}/${(ok.reduce((a, b) => a + b, 0) / ok.length).toFixed(3)}/${Math.max(...ok).toFixed(3)} ms`);
  return lines.join('\n');
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((x, c) => x.padEnd(w[c]!)).join('  ').trimEnd()).join('\n');
}
