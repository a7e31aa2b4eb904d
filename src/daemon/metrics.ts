// Prometheus text exposition (format 0.0.4) from the stats segment, on an opt-in loopback
// port. Reading the segment never calls the workers, so a scrape costs the dataplane nothing.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Dataplane } from '../dataplane.js';
import { IF_COUNTERS } from '../stats.js';

type Labels = Record<string, string | number>;

class Exposition {
  private readonly out: string[] = [];
  family(name: string, type: 'counter' | 'gauge', help: string, samples: [Labels, number | bigint][]): void {
    this.out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.out.push(`${name}${labelText(labels)} ${String(value)}`);
  }
  text(): string {
    return this.out.join('\n') + '\n';
  }
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const IF_HELP: Record<string, string> = {
  rxPackets: 'Packets received', rxBytes: 'Bytes received', txPackets: 'Packets transmitted', txBytes: 'Bytes transmitted',
  drops: 'Packets dropped', rxErrors: 'Receive errors', txErrors: 'Transmit errors', rxNoBuffer: 'Packets lost for want of a buffer',
  punts: 'Packets punted to the control plane', txNoSpace: 'Packets not sent for want of ring space',
};

export function renderMetrics(dp: Dataplane): string {
  const s = dp.stats;
  const m = new Exposition();
  const v = dp.version();
  m.family('quiver_build_info', 'gauge', 'Quiver version and build', [[{ version: v.quiver, compiler: v.compiler, dpdk: v.dpdk ?? 'none' }, 1]]);
  const heartbeatAge = Math.max(0, Number(process.hrtime.bigint() - s.heartbeatNs) / 1e9);
  m.family('quiver_heartbeat_age_seconds', 'gauge', 'Seconds since the engine housekeeping last ran (stuck engine if large)', [[{}, heartbeatAge]]);

  const intfs = dp.interfaces.list();
  const counters = intfs.map((i) => ({ i, c: s.interfaceCounters(i.index) }));
  for (const name of IF_COUNTERS)
    m.family(`quiver_interface_${snake(name)}_total`, 'counter', IF_HELP[name] ?? name, counters.map(({ i, c }) => [{ interface: i.name, driver: i.driver }, c[name]]));
  m.family('quiver_interface_admin_up', 'gauge', 'Interface administratively up (1) or down (0)', intfs.map((i) => [{ interface: i.name }, i.adminUp ? 1 : 0]));
  m.family('quiver_interface_link_up', 'gauge', 'Interface link up (1) or down (0)', intfs.map((i) => [{ interface: i.name }, i.linkUp ? 1 : 0]));
  m.family('quiver_interface_mtu_bytes', 'gauge', 'Interface MTU', intfs.map((i) => [{ interface: i.name }, i.mtu]));

  const nodes = s.nodes();
  const per = (f: (n: (typeof nodes)[number]) => bigint) => nodes.map((n) => [{ node: n.name, worker: n.worker }, f(n)] as [Labels, bigint]);
  m.family('quiver_node_calls_total', 'counter', 'Dispatch calls per node per worker', per((n) => n.calls));
  m.family('quiver_node_vectors_total', 'counter', 'Packets processed per node per worker', per((n) => n.vectors));
  m.family('quiver_node_suspends_total', 'counter', 'Calls that found nothing to do (input nodes)', per((n) => n.idleCalls));
  m.family('quiver_node_clocks_total', 'counter', 'TSC clocks spent per node per worker', per((n) => n.clocks));
  // Nexts that are not compiled in all lead to error-drop: one series per (from, to).
  const arcs = new Map<string, [Labels, bigint]>();
  for (const a of s.arcs()) {
    const k = `${a.from}\u0000${a.to}`;
    const prev = arcs.get(k);
    arcs.set(k, [{ from: a.from, to: a.to }, (prev?.[1] ?? 0n) + a.packets]);
  }
  m.family('quiver_arc_packets_total', 'counter', 'Packets handed from a node to its next node', [...arcs.values()]);
  m.family('quiver_errors_total', 'counter', 'Error counters by node and reason', s.errors(true).map((e) => [{ node: e.node, error: e.name, severity: e.severity }, e.count]));

  const b = dp.buffers(false);
  m.family('quiver_buffers', 'gauge', 'Buffers in the pool by state', [
    [{ state: 'total' }, b.total], [{ state: 'free' }, b.free], [{ state: 'cached' }, b.cached], [{ state: 'held' }, b.held], [{ state: 'in_flight' }, b.inFlight],
  ]);
  m.family('quiver_buffers_cached', 'gauge', 'Buffers in each worker cache', b.cachedPerWorker.map((c, w) => [{ worker: w }, c]));
  m.family('quiver_buffer_alloc_failures_total', 'counter', 'Buffer allocations that failed', [[{}, b.allocFailures]]);
  m.family('quiver_buffers_hugepages', 'gauge', 'The pool lives on hugepages (1) or 4 KiB pages (0)', [[{}, b.hugepages ? 1 : 0]]);

  const wc = s.workerCounters();
  const wk = (f: (c: (typeof wc)[number]) => bigint) => wc.map((c, w) => [{ worker: w }, f(c)] as [Labels, bigint]);
  m.family('quiver_worker_loops_total', 'counter', 'Dispatch loops per worker', wk((c) => c.loops));
  m.family('quiver_worker_idle_loops_total', 'counter', 'Loops that found no packets', wk((c) => c.idleLoops));
  m.family('quiver_worker_sleeps_total', 'counter', 'Times a worker slept waiting for packets', wk((c) => c.sleeps));
  m.family('quiver_worker_wakeups_total', 'counter', 'Times a sleeping worker was woken', wk((c) => c.wakeups));
  m.family('quiver_worker_messages_total', 'counter', 'Control messages run by a worker', wk((c) => c.messages));
  return m.text();
}

/** Serves GET /metrics on host:port; resolves once listening (rejects if the port is taken). */
export function startMetricsServer(dp: Dataplane, host: string, port: number, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    try {
      const body = renderMetrics(dp);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
    } catch (e) {
      log.error({ err: (e as Error).message }, 'metrics scrape failed');
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(`metrics.port: cannot listen on ${host}:${port} (${e.code ?? e.message})`)),
    );
    server.listen(port, host, () => {
      log.info({ host, port }, 'metrics listening');
      resolve(server);
    });
  });
}
