// The lab utility behind `quiver lab`, the demo and these tests: what it builds, and that it
// removes all of it on destroyLab(), when its process fails, and on Ctrl-C (SIGINT).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/addon.js';
import { createLab, destroyLab } from '../../src/lab/lab.js';
import { linkExists, namespaceExists } from '../../src/lab/netns.js';
import { waitFor } from '../helpers/dataplane.js';
import { linkInfo, nsRun } from '../helpers/netns.js';

const tmp = mkdtempSync(join(tmpdir(), 'qd-lab-'));
const children: ChildProcess[] = [];
afterAll(() => {
  children.forEach((c) => c.exitCode === null && c.kill('SIGKILL'));
  rmSync(tmp, { recursive: true, force: true });
});

/** A child process that builds a lab, reports its names, then runs `then`. */
async function childLab(then: string): Promise<{ child: ChildProcess; names: { netns: string[]; links: string[] } }> {
  const script = join(tmp, `child-${children.length}.mjs`);
  writeFileSync(script, `
import { createLab } from '${packageRoot()}/dist/src/lab/lab.js';
const lab = createLab({ prefix: 'qd-', hosts: 2 });
console.log(JSON.stringify({ netns: lab.hosts.map((h) => h.netns), links: lab.hosts.map((h) => h.quiverSide) }));
${then}
`);
  const child = spawn('node', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const names = await new Promise<{ netns: string[]; links: string[] }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before building its lab: ${out}`)));
  });
  return { child, names };
}

const gone = (n: { netns: string[]; links: string[] }) => n.netns.every((x) => !namespaceExists(x)) && n.links.every((l) => !linkExists(l));

describe('lab', () => {
  it('builds namespaces joined to veth ends, with addresses, offloads and queues as asked, and removes them', () => {
    const lab = createLab({ prefix: 'qd-', hosts: 3, queues: 2, offloads: 'off' });
    try {
      expect(lab.hosts.map((h) => h.ip4Prefix)).toEqual(['198.18.0.1/24', '198.18.0.2/24', '198.18.0.3/24']);
      for (const h of lab.hosts) {
        expect(h.netns).toMatch(/^qd-[0-9a-f]{5}-\d$/);
        expect(h.quiverSide.length).toBeLessThanOrEqual(15);
        expect(linkInfo(h.quiverSide).flags).not.toContain('UP');  // Quiver brings it up
        const addrs = nsRun(h.netns, 'ip', ['-j', 'addr', 'show', 'dev', 'eth0']);
        expect(addrs).toContain(h.ip4);
        expect(addrs).toContain(h.ip6);
        expect(nsRun(h.netns, 'ethtool', ['-k', 'eth0'])).toMatch(/tx-checksumming: off/);
        expect(nsRun(h.netns, 'ls', [`/sys/class/net/eth0/queues`]).split(/\s+/).filter((q) => q.startsWith('rx-'))).toHaveLength(2);
      }
    } finally {
      destroyLab(lab);
    }
    expect(lab.hosts.every((h) => !namespaceExists(h.netns) && !linkExists(h.quiverSide))).toBe(true);
    expect(() => destroyLab(lab)).not.toThrow();  // twice is fine
  });

  it('refuses bad options naming the field', () => {
    expect(() => createLab({ prefix: 'Q!' })).toThrow(/^prefix: /);
    expect(() => createLab({ hosts: 0 })).toThrow(/^hosts: /);
    expect(() => createLab({ offloads: 'maybe' as never })).toThrow(/^offloads: /);
  });

  it('removes everything when its process is interrupted (SIGINT)', async () => {
    const { child, names } = await childLab('setInterval(() => {}, 1000);');
    expect(names.netns.every(namespaceExists)).toBe(true);
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, s) => r(s)));
    process.kill(child.pid!, 'SIGINT');
    expect(await exited).toBe('SIGINT');  // and it still dies of the signal
    await waitFor(() => gone(names), 3000, 'the lab to be removed');
  });

  it('removes everything when its process fails (uncaught exception)', async () => {
    const { child, names } = await childLab("setTimeout(() => { throw new Error('boom'); }, 50);");
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).not.toBe(0);
    await waitFor(() => gone(names), 3000, 'the lab to be removed');
  });
});
