// The management API under load: autocannon against the daemon's unix socket (show interface,
// show runtime, and a config change per request: set interface mtu, alternating values, each
// one a whole validate + plan + apply) while the dataplane forwards an unlimited pg stream on
// a worker pinned to the last core. Requests/s and latency percentiles, medians of runs, and
// the forwarding rate measured during each run (does API load disturb the dataplane?).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { packageRoot } from '../../src/addon.js';
import { ApiClient } from '../../src/client.js';
import { type BenchOptions, type Scenario, median } from '../bench.js';

interface AutocannonResult {
  requests: { average: number };
  latency: Record<'p50' | 'p90' | 'p99' | 'average' | 'max', number>;
  non2xx: number;
  errors: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Case {
  name: string;
  requests: Record<string, unknown>[];
}

const CASES: Case[] = [
  { name: 'show interface', requests: [{ method: 'POST', path: '/v1/show/interface', body: '{}', headers: { 'content-type': 'application/json' } }] },
  { name: 'show runtime', requests: [{ method: 'POST', path: '/v1/show/runtime', body: '{}', headers: { 'content-type': 'application/json' } }] },
  {
    name: 'set interface mtu (apply)',
    requests: [
      {
        method: 'POST',
        path: '/v1/set/interface/mtu',
        headers: { 'content-type': 'application/json' },
        // Alternate values so every request is a real change (validate, plan, one native call).
        setupRequest: (req: Record<string, unknown>, ctx: { n?: number }) => {
          ctx.n = (ctx.n ?? 0) + 1;
          return { ...req, body: JSON.stringify({ name: 'pg1', mtu: ctx.n % 2 ? 1500 : 9000 }) };
        },
      },
    ],
  },
];

async function startDaemon(dir: string): Promise<{ client: ApiClient; stop: () => Promise<void> }> {
  const socket = join(dir, 'quiver.sock');
  const file = join(dir, 'bench.yaml');
  writeFileSync(
    file,
    stringify({
      workers: { count: 1, cores: [cpus().length - 1] },
      buffers: { count: 32768 },
      api: { socket },
      logging: { level: 'warn' },
      interfaces: [{ type: 'pg', name: 'pg0', streams: [{ name: 'load', size: 64 }] }, { type: 'pg', name: 'pg1' }],
      xconnect: [{ rx: 'pg0', tx: 'pg1' }],
    }),
  );
  const proc = spawn('node', [join(packageRoot(), 'dist/src/cli/quiver.js'), 'start', '-c', file], { stdio: ['ignore', 'inherit', 'inherit'] });
  const client = new ApiClient(socket);
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`daemon exited ${proc.exitCode}`);
    try {
      await client.commands();
      break;
    } catch {
      if (i > 400) throw new Error('daemon did not answer within 20 s');
      await sleep(50);
    }
  }
  return {
    client,
    stop: async () => {
      if (proc.exitCode === null) {
        process.kill(proc.pid!, 'SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
    },
  };
}

async function txPackets(client: ApiClient): Promise<number> {
  const rows = await client.command<{ counters: { txPackets: number } }[]>('show interface', { name: 'pg1' });
  return rows[0]!.counters.txPackets;
}

export const api: Scenario = {
  name: 'api',
  description: 'autocannon on the management API socket (show interface, show runtime, set mtu) while pg forwards',
  async run(o: BenchOptions) {
    const dir = mkdtempSync(join(tmpdir(), 'quiver-bench-api-'));
    const d = await startDaemon(dir);
    const out: Record<string, unknown> = {};
    try {
      await sleep(300);
      const t0 = performance.now();
      const p0 = await txPackets(d.client);
      await sleep(1000);
      const idleMpps = ((await txPackets(d.client)) - p0) / ((performance.now() - t0) / 1000) / 1e6;
      o.log(`forwarding with no API load: ${idleMpps.toFixed(2)} Mpps`);
      out.forwardingMppsNoApiLoad = idleMpps;
      for (const c of CASES) {
        const rps: number[] = [];
        const avg: number[] = [];
        const p50: number[] = [];
        const p90: number[] = [];
        const p99: number[] = [];
        const mpps: number[] = [];
        let failures = 0;
        for (let r = 0; r < o.runs; r++) {
          const before = await txPackets(d.client);
          const t = performance.now();
          const res = await autocannon({
            url: 'http://quiver', socketPath: d.client.socket, connections: 4, pipelining: 1,
            duration: Math.max(1, o.seconds), requests: c.requests,
          });
          const secs = (performance.now() - t) / 1000;
          mpps.push(((await txPackets(d.client)) - before) / secs / 1e6);
          failures += res.non2xx + res.errors;
          rps.push(res.requests.average);
          avg.push(res.latency.average);
          p50.push(res.latency.p50);
          p90.push(res.latency.p90);
          p99.push(res.latency.p99);
          o.log(`  ${c.name} run ${r + 1}: ${res.requests.average.toFixed(0)} req/s, p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms, dataplane ${mpps[r]!.toFixed(2)} Mpps`);
        }
        if (failures) throw new Error(`${c.name}: ${failures} requests failed`);
        const row = { requestsPerSecond: median(rps), latencyMs: { average: median(avg), p50: median(p50), p90: median(p90), p99: median(p99) }, forwardingMpps: median(mpps) };
        o.log(`${c.name.padEnd(28)} ${row.requestsPerSecond.toFixed(0).padStart(7)} req/s   mean ${row.latencyMs.average.toFixed(2)} ms  p50 ${row.latencyMs.p50} ms  p90 ${row.latencyMs.p90} ms  p99 ${row.latencyMs.p99} ms   dataplane ${row.forwardingMpps.toFixed(2)} Mpps`);
        out[c.name] = row;
      }
      return out;
    } finally {
      await d.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
