// Pod network namespaces for the CNI tests, created the way container runtimes do
// (`ip netns add` bind-mounts /var/run/netns/<name>), named with this feature's prefix `qn-`.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const created = new Set<string>();

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A new namespace /var/run/netns/qn-<tag>-<random>; its loopback is up unless `bare`. */
export function createPodNetns(tag = 'pod', bare = false): { name: string; path: string } {
  const name = `qn-${tag}-${randomBytes(3).toString('hex')}`;
  sh('ip', ['netns', 'add', name]);
  created.add(name);
  if (!bare) sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { name, path: `/var/run/netns/${name}` };
}

export function deletePodNetns(name: string): void {
  try {
    sh('ip', ['netns', 'del', name]);
  } catch {
    /* already gone */
  }
  created.delete(name);
}

/** Removes every namespace this process made (afterAll, also on failure). */
export function deleteAllPodNetns(): void {
  for (const n of [...created]) deletePodNetns(n);
}

export function inNs(ns: string, cmd: string, args: string[]): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
}
