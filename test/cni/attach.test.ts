// Pods attached for real: quiver-cni run as a runtime and as Multus run it, a daemon as a
// child process, namespaces as runtimes make them. tap: ADD -> CHECK -> DEL, the pod side
// read back, two pods in one bridge domain ping each other (IPv4, IPv6); memif: ADD -> CHECK
// -> DEL with the socket; ADD twice; DEL twice; DEL after the namespace is gone; GC; a
// Multus-style chain with tuning after quiver-cni (prevResult, runtimeConfig, CNI_ARGS).
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUIVERCTL, killLeftovers, removeDir, runNode } from '../control/helpers.js';
import { type CniDaemon, allocatedAddresses, quiverList, startCniDaemon } from './helpers.js';
import { createPodNetns, deleteAllPodNetns, deletePodNetns, inNs, sh } from './netns.js';
import { type Attachment, CniRuntime, type ConfList } from './runtime.js';

const rt = new CniRuntime();
let d: CniDaemon;
beforeAll(async () => {
  d = await startCniDaemon({ bridgeDomains: [{ id: 1 }, { id: 2 }] });
});
afterAll(async () => {
  await d?.stop();
  killLeftovers();
  deleteAllPodNetns();
  rt.cleanup();
  if (d) removeDir(d.dir);
});

const ipamL2 = {
  type: 'host-local',
  ranges: [[{ subnet: '198.18.40.0/24', gateway: '198.18.40.1' }], [{ subnet: '2001:db8:40::/64', gateway: '2001:db8:40::1' }]],
  routes: [{ dst: '198.19.0.0/16' }],
};
let tapList: ConfList;
let memifList: ConfList;
beforeAll(() => {
  tapList = quiverList(d, 'pods', { attachment: 'tap', bridgeDomain: 1, mtu: 1400, ipam: ipamL2 });
  memifList = quiverList(d, 'cnf', { attachment: 'memif', bridgeDomain: 2, ipam: { type: 'host-local', ranges: [[{ subnet: '198.18.41.0/24' }]] } });
});

async function ctl(...args: string[]): Promise<unknown> {
  const r = await runNode(QUIVERCTL, ['-s', d.socket, ...args, '--json']);
  if (r.code !== 0) throw new Error(`quiverctl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
const stateFile = () => (existsSync(d.stateFile) ? (JSON.parse(readFileSync(d.stateFile, 'utf8')).attachments as { containerId: string }[]) : []);
const addrOf = (result: Record<string, unknown>, fam: 4 | 6) =>
  (result.ips as { address: string }[]).map((i) => i.address.split('/')[0]!).find((a) => a.includes(':') === (fam === 6))!;

function tapPod(id: string): Attachment & { ns: string } {
  const ns = createPodNetns(id);
  return { containerId: id, netns: ns.path, ifname: 'eth0', ns: ns.name };
}

describe('tap', () => {
  it('ADD -> CHECK -> DEL, with the pod side as the result says', async () => {
    const pod = tapPod('tap1');
    const add = await rt.add(tapList, pod);
    expect(add.code, add.stdout + add.stderr).toBe(0);
    const res = add.json!;
    const itf = (res.interfaces as Record<string, unknown>[])[0]!;
    expect(itf).toMatchObject({ name: 'eth0', sandbox: pod.netns, mtu: 1400, mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) });
    // In the pod: the device, its MAC, MTU, both addresses, the IPAM route via the gateway.
    const link = JSON.parse(inNs(pod.ns, 'ip', ['-j', 'addr', 'show', 'dev', 'eth0']))[0];
    expect(link.address).toBe(itf.mac);
    expect(link.mtu).toBe(1400);
    expect(link.flags).toContain('UP');
    const local = link.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`);
    for (const ip of res.ips as { address: string }[]) expect(local).toContain(ip.address);
    expect(inNs(pod.ns, 'ip', ['route', 'show', '198.19.0.0/16'])).toMatch(/198\.19\.0\.0\/16 via 198\.18\.40\.1 dev eth0/);
    // In the daemon: a tap interface, up, recorded in the state file.
    const show = (await ctl('show', 'cni')) as { containerId: string; quiverInterface: string; bridgeDomain: number }[];
    expect(show).toEqual([expect.objectContaining({ containerId: 'tap1', bridgeDomain: 1 })]);
    const qi = show[0]!.quiverInterface;
    expect(await ctl('show', 'interface', qi)).toMatchObject([{ name: qi, driver: 'tap', adminUp: true }]);
    expect(stateFile().map((a) => a.containerId)).toEqual(['tap1']);

    expect((await rt.check(tapList, pod)).code).toBe(0);
    // Something removes an address in the pod: CHECK names it.
    const v6 = (res.ips as { address: string }[]).find((i) => i.address.includes(':'))!.address;
    inNs(pod.ns, 'ip', ['addr', 'del', v6, 'dev', 'eth0']);
    const bad = await rt.check(tapList, pod);
    expect(bad.json).toMatchObject({ code: 103, details: `address ${v6} is missing on eth0` });

    const del = await rt.del(tapList, pod);
    expect(del.code, del.stdout).toBe(0);
    expect(() => inNs(pod.ns, 'ip', ['link', 'show', 'eth0'])).toThrow(/does not exist/);
    expect(await ctl('show', 'cni')).toEqual([]);
    expect(((await ctl('show', 'interface')) as { name: string }[]).some((i) => i.name === qi)).toBe(false);
    expect(allocatedAddresses(d, 'pods')).toEqual([]);
    expect(stateFile()).toEqual([]);
    // DEL twice is fine.
    expect((await rt.del(tapList, pod)).code).toBe(0);
  });

  it('two pods in one bridge domain ping each other over IPv4 and IPv6', async () => {
    const a = tapPod('ping-a');
    const b = tapPod('ping-b');
    const ra = await rt.add(tapList, a);
    const rb = await rt.add(tapList, b);
    expect([ra.code, rb.code], ra.stdout + rb.stdout).toEqual([0, 0]);
    expect(inNs(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', addrOf(rb.json!, 4)])).toMatch(/3 received/);
    expect(inNs(b.ns, 'ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', addrOf(ra.json!, 6)])).toMatch(/3 received/);
    const buffers = (await ctl('show', 'buffers')) as { inFlight: number };
    expect(buffers.inFlight).toBe(0);
    expect((await rt.del(tapList, a)).code).toBe(0);
    expect((await rt.del(tapList, b)).code).toBe(0);
  });

  it('a second ADD for the same container and ifname fails cleanly; the first stays intact', async () => {
    const pod = tapPod('twice');
    expect((await rt.add(tapList, pod)).code).toBe(0);
    const held = allocatedAddresses(d, 'pods');
    const again = await rt.add(tapList, pod);
    expect(again.json).toMatchObject({ code: 100, msg: expect.stringMatching(/container twice is already attached to network pods as eth0/) });
    expect(allocatedAddresses(d, 'pods')).toEqual(held);
    expect((await rt.check(tapList, pod)).code).toBe(0);
    expect((await rt.del(tapList, pod)).code).toBe(0);
  });

  it('IPAM failure (subnet exhausted): a clear error, nothing attached, the other pod untouched', async () => {
    const tiny = quiverList(d, 'tiny', { attachment: 'tap', bridgeDomain: 1, ipam: { type: 'host-local', ranges: [[{ subnet: '198.18.43.0/30' }]] } });
    const first = tapPod('tiny1');
    const second = tapPod('tiny2');
    expect((await rt.add(tiny, first)).code).toBe(0); // a /30 has one address besides the gateway
    const r = await rt.add(tiny, second);
    expect(r.json).toMatchObject({ code: 102, msg: expect.stringMatching(/^IPAM plugin host-local: failed to allocate for range 0: no IP addresses available in range set/) });
    expect(((await ctl('show', 'cni')) as { containerId: string }[]).map((a) => a.containerId)).toEqual(['tiny1']);
    expect(() => inNs(second.ns, 'ip', ['link', 'show', 'eth0'])).toThrow(/does not exist/);
    expect(allocatedAddresses(d, 'tiny')).toEqual(['198.18.43.2']);
    expect((await rt.del(tiny, first)).code).toBe(0);
  });

  it('DEL after the namespace is gone (no CNI_NETNS, as kubelet does) releases everything', async () => {
    const pod = tapPod('gone');
    expect((await rt.add(tapList, pod)).code).toBe(0);
    deletePodNetns(pod.ns);
    const r = await rt.del(tapList, { containerId: pod.containerId, ifname: pod.ifname });
    expect(r.code, r.stdout).toBe(0);
    expect(await ctl('show', 'cni')).toEqual([]);
    expect(allocatedAddresses(d, 'pods')).toEqual([]);
  });

  it('GC removes the attachments not listed and releases their addresses', async () => {
    const keep = tapPod('gc-keep');
    const stale = tapPod('gc-stale');
    expect((await rt.add(tapList, keep)).code).toBe(0);
    expect((await rt.add(tapList, stale)).code).toBe(0);
    const r = await rt.gc(tapList, [{ containerID: 'gc-keep', ifname: 'eth0' }]);
    expect(r.code, r.stdout).toBe(0);
    expect(((await ctl('show', 'cni')) as { containerId: string }[]).map((a) => a.containerId)).toEqual(['gc-keep']);
    expect(allocatedAddresses(d, 'pods')).toHaveLength(2); // gc-keep's v4 and v6
    expect(() => inNs(stale.ns, 'ip', ['link', 'show', 'eth0'])).toThrow(/does not exist/);
    expect((await rt.del(tapList, keep)).code).toBe(0);
    expect(allocatedAddresses(d, 'pods')).toEqual([]);
  });

  it('as Multus runs it: net1, K8S_* CNI_ARGS, runtimeConfig.mac, tuning chained after (prevResult)', async () => {
    const ns = createPodNetns('multus');
    const list: ConfList = {
      ...quiverList(d, 'secondary', { attachment: 'tap', bridgeDomain: 1, ipam: { type: 'host-local', ranges: [[{ subnet: '198.18.42.0/24' }]] }, capabilities: { mac: true } }),
      cniVersion: '1.0.0',
    };
    list.plugins.push({ type: 'tuning', sysctl: { 'net.ipv4.conf.net1.arp_notify': '1' } });
    const a: Attachment = {
      containerId: 'multus1', netns: ns.path, ifname: 'net1',
      args: { IgnoreUnknown: 'true', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'cnf-0', K8S_POD_INFRA_CONTAINER_ID: 'multus1', K8S_POD_UID: '0b6c1f4e-1' },
      capabilityArgs: { mac: '02:00:00:00:42:01' },
    };
    const r = await rt.add(list, a);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // tuning passed our result on (spec: chained plugins keep prevResult's content).
    expect(r.json!.interfaces).toEqual([expect.objectContaining({ name: 'net1', mac: '02:00:00:00:42:01', sandbox: ns.path })]);
    expect(inNs(ns.name, 'cat', ['/proc/sys/net/ipv4/conf/net1/arp_notify']).trim()).toBe('1');
    expect(JSON.parse(inNs(ns.name, 'ip', ['-j', 'link', 'show', 'net1']))[0].address).toBe('02:00:00:00:42:01');
    expect((await rt.check(list, a)).code).toBe(0);
    expect((await ctl('show', 'cni')) as object[]).toEqual([expect.objectContaining({ ifname: 'net1', pod: { namespace: 'default', name: 'cnf-0', uid: '0b6c1f4e-1' } })]);
    expect((await rt.del(list, a)).code).toBe(0);
    expect(await ctl('show', 'cni')).toEqual([]);
  });
});

describe('memif', () => {
  it('ADD -> CHECK -> DEL: a server socket in the pod directory, named in the result', async () => {
    const ns = createPodNetns('memif');
    const a: Attachment = { containerId: 'memif1', netns: ns.path, ifname: 'memif0', args: { IgnoreUnknown: 'true', K8S_POD_UID: 'pod-uid-1' } };
    const r = await rt.add(memifList, a);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const socketPath = `${d.memifDir}/pod-uid-1/memif0.sock`;
    expect(r.json!.interfaces).toEqual([{ name: 'memif0', sandbox: ns.path, mtu: 1500, socketPath }]);
    expect(sh('stat', ['-c', '%F', socketPath]).trim()).toBe('socket');
    const show = (await ctl('show', 'cni')) as { quiverInterface: string }[];
    const memif = (await ctl('show', 'memif', show[0]!.quiverInterface)) as { role: string; socket: string; state: string }[];
    expect(memif[0]).toMatchObject({ role: 'server', socket: socketPath, state: 'listening' });
    expect((await rt.check(memifList, a)).code).toBe(0);
    expect((await rt.del(memifList, a)).code).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
    expect(existsSync(dirname(socketPath))).toBe(false);
    expect(allocatedAddresses(d, 'cnf')).toEqual([]);
    expect((await rt.del(memifList, a)).code).toBe(0);
  });
});
