// Runs a delegate plugin (IPAM) exactly as a runtime would: found through CNI_PATH, the
// config on stdin, CNI_* in the environment, the result (or error JSON) read from stdout.
// Shared with the test suite's runtime emulation.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { CniError, ErrorCode } from './spec.js';

/** The executable named `type` in the first CNI_PATH directory that has it. */
export function findPlugin(type: string, path: readonly string[]): string | undefined {
  for (const dir of path) {
    const file = join(dir, type);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export interface PluginRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runPlugin(file: string, env: Record<string, string | undefined>, stdin: string, timeoutMs = 60_000): Promise<PluginRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.on('error', () => {}); // a plugin may exit without reading stdin (VERSION)
    child.stdin.end(stdin);
  });
}

/**
 * The CNI_* environment for a delegated call: ours, with the command replaced. Variables a
 * command does not take are removed rather than passed stale (GC acts on other containers).
 */
export function delegateEnv(base: NodeJS.ProcessEnv, command: string, overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...base, CNI_COMMAND: command, ...overrides };
  for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete env[k];
  return env;
}

/** Runs and decodes: the parsed stdout on success, a CniError carrying the delegate's error otherwise. */
export async function execPlugin(
  label: string,
  file: string,
  env: Record<string, string | undefined>,
  stdin: string,
  timeoutMs?: number,
): Promise<unknown> {
  let r: PluginRun;
  try {
    r = await runPlugin(file, env, stdin, timeoutMs);
  } catch (e) {
    throw new CniError(ErrorCode.IoFailure, `${label}: cannot run ${file}`, (e as Error).message);
  }
  const text = r.stdout.trim();
  if (r.code !== 0) {
    let parsed: { code?: number; msg?: string; details?: string } | undefined;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON: report what it printed */
    }
    const msg = parsed?.msg ?? (text || r.stderr.trim() || `exited with status ${r.code}`);
    // Well-known codes keep their meaning; a delegate's own codes (100+) mean nothing in ours.
    const theirs = typeof parsed?.code === 'number' ? parsed.code : undefined;
    if (theirs !== undefined && theirs < 100) throw new CniError(theirs, `${label}: ${msg}`, parsed?.details);
    const details = [theirs !== undefined ? `its error code ${theirs}` : '', parsed?.details ?? ''].filter(Boolean).join('; ');
    throw new CniError(ErrorCode.IpamFailed, `${label}: ${msg}`, details || undefined);
  }
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CniError(ErrorCode.DecodingFailure, `${label}: output is not JSON`, `${(e as Error).message}: ${text.slice(0, 200)}`);
  }
}
