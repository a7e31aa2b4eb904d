// Thin wrappers over iproute2 for network-namespace topologies: run commands, read link
// counters, start and stop processes inside a namespace. Everything synchronous is
// execFileSync (no shell), so names never pass through shell quoting.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';

/** Runs `ip args...`; throws with ip's own message on failure. */
export function ip(args: string[]): string {
  return run('ip', args);
}

export function run(cmd: string, args: string[], timeoutMs = 30_000): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr || err.stdout || err.message).trim()}`);
  }
}

/** Runs a command inside a namespace. */
export function nsRun(netns: string, cmd: string, args: string[], timeoutMs = 30_000): string {
  return run('ip', ['netns', 'exec', netns, cmd, ...args], timeoutMs);
}

/** Random lowercase hex, for names that must not collide with a parallel run. */
export function randomId(chars = 5): string {
  return randomBytes(8).toString('hex').slice(0, chars);
}

export function namespaceExists(name: string): boolean {
  return ip(['netns', 'list']).split('\n').some((l) => l.split(' ')[0] === name);
}

export function linkExists(name: string, netns?: string): boolean {
  try {
    ip([...(netns ? ['-n', netns] : []), 'link', 'show', 'dev', name]);
    return true;
  } catch {
    return false;
  }
}

export interface LinkCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  rxDropped: number;
  txDropped: number;
}

/** The kernel's counters of one interface (`ip -s -j link`), in a namespace or here. */
export function linkCounters(name: string, netns?: string): LinkCounters {
  const j = JSON.parse(ip([...(netns ? ['-n', netns] : []), '-s', '-j', 'link', 'show', 'dev', name]))[0];
  const s = j.stats64;
  return {
    rxPackets: s.rx.packets, rxBytes: s.rx.bytes, txPackets: s.tx.packets, txBytes: s.tx.bytes,
    rxDropped: s.rx.dropped, txDropped: s.tx.dropped,
  };
}

/** `ip -j link show` of one interface (flags, operstate, mtu, address, xdp...). */
export function linkInfo(name: string, netns?: string): Record<string, unknown> & { flags: string[]; operstate: string; mtu: number; address: string } {
  return JSON.parse(ip([...(netns ? ['-n', netns] : []), '-j', '-d', 'link', 'show', 'dev', name]))[0];
}

/** Writes a sysctl under /proc/sys (e.g. 'net/ipv6/conf/x/disable_ipv6'). */
export function sysctl(path: string, value: string, netns?: string): void {
  if (netns) nsRun(netns, 'sysctl', ['-qw', `${path.replace(/\//g, '.')}=${value}`]);
  else writeFileSync(`/proc/sys/${path}`, value);
}

/** Processes started in namespaces, so that cleanup can stop exactly them (by PID). */
const children = new Map<ChildProcess, string>();

export function nsSpawn(netns: string, cmd: string, args: string[]): ChildProcess {
  const c = spawn('ip', ['netns', 'exec', netns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.set(c, netns);
  c.on('exit', () => children.delete(c));
  return c;
}

/** Stops one process we started (SIGTERM, then SIGKILL) and waits for it. */
export async function stopProcess(c: ChildProcess, graceMs = 500): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const done = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(t);
}

/** Synchronous (exit handlers, lab teardown): SIGKILL the processes we started in these
 *  namespaces (all of them when none are named). A process left inside would keep its
 *  namespace alive after `ip netns del`. */
export function killChildren(namespaces?: string[]): void {
  for (const [c, ns] of children) {
    if (namespaces && !namespaces.includes(ns)) continue;
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    children.delete(c);
  }
}
