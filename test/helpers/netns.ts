// Network-namespace topologies for interface tests: a lab (src/lab) per test file, removed in
// afterAll (and on exit or interruption by the lab itself), plus ping, iperf3 and counters
// measured by the kernel on the hosts' side.
import { afterAll, beforeAll } from 'vitest';
import { type Lab, type LabOptions, createLab, destroyLab } from '../../src/lab/lab.js';
import { sleep } from './dataplane.js';

export type { Lab, LabHost } from '../../src/lab/lab.js';
export { linkCounters, linkInfo, nsRun } from '../../src/lab/netns.js';
export { hostCounters, iperf3, iperf3Background, ping, pingOnce, udpFlows } from '../../src/lab/traffic.js';

/** Tests use the prefix qd- (this branch's namespaces) and a random lab id. */
export function useLab(opts: LabOptions = {}): () => Lab {
  let lab: Lab | undefined;
  beforeAll(() => {
    lab = createLab({ prefix: 'qd-', ...opts });
  });
  afterAll(() => {
    if (lab) destroyLab(lab);
  });
  return () => {
    if (!lab) throw new Error('lab not created');
    return lab;
  };
}

/** Polls until `check` holds (counters settle after traffic stops) or throws its last message. */
export async function settle(check: () => string | null, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let why: string | null = null;
  for (;;) {
    why = check();
    if (why === null) return;
    if (Date.now() > until) throw new Error(why);
    await sleep(50);
  }
}
