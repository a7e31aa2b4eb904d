// A Quiver daemon with CNI on (child process, its own socket and state file) and config
// lists for quiver-cni pointing at it, with host-local keeping its state in the test's dir.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningDaemon, startDaemon, tempDir } from '../control/helpers.js';
import type { ConfList } from './runtime.js';

export interface CniDaemon extends RunningDaemon {
  stateFile: string;
  memifDir: string;
  ipamDir: string;
  config: Record<string, unknown>;
}

/** Starts `quiver start -c` with a cni: section (plus `extra` sections) in a fresh dir. */
export async function startCniDaemon(extra: Record<string, unknown> = {}, dir = tempDir('qn-cni-')): Promise<CniDaemon> {
  const stateFile = join(dir, 'state', 'attachments.json');
  const config = { buffers: { count: 16384, hugepages: 'off' }, cni: { stateFile }, ...extra };
  const d = await startDaemon(config, dir);
  return Object.assign(d, { stateFile, memifDir: join(dir, 'memif'), ipamDir: join(dir, 'ipam'), config });
}

/** Restarts a daemon on the same dir, socket, config and state file. */
export async function restartCniDaemon(d: CniDaemon): Promise<CniDaemon> {
  await d.stop('SIGTERM');
  return startCniDaemon(d.config, d.dir);
}

/** A one-plugin config list for quiver-cni against this daemon. */
export function quiverList(d: CniDaemon, name: string, plugin: Record<string, unknown>, version = '1.1.0'): ConfList {
  const p: Record<string, unknown> = { type: 'quiver-cni', daemonSocket: d.socket, ...plugin };
  if (p.attachment === 'memif') p.memif = { socketDir: d.memifDir, ...((plugin.memif as object) ?? {}) };
  if (p.ipam) p.ipam = { dataDir: d.ipamDir, ...(p.ipam as object) };
  return { cniVersion: version, name, plugins: [p] };
}

/** Addresses host-local holds for a network. */
export function allocatedAddresses(d: CniDaemon, network: string): string[] {
  const dir = join(d.ipamDir, network);
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/i.test(f) && /[.:]/.test(f)).sort() : [];
}
