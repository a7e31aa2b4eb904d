// Operator text for `show acl`, `show acl interface` and `show acl sessions`. Each function
// takes the JSON the command returns (numbers, not bigints), so quiverctl formats what the
// management API answered.
import type { AclRule } from './acl.js';

export interface AclView {
  name: string;
  rules: number;
  buildMs: number;
  stateful: boolean;
  ip4: { rules: number; trees: number; maxDepth: number; maxLeaf: number; bytes: number };
  ip6: { rules: number; trees: number; maxDepth: number; maxLeaf: number; bytes: number };
  packets: number;
  bytes: number;
  entries: { rule: AclRule; packets: number; bytes: number }[];
}

/** One rule in one line, the fields an operator reads: `permit tcp 198.18.0.0/24 -> 198.19.0.1/32 dport 80`. */
export function formatRule(r: AclRule): string {
  const parts: string[] = [r.action.padEnd(14)];
  if (r.ipVersion) parts.push(`ip${r.ipVersion}`);
  parts.push(String(r.protocol ?? 'any'));
  parts.push(`${r.src ?? 'any'} -> ${r.dst ?? 'any'}`);
  const span = (v: unknown) => (Array.isArray(v) ? `${v[0]}-${v[1]}` : String(v));
  if (r.srcPort !== undefined) parts.push(`sport ${span(r.srcPort)}`);
  if (r.dstPort !== undefined) parts.push(`dport ${span(r.dstPort)}`);
  if (r.icmpType !== undefined) parts.push(`type ${span(r.icmpType)}`);
  if (r.icmpCode !== undefined) parts.push(`code ${span(r.icmpCode)}`);
  if (r.tcpFlags) {
    const f = (v: unknown) => (Array.isArray(v) ? v.join(',') : `0x${Number(v).toString(16)}`);
    parts.push(`flags ${f(r.tcpFlags.value)}/${f(r.tcpFlags.mask)}`);
  }
  return parts.join(' ');
}

const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;

export function formatAcls(list: AclView[], maxRules = 1000): string {
  if (list.length === 0) return 'no ACLs';
  const out: string[] = [];
  for (const a of list) {
    out.push(
      `acl ${a.name}: ${a.rules} rules${a.stateful ? ', stateful' : ''}, ${a.packets} packets ${a.bytes} bytes matched, ` +
        `built in ${a.buildMs.toFixed(1)} ms (ip4: ${a.ip4.trees} trees, depth ${a.ip4.maxDepth}, ${kib(a.ip4.bytes)}; ` +
        `ip6: ${a.ip6.trees} trees, depth ${a.ip6.maxDepth}, ${kib(a.ip6.bytes)})`,
    );
    a.entries.slice(0, maxRules).forEach((e, i) => {
      out.push(`  ${String(i).padStart(6)}  ${formatRule(e.rule).padEnd(72)} ${String(e.packets).padStart(12)} pkts ${String(e.bytes).padStart(14)} bytes`);
    });
    if (a.entries.length > maxRules) out.push(`  ... ${a.entries.length - maxRules} more rules (show acl ${a.name} --json)`);
  }
  return out.join('\n');
}

export interface AclInterfaceView {
  interface: string;
  input: string[];
  output: string[];
  inputDefault: string;
  outputDefault: string;
  inputCounters: Record<string, number>;
  outputCounters: Record<string, number>;
}

export function formatAclInterfaces(rows: AclInterfaceView[]): string {
  if (rows.length === 0) return 'no ACLs applied';
  const out: string[] = [];
  for (const r of rows) {
    out.push(`${r.interface}`);
    for (const dir of ['input', 'output'] as const) {
      const names = r[dir];
      const counters = r[`${dir}Counters`];
      const nonZero = Object.entries(counters).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`);
      out.push(
        `  ${dir.padEnd(7)} ${names.length ? names.join(', ') : '(none)'}${names.length ? `, default ${r[`${dir}Default`]}` : ''}` +
          (nonZero.length ? `\n          ${nonZero.join('  ')}` : ''),
      );
    }
  }
  return out.join('\n');
}

export interface AclSessionView {
  worker: number;
  interface: string;
  family: number;
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  state: string;
  ageSeconds: number;
  idleSeconds: number;
}

const PROTO: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmp6', 132: 'sctp' };

export function formatAclSessions(r: { count: number; sessions: AclSessionView[] }): string {
  const ep = (family: number, a: string, p: number) => (family === 6 ? `[${a}]:${p}` : `${a}:${p}`);
  const head = `${'wk'.padEnd(3)}${'interface'.padEnd(14)}${'proto'.padEnd(7)}${'initiator'.padEnd(44)}${'responder'.padEnd(44)}${'state'.padEnd(12)}${'age'.padStart(9)}${'idle'.padStart(9)}`;
  const lines = [`${r.count} sessions${r.sessions.length < r.count ? ` (showing ${r.sessions.length})` : ''}`, head];
  for (const s of r.sessions)
    lines.push(
      `${String(s.worker).padEnd(3)}${s.interface.padEnd(14)}${(PROTO[s.protocol] ?? String(s.protocol)).padEnd(7)}` +
        `${ep(s.family, s.src, s.srcPort).padEnd(44)}${ep(s.family, s.dst, s.dstPort).padEnd(44)}${s.state.padEnd(12)}` +
        `${s.ageSeconds.toFixed(1).padStart(9)}${s.idleSeconds.toFixed(1).padStart(9)}`,
    );
  return lines.join('\n');
}
