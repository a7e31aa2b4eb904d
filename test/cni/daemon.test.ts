// quiver-cni against a real daemon (child process): STATUS, refusals that must release the
// address, DEL of what was never attached, GC, `show cni`, and a daemon without CNI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUIVERCTL, killLeftovers, removeDir, runNode, startDaemon, tempDir } from '../control/helpers.js';
import { type CniDaemon, allocatedAddresses, quiverList, startCniDaemon } from './helpers.js';
import { createPodNetns, deleteAllPodNetns } from './netns.js';
import { CniRuntime } from './runtime.js';

const rt = new CniRuntime();
let d: CniDaemon;
beforeAll(async () => {
  d = await startCniDaemon();
});
afterAll(async () => {
  await d?.stop();
  killLeftovers();
  deleteAllPodNetns();
  rt.cleanup();
  if (d) removeDir(d.dir);
});

const ipam = { type: 'host-local', ranges: [[{ subnet: '198.18.30.0/24' }]] };

describe('quiver-cni with a running daemon', () => {
  it('STATUS succeeds', async () => {
    const r = await rt.status(quiverList(d, 'st', { attachment: 'tap', bridgeDomain: 1, ipam }));
    expect(r.code, r.stdout).toBe(0);
  });

  it('an attach the daemon refuses is not half done: the address is released, nothing recorded', async () => {
    const ns = createPodNetns('refuse');
    const l = quiverList(d, 'refuse', { attachment: 'tap', bridgeDomain: 4242, ipam });
    const r = await rt.add(l, { containerId: 'refused1', netns: ns.path, ifname: 'eth0' });
    expect(r.json?.code, r.stdout).toBe(101);
    expect(r.json?.msg).toMatch(/^quiver daemon: bridgeDomain: bridge domain 4242/);
    expect(r.stderr).toMatch(/ADD failed after IPAM allocated 198\.18\.30\.\d+\/24: released/);
    expect(allocatedAddresses(d, 'refuse')).toEqual([]);
    const show = await runNode(QUIVERCTL, ['-s', d.socket, 'show', 'cni', '--json']);
    expect(JSON.parse(show.stdout)).toEqual([]);
  });

  it('DEL of an attachment never made succeeds (and releases nothing else)', async () => {
    const l = quiverList(d, 'never', { attachment: 'tap', bridgeDomain: 1, ipam });
    const r = await rt.del(l, { containerId: 'ghost', ifname: 'eth0' });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stderr).toMatch(/no attachment recorded \(already deleted\)/);
  });

  it('GC with nothing stale removes nothing', async () => {
    const r = await rt.gc(quiverList(d, 'never', { attachment: 'tap', bridgeDomain: 1, ipam }), []);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stderr).toMatch(/GC removed 0 stale attachment/);
  });

  it('the daemon validates what it is sent, naming the field', async () => {
    await expect(d.client.request('POST', '/v1/cni/add', { network: 'n', containerId: 'c', ifname: 'eth0/1' })).rejects.toThrow(/ifname: may not hold/);
  });
});

describe('a daemon whose config has no cni: section', () => {
  it('STATUS says so with code 50; ADD is refused before any address is allocated', async () => {
    const plain = await startDaemon({ buffers: { count: 16384, hugepages: 'off' } }, tempDir('qn-nocni-'));
    try {
      const l = { cniVersion: '1.1.0', name: 'nocni', plugins: [{ type: 'quiver-cni', attachment: 'tap', bridgeDomain: 1, daemonSocket: plain.socket }] };
      const st = await rt.status(l);
      expect(st.json).toMatchObject({ code: 50, msg: 'quiver daemon is not ready for ADD: the daemon config has no cni: section' });
      const ns = createPodNetns('nocni');
      const add = await rt.add(l, { containerId: 'n1', netns: ns.path, ifname: 'eth0' });
      expect(add.json).toMatchObject({ code: 101, msg: 'quiver daemon: cni: CNI is not enabled in this daemon: add a cni: section to its config' });
    } finally {
      await plain.stop();
      removeDir(plain.dir);
    }
  });
});
