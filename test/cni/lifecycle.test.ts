// Attachments over the daemon's life: a restart between ADD and DEL (pods get their
// connectivity back, the memif socket listens again, DEL then works), ADD and STATUS while
// the daemon is down, and 100 pods attached and detached in a loop with nothing leaked:
// interfaces, buffers, addresses, files, kernel devices.
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUIVERCTL, killLeftovers, removeDir, runNode } from '../control/helpers.js';
import { type CniDaemon, allocatedAddresses, quiverList, restartCniDaemon, startCniDaemon } from './helpers.js';
import { createPodNetns, deleteAllPodNetns, deletePodNetns, inNs, sh } from './netns.js';
import { type Attachment, CniRuntime, type ConfList } from './runtime.js';

const rt = new CniRuntime();
let d: CniDaemon;
beforeAll(async () => {
  d = await startCniDaemon({ bridgeDomains: [{ id: 1 }] });
});
afterAll(async () => {
  await d?.stop();
  killLeftovers();
  deleteAllPodNetns();
  rt.cleanup();
  if (d) removeDir(d.dir);
});

const tap = (name: string, subnet: string, v6: string): ConfList =>
  quiverList(d, name, { attachment: 'tap', bridgeDomain: 1, ipam: { type: 'host-local', ranges: [[{ subnet }], [{ subnet: v6 }]] } });

async function ctl(...args: string[]): Promise<unknown> {
  const r = await runNode(QUIVERCTL, ['-s', d.socket, ...args, '--json']);
  if (r.code !== 0) throw new Error(`quiverctl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
const v4 = (res: Record<string, unknown>) => (res.ips as { address: string }[]).find((i) => !i.address.includes(':'))!.address.split('/')[0]!;

describe('daemon restart between ADD and DEL', () => {
  it('pods keep their attachment: tap rebuilt with the same addresses and MAC, memif listening again', async () => {
    const list = tap('restart', '198.18.50.0/24', '2001:db8:50::/64');
    const memif = quiverList(d, 'restart-memif', { attachment: 'memif', bridgeDomain: 1 });
    const nsA = createPodNetns('rs-a');
    const nsB = createPodNetns('rs-b');
    const a: Attachment = { containerId: 'rs-a', netns: nsA.path, ifname: 'eth0' };
    const b: Attachment = { containerId: 'rs-b', netns: nsB.path, ifname: 'eth0' };
    const m: Attachment = { containerId: 'rs-m', netns: nsB.path, ifname: 'memif0' };
    const ra = await rt.add(list, a);
    const rb = await rt.add(list, b);
    const rm = await rt.add(memif, m);
    expect([ra.code, rb.code, rm.code], ra.stdout + rb.stdout + rm.stdout).toEqual([0, 0, 0]);
    const macBefore = JSON.parse(inNs(nsA.name, 'ip', ['-j', 'link', 'show', 'eth0']))[0].address;
    expect(inNs(nsA.name, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', v4(rb.json!)])).toMatch(/2 received/);

    d = await restartCniDaemon(d);

    expect(((await ctl('show', 'cni')) as object[]).length).toBe(3);
    expect(JSON.parse(inNs(nsA.name, 'ip', ['-j', 'link', 'show', 'eth0']))[0].address).toBe(macBefore);
    expect(inNs(nsA.name, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', v4(rb.json!)])).toMatch(/2 received/);
    const socketPath = ((rm.json!.interfaces as { socketPath: string }[])[0]!).socketPath;
    expect(sh('stat', ['-c', '%F', socketPath]).trim()).toBe('socket');
    expect((await rt.check(list, a)).code).toBe(0);
    expect((await rt.check(memif, m)).code).toBe(0);

    for (const [l, x] of [[list, a], [list, b], [memif, m]] as const) expect((await rt.del(l, x)).code).toBe(0);
    expect(await ctl('show', 'cni')).toEqual([]);
    expect(allocatedAddresses(d, 'restart')).toEqual([]);
  });

  it('a pod that died while the daemon was down is kept recorded until DEL releases it', async () => {
    const list = tap('died', '198.18.51.0/24', '2001:db8:51::/64');
    const ns = createPodNetns('died');
    const a: Attachment = { containerId: 'died1', netns: ns.path, ifname: 'eth0' };
    expect((await rt.add(list, a)).code).toBe(0);
    await d.stop();
    deletePodNetns(ns.name);
    // While the daemon is down: STATUS 50, ADD 11 with nothing allocated, DEL 11 (retry).
    const st = await rt.status(list);
    expect(st.json?.code).toBe(50);
    const ns2 = createPodNetns('died2');
    const add = await rt.add(list, { containerId: 'late', netns: ns2.path, ifname: 'eth0' });
    expect(add.json?.code).toBe(11);
    expect(add.json?.msg).toMatch(/quiver daemon not reachable at .*quiver\.sock \((no such socket|connection refused)/);
    expect(allocatedAddresses(d, 'died')).toHaveLength(2);
    d = await startCniDaemon(d.config, d.dir);
    expect(d.output()).toMatch(/cni attachment not restored \(kept for DEL\/GC\)/);
    expect(((await ctl('show', 'cni')) as object[]).length).toBe(1);
    expect((await rt.del(list, { containerId: 'died1', ifname: 'eth0' })).code).toBe(0);
    expect(allocatedAddresses(d, 'died')).toEqual([]);
  });
});

describe('100 pods attached and detached', () => {
  it('leaves no interface, buffer, address, file or device behind', async () => {
    const list = tap('loop', '198.18.52.0/24', '2001:db8:52::/64');
    const memif = quiverList(d, 'loop-memif', { attachment: 'memif', bridgeDomain: 1, ipam: { type: 'host-local', ranges: [[{ subnet: '198.18.53.0/24' }]] } });
    const baseline = ((await ctl('show', 'interface')) as object[]).length;
    const pods = Array.from({ length: 100 }, (_, i) => i);
    const one = async (i: number) => {
      const ns = createPodNetns(`lp${i}`, true);
      const l = i % 4 === 3 ? memif : list; // a quarter memif, the rest tap
      const a: Attachment = { containerId: `loop-${i}`, netns: ns.path, ifname: i % 4 === 3 ? 'memif0' : 'eth0' };
      const add = await rt.add(l, a);
      if (add.code !== 0) throw new Error(`ADD pod ${i}: ${add.stdout}`);
      const del = await rt.del(l, a);
      if (del.code !== 0) throw new Error(`DEL pod ${i}: ${del.stdout}`);
      if (l === list && sh('ip', ['-n', ns.name, '-o', 'link']).includes('eth0')) throw new Error(`pod ${i}: eth0 left in the namespace`);
      deletePodNetns(ns.name);
    };
    // Four pods at a time, as a runtime may run operations for different containers in parallel.
    for (let i = 0; i < pods.length; i += 4) await Promise.all([one(i), one(i + 1), one(i + 2), one(i + 3)]);
    expect(((await ctl('show', 'interface')) as object[]).length).toBe(baseline);
    expect(await ctl('show', 'cni')).toEqual([]);
    expect(((await ctl('show', 'buffers')) as { inFlight: number }).inFlight).toBe(0);
    expect(allocatedAddresses(d, 'loop')).toEqual([]);
    expect(allocatedAddresses(d, 'loop-memif')).toEqual([]);
    expect(existsSync(d.memifDir) ? readdirSync(d.memifDir) : []).toEqual([]);
    expect(sh('ip', ['netns', 'list']).match(/qn-lp\d+/g) ?? []).toEqual([]);
    // ~400 plugin runs on two cores: a minute or more when other suites share the machine.
  }, 240_000);
});
