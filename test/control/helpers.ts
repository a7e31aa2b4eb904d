// Daemons as child processes on sockets in a temp dir; killed by PID, always cleaned up.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { packageRoot } from '../../src/addon.js';
import { ApiClient } from '../../src/client.js';

export const root = packageRoot();
export const QUIVER = join(root, 'dist/src/cli/quiver.js');
export const QUIVERCTL = join(root, 'dist/src/cli/quiverctl.js');

export interface RunningDaemon {
  proc: ChildProcess;
  socket: string;
  dir: string;
  client: ApiClient;
  output(): string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const live = new Set<ChildProcess>();
/** Kills (by PID) any daemon a test left running; call from afterAll. */
export function killLeftovers(): void {
  for (const p of live) if (p.exitCode === null && p.pid) process.kill(p.pid, 'SIGKILL');
  live.clear();
}

export function tempDir(prefix = 'qc-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function exited(p: ChildProcess): Promise<number | null> {
  return p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.once('exit', (code) => r(code)));
}

/** Starts `quiver start -c` with this config (api.socket defaults into dir) and waits until it answers. */
export async function startDaemon(config: Record<string, unknown>, dir = tempDir()): Promise<RunningDaemon> {
  const api = { socket: join(dir, 'quiver.sock'), ...((config.api as object) ?? {}) };
  const file = join(dir, `config-${Date.now()}.yaml`);
  writeFileSync(file, stringify({ logging: { level: 'info' }, ...config, api }));
  const proc = spawn('node', [QUIVER, 'start', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const client = new ApiClient(api.socket);
  const until = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`daemon exited ${proc.exitCode}: ${out}`);
    try {
      await client.commands();
      break;
    } catch {
      if (Date.now() > until) {
        process.kill(proc.pid!, 'SIGKILL');
        throw new Error(`daemon did not answer within 20 s: ${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    proc, socket: api.socket, dir, client,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null) process.kill(proc.pid!, signal);
      const code = await exited(proc);
      live.delete(proc);
      return code;
    },
  };
}

/** Runs a CLI (node script) to completion: exit code, stdout, stderr. */
export function runNode(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', [script, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A strict parser of the Prometheus text format 0.0.4: every sample belongs to a family
 * declared by # TYPE before it, names and labels are well formed, values are numbers, no
 * series repeats. Returns family -> samples.
 */
export function parsePrometheus(text: string): Map<string, { type: string; help: string; samples: { name: string; labels: Record<string, string>; value: number }[] }> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, { type: string; help: string; samples: { name: string; labels: Record<string, string>; value: number }[] }>();
  const seen = new Set<string>();
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  text.slice(0, -1).split('\n').forEach((line, n) => {
    const where = `line ${n + 1}: ${line}`;
    if (line.startsWith('# HELP ')) {
      const [, name, ...help] = line.split(' ').slice(1);
      if (!NAME.test(name!)) throw new Error(`bad metric name, ${where}`);
      if (families.has(name!)) throw new Error(`HELP after samples or twice, ${where}`);
      families.set(name!, { type: '', help: help.join(' '), samples: [] });
      return;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      const f = families.get(name!);
      if (!f || f.type) throw new Error(`TYPE without HELP or twice, ${where}`);
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type!)) throw new Error(`bad type, ${where}`);
      f.type = type!;
      return;
    }
    if (line.startsWith('#') || line === '') throw new Error(`unexpected line, ${where}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`malformed sample, ${where}`);
    const [, name, , labelText, valueText] = m;
    const f = families.get(name!);
    if (!f || !f.type) throw new Error(`sample of an undeclared family, ${where}`);
    const labels: Record<string, string> = {};
    let rest = labelText ?? '';
    while (rest.length) {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
      if (!lm) throw new Error(`malformed labels at '${rest}', ${where}`);
      if (lm[1]! in labels) throw new Error(`label twice, ${where}`);
      labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(lm[0].length);
    }
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : valueText === 'NaN' ? NaN : Number(valueText);
    if (valueText !== 'NaN' && Number.isNaN(value)) throw new Error(`value is not a number, ${where}`);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`negative counter, ${where}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`series repeats, ${where}`);
    seen.add(key);
    f.samples.push({ name: name!, labels, value });
  });
  return families;
}
