// The core quiverctl commands (VPP vocabulary), registered like any feature's: each runs in
// the daemon and returns JSON; `format` is the operator's text, made in quiverctl.
import { isAbsolute, join } from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import type { Dataplane } from '../dataplane.js';
import { QuiverError } from '../errors.js';
import { type InterfaceSpec, defineCommand, interfaceType, registerCommand } from '../feature.js';
import { formatGraphText, graphToDot, graphView } from '../show/graph.js';
import { formatRuntimeView, runtimeView } from '../show/runtime.js';
import {
  type InterfaceRow,
  type PlacementRow,
  formatBuffers,
  formatErrors,
  formatInterfaceDetail,
  formatInterfaceTable,
  formatRxPlacement,
  formatTrace,
  jsonSafe,
} from '../show/tables.js';

const none = z.object({}).strict();
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(false);
const count = (field: string, max: number) =>
  z.coerce.number({ invalid_type_error: `${field} must be a number` }).int().min(1, `must be 1..${max}`).max(max, `must be 1..${max}`);
const done = (what: string) => () => what;

function interfaceRows(dp: Dataplane, name?: string): InterfaceRow[] {
  const list = dp.interfaces.list();
  const chosen = name === undefined ? list : [dp.interfaces.get(name)];
  return chosen.map((i) => ({
    index: i.index, name: i.name, driver: i.driver, adminUp: i.adminUp, linkUp: i.linkUp, mtu: i.mtu, mac: i.mac, mode: i.mode,
    xconnectPeer: i.xconnectPeer === null ? null : (list.find((x) => x.index === i.xconnectPeer)?.name ?? String(i.xconnectPeer)),
    rxQueues: i.rxQueues, details: i.details, counters: jsonSafe(dp.stats.interfaceCounters(i.index)),
  }));
}

/** The interface's spec in the running config, or an error naming it. */
function specOf(draft: { interfaces?: InterfaceSpec[] }, name: string): InterfaceSpec {
  const spec = (draft.interfaces ?? []).find((i) => i.name === name);
  if (!spec) throw new QuiverError('interface', `no interface '${name}'`);
  return spec;
}

const changes = (r: { changes: string[] }) => (r.changes.length ? r.changes.join('\n') : 'no change');

const list = [
  defineCommand({
    name: 'show version',
    summary: 'versions of quiver, the addon, DPDK and the compiler',
    schema: none,
    run: (_a, { dp }) => ({ ...dp.version(), workers: dp.workers() }),
    format: (v) =>
      `quiver ${v.quiver} (addon ${v.addon}), gcc ${v.compiler}, DPDK ${v.dpdk ?? 'not built in'}\n` +
      `TSC ${(v.tscHz / 1e9).toFixed(3)} GHz, buffer slot ${v.slotSize} bytes, ${v.workers.length} worker(s): ${v.workers.map((w) => `wk${w.id} ${w.cpu < 0 ? 'unpinned' : `cpu ${w.cpu}`}`).join(', ')}`,
  }),
  defineCommand({
    name: 'show interface',
    summary: 'interfaces with their state and counters (one interface: details too)',
    args: [{ name: 'name', description: 'interface name' }],
    schema: z.object({ name: z.string().min(1).optional() }).strict(),
    run: (a, { dp }) => interfaceRows(dp, a.name),
    format: (rows, a) => (a.name ? formatInterfaceDetail(rows[0]!) : formatInterfaceTable(rows)),
  }),
  defineCommand({
    name: 'show interface rx-placement',
    summary: 'which worker polls which rx queue, and in which mode',
    schema: none,
    run: (_a, { dp }) => {
      const rows: PlacementRow[] = dp.interfaces.list().flatMap((i) =>
        i.rxQueues.map((q) => ({
          worker: q.worker, node: interfaceType(i.driver)?.nodes?.input ?? `${i.driver}-input`, interface: i.name, queue: q.queue, mode: q.mode,
        })),
      );
      return { workers: dp.workers().length, queues: rows };
    },
    format: (r) => formatRxPlacement(r.queues, r.workers),
  }),
  defineCommand({
    name: 'show runtime',
    summary: 'per worker, per node: calls, vectors, suspends, clocks per packet, vectors per call',
    options: [{ name: 'all', flags: '--all', description: 'include nodes that never ran' }],
    schema: z.object({ all: flag }).strict(),
    run: (a, { dp }) => runtimeView(dp.stats, a.all),
    format: (v) => formatRuntimeView(v),
  }),
  defineCommand({
    name: 'show errors',
    summary: 'error counters by node and reason (drops, punts, events)',
    options: [{ name: 'all', flags: '--all', description: 'include reasons that never happened' }],
    schema: z.object({ all: flag }).strict(),
    run: (a, { dp }) => jsonSafe(dp.stats.errors(a.all)),
    format: (rows) => formatErrors(rows),
  }),
  defineCommand({
    name: 'show buffers',
    summary: 'the buffer pool: free, cached per worker, held by drivers, in flight',
    schema: none,
    run: (_a, { dp }) => dp.buffers(false),
    format: (b) => formatBuffers(b),
  }),
  defineCommand({
    name: 'show graph',
    summary: 'the node graph as it runs: arcs, packets per second, drops with reasons',
    options: [
      { name: 'all', flags: '--all', description: 'every node and arc, not only those that carried traffic' },
      { name: 'dot', flags: '--dot', description: 'print Graphviz DOT' },
      { name: 'svg', flags: '--svg <file>', description: 'render to an SVG file with graphviz (dot)' },
    ],
    schema: z.object({ all: flag, dot: flag, svg: z.string().min(1).optional() }).strict(),
    run: async (a, { dp }) => graphView(dp.stats, dp.interfaces.list(), await dp.rates(1000), a.all),
    format: (g, a) => (a.dot || a.svg ? graphToDot(g) : formatGraphText(g)),
  }),
  defineCommand({
    name: 'show config',
    summary: 'the running config (YAML; --json for JSON)',
    schema: none,
    run: (_a, ctx) => ctx.config(),
    format: (c) => stringify(c).trimEnd(),
  }),
  defineCommand({
    name: 'trace add',
    summary: 'trace the next <count> packets from an input node (show trace to read)',
    args: [
      { name: 'node', description: 'input node, e.g. pg-input', required: true },
      { name: 'count', description: 'packets to trace', required: true },
    ],
    schema: z.object({ node: z.string().min(1), count: count('count', 100000) }).strict(),
    run: (a, { dp }) => {
      dp.trace.add(a.node, a.count);
      return { node: a.node, count: a.count };
    },
    format: (r) => `tracing the next ${r.count} packets from ${r.node}`,
  }),
  defineCommand({
    name: 'show trace',
    summary: 'the traced packets, node by node',
    schema: none,
    run: (_a, { dp }) => dp.trace.get(),
    format: (t) => formatTrace(t),
  }),
  defineCommand({ name: 'clear trace', summary: 'forget traced packets and stop tracing', schema: none, run: (_a, { dp }) => (dp.trace.clear(), {}), format: done('trace cleared') }),
  defineCommand({ name: 'clear runtime', summary: 'zero the per-node runtime counters', schema: none, run: (_a, { dp }) => (dp.clear.runtime(), {}), format: done('runtime counters cleared') }),
  defineCommand({ name: 'clear interfaces', summary: 'zero the interface counters', schema: none, run: (_a, { dp }) => (dp.clear.interfaces(), {}), format: done('interface counters cleared') }),
  defineCommand({ name: 'clear errors', summary: 'zero the error counters', schema: none, run: (_a, { dp }) => (dp.clear.errors(), {}), format: done('error counters cleared') }),
  defineCommand({
    name: 'pcap trace',
    summary: 'pcap trace rx|tx|both max <n> [intfc <name>] [file <f>] | off | status (files without a / go to /tmp)',
    args: [{ name: 'words', description: 'rx|tx|both max N [intfc X] [file F] | off | status', required: true, variadic: true }],
    schema: z.object({ words: z.array(z.string()).min(1, 'say rx, tx, both, off or status') }).strict(),
    run: (a, { dp }) => {
      const w = a.words;
      if (w[0] === 'status') return { status: dp.pcap.status() };
      if (w[0] === 'off') return { stopped: dp.pcap.stop() };
      if (!['rx', 'tx', 'both'].includes(w[0]!)) throw new QuiverError('words[0]', `'${w[0]}' is not rx, tx, both, off or status`);
      const opts: { rx: boolean; tx: boolean; max: number; file: string; interface?: string } = {
        rx: w[0] !== 'tx', tx: w[0] !== 'rx', max: 100, file: `/tmp/quiver-${w[0]}.pcap`,
      };
      for (let k = 1; k < w.length; k += 2) {
        const key = w[k]!;
        const value = w[k + 1];
        if (value === undefined) throw new QuiverError(key, 'needs a value');
        if (key === 'max') {
          const n = Number(value);
          if (!Number.isInteger(n) || n < 1) throw new QuiverError('max', `'${value}' is not a packet count`);
          opts.max = n;
        } else if (key === 'intfc' || key === 'interface') opts.interface = value;
        else if (key === 'file') opts.file = isAbsolute(value) ? value : join('/tmp', value);
        else throw new QuiverError(key, 'unknown keyword (max, intfc, file)');
      }
      dp.pcap.start(opts);
      return { started: { ...opts } };
    },
    format: (r) => {
      if ('status' in r && r.status) {
        const s = r.status;
        if (s.active) return `capturing to ${s.file}: ${s.captured} of ${s.max} packets`;
        if (s.file && s.captured >= s.max) return `capture full: ${s.captured} packets; pcap trace off writes ${s.file}`;
        return 'no capture running';
      }
      if ('stopped' in r && r.stopped) return `wrote ${r.stopped.packets} packets to ${r.stopped.file}`;
      const s = (r as { started: { rx: boolean; tx: boolean; max: number; file: string; interface?: string } }).started;
      return `capturing ${s.rx && s.tx ? 'rx and tx' : s.rx ? 'rx' : 'tx'} of ${s.interface ?? 'every interface'}, up to ${s.max} packets, to ${s.file} (pcap trace off writes it)`;
    },
  }),
  defineCommand({
    name: 'set interface state',
    summary: 'set interface state <name> up|down',
    args: [
      { name: 'name', description: 'interface', required: true },
      { name: 'state', description: 'up or down', required: true },
    ],
    schema: z.object({ name: z.string().min(1), state: z.enum(['up', 'down']) }).strict(),
    run: (a, ctx) => ctx.change((d) => void (specOf(d, a.name).state = a.state)),
    format: changes,
  }),
  defineCommand({
    name: 'set interface mtu',
    summary: 'set interface mtu <mtu> <name> (VPP order)',
    args: [
      { name: 'mtu', description: 'bytes, 68..9216', required: true },
      { name: 'name', description: 'interface', required: true },
    ],
    schema: z.object({ mtu: z.coerce.number().int().min(68, 'must be 68..9216').max(9216, 'must be 68..9216'), name: z.string().min(1) }).strict(),
    run: (a, ctx) => ctx.change((d) => void (specOf(d, a.name).mtu = a.mtu)),
    format: changes,
  }),
  defineCommand({
    name: 'set interface rx-mode',
    summary: 'set interface rx-mode <name> [queue <n>] polling|interrupt|adaptive',
    args: [{ name: 'words', description: '<name> [queue <n>] <mode>', required: true, variadic: true }],
    schema: z.object({ words: z.array(z.string()).min(2, 'give <name> [queue <n>] <mode>').max(4) }).strict(),
    run: async (a, ctx) => {
      const [name, ...rest] = a.words as [string, ...string[]];
      const mode = z.enum(['polling', 'interrupt', 'adaptive']).safeParse(rest[rest.length - 1]);
      if (!mode.success) throw new QuiverError('mode', `'${rest[rest.length - 1]}' is not polling, interrupt or adaptive`);
      if (rest.length === 3 && rest[0] === 'queue') {
        // One queue: the config holds one mode per interface, so this is a runtime override.
        const q = Number(rest[1]);
        if (!Number.isInteger(q) || q < 0) throw new QuiverError('queue', `'${rest[1]}' is not a queue number`);
        ctx.dp.interfaces.setRxMode(name, q, mode.data);
        return { changes: [`set interface rx-mode ${name} queue ${q} ${mode.data} (runtime only: the config sets all queues)`] };
      }
      if (rest.length !== 1) throw new QuiverError('words', 'give <name> [queue <n>] <mode>');
      return ctx.change((d) => void (specOf(d, name).rxMode = mode.data));
    },
    format: changes,
  }),
  defineCommand({
    name: 'set interface rx-placement',
    summary: 'set interface rx-placement <name> queue <n> worker <n>',
    args: [{ name: 'words', description: '<name> queue <n> worker <n>', required: true, variadic: true }],
    schema: z.object({ words: z.array(z.string()).length(5, 'give <name> queue <n> worker <n>') }).strict(),
    run: (a, ctx) => {
      const [name, kq, q, kw, w] = a.words as [string, string, string, string, string];
      if (kq !== 'queue' || kw !== 'worker') throw new QuiverError('words', 'give <name> queue <n> worker <n>');
      const queue = Number(q);
      const worker = Number(w);
      if (!Number.isInteger(queue) || queue < 0) throw new QuiverError('queue', `'${q}' is not a queue number`);
      if (!Number.isInteger(worker) || worker < 0) throw new QuiverError('worker', `'${w}' is not a worker number`);
      return ctx.change((d) => {
        const spec = specOf(d, name);
        spec.rxPlacement = [...(spec.rxPlacement ?? []).filter((p) => p.queue !== queue), { queue, worker }];
      });
    },
    format: changes,
  }),
];

for (const c of list) registerCommand(c);
