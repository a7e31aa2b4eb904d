// quiver-cni ADD and DEL as a runtime sees them: wall time of each plugin invocation (node
// start, IPAM delegation to host-local, the daemon's work: TAP in the pod's namespace and its
// addresses and routes, or a memif server socket), for tap and memif over N pods. The daemon
// runs as a child process, as in production; namespaces are made outside the timed part.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installCni } from '../../cni/install.js';
import { runPlugin } from '../../cni/plugin/exec.js';
import { packageRoot } from '../../src/addon.js';
import { type BenchOptions, type Scenario, median } from '../bench.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function startDaemon(dir: string): Promise<{ proc: ChildProcess; socket: string }> {
  const socket = join(dir, 'quiver.sock');
  const file = join(dir, 'quiver.json');
  writeFileSync(
    file,
    JSON.stringify({ api: { socket }, buffers: { count: 32768, hugepages: 'off' }, logging: { level: 'warn' }, bridgeDomains: [{ id: 1 }], cni: { stateFile: join(dir, 'attachments.json') } }),
  );
  const proc = spawn('node', [join(packageRoot(), 'dist/src/cli/quiver.js'), 'start', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  for (let i = 0; i < 400; i++) {
    if (proc.exitCode !== null) throw new Error(`daemon exited: ${err}`);
    try {
      execFileSync('node', [join(packageRoot(), 'dist/src/cli/quiverctl.js'), '-s', socket, 'show', 'version'], { stdio: 'ignore' });
      return { proc, socket };
    } catch {
      await sleep(50);
    }
  }
  proc.kill('SIGKILL');
  throw new Error(`daemon did not start: ${err}`);
}

interface Times {
  addMs: number[];
  delMs: number[];
}

async function runType(type: 'tap' | 'memif', pods: number, dir: string, bin: string, socket: string): Promise<Times> {
  const conf = {
    cniVersion: '1.1.0',
    name: `bench-${type}`,
    type: 'quiver-cni',
    attachment: type,
    daemonSocket: socket,
    ...(type === 'tap' ? { bridgeDomain: 1 } : { memif: { socketDir: join(dir, 'memif') } }),
    ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '198.18.64.0/18' }]] },
  };
  const stdin = JSON.stringify(conf);
  const plugin = join(bin, 'quiver-cni');
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_PATH: `${bin}:/usr/lib/cni`, CNI_IFNAME: 'eth0' };
  const names = Array.from({ length: pods }, (_, i) => `qn-bench-${process.pid}-${i}`);
  const times: Times = { addMs: [], delMs: [] };
  try {
    for (const n of names) execFileSync('ip', ['netns', 'add', n]);
    for (const n of names) {
      const t0 = process.hrtime.bigint();
      const r = await runPlugin(plugin, { ...base, CNI_COMMAND: 'ADD', CNI_CONTAINERID: n, CNI_NETNS: `/var/run/netns/${n}` }, stdin);
      times.addMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (r.code !== 0) throw new Error(`ADD ${n}: ${r.stdout}${r.stderr}`);
    }
    for (const n of names) {
      const t0 = process.hrtime.bigint();
      const r = await runPlugin(plugin, { ...base, CNI_COMMAND: 'DEL', CNI_CONTAINERID: n, CNI_NETNS: `/var/run/netns/${n}` }, stdin);
      times.delMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (r.code !== 0) throw new Error(`DEL ${n}: ${r.stdout}${r.stderr}`);
    }
  } finally {
    for (const n of names) {
      try {
        execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
      } catch {
        /* never made */
      }
    }
  }
  return times;
}

export const cni: Scenario = {
  name: 'cni',
  description: 'quiver-cni ADD and DEL wall time for tap and memif over 100 pods (median, p99)',
  async run(o: BenchOptions) {
    const pods = o.smoke ? 5 : 100;
    const dir = mkdtempSync(join(tmpdir(), 'quiver-bench-cni-'));
    const bin = join(dir, 'bin');
    installCni({ binDir: bin });
    const { proc, socket } = await startDaemon(dir);
    const out: Record<string, unknown> = { pods };
    try {
      for (const type of ['tap', 'memif'] as const) {
        const t = await runType(type, pods, dir, bin, socket);
        const f = (xs: number[]) => ({ median: median(xs), p99: percentile(xs, 99), min: Math.min(...xs), max: Math.max(...xs) });
        const add = f(t.addMs);
        const del = f(t.delMs);
        o.log(`  ${type.padEnd(5)} ADD median ${add.median.toFixed(1)} ms p99 ${add.p99.toFixed(1)} ms | DEL median ${del.median.toFixed(1)} ms p99 ${del.p99.toFixed(1)} ms (${pods} pods)`);
        out[type] = { add, del };
      }
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
    return out;
  },
};
